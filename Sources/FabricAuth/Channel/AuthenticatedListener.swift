import Handshake
import Identity
import Verbs

/// The responder side of ``AuthenticatedConnector``: a TCP listener for the
/// endpoint exchange; each `accept` sets up one authenticated queue pair.
///
/// One setup at a time: `accept` serves a client's two exchanges back to back
/// and refuses a second exchange that does not repeat the first one's token.
public final class AuthenticatedListener {
    public let context: Context
    public let configuration: ChannelConfiguration
    private let listener: EndpointExchangeListener
    private let sessions: SessionCache

    /// The TCP port clients connect to (useful when `port` was 0).
    public var port: UInt16 { listener.port }

    /// Listens on `address:port` (port 0 picks a free one). Up to
    /// `sessionCapacity` sessions are kept for clients to resume.
    public init(
        context: Context, configuration: ChannelConfiguration, address: String = "0.0.0.0", port: UInt16 = 0,
        sessionCapacity: Int = 1024
    ) throws(ChannelError) {
        self.context = context
        self.configuration = configuration
        self.sessions = SessionCache(capacity: sessionCapacity)
        do { listener = try EndpointExchangeListener(address: address, port: port) } catch { throw .verbs(error) }
    }

    /// Sessions kept for resumption.
    public var cachedSessions: Int { sessions.count }

    /// Waits up to `timeout` for a client and authenticates it as the handshake responder.
    public func accept(timeout: Duration = .seconds(60)) throws(ChannelError) -> AuthenticatedQueuePair {
        let resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        let local = prepared.endpoint
        let first: ExchangeMessage
        do {
            first = try listener.exchange(local: ExchangeMessage(endpoint: local), timeout: timeout)
        } catch { throw .verbs(error) }
        guard first.payload.count == 16 else {
            throw .protocolViolation("exchange without a 16-byte client token")
        }
        let qp: QueuePair
        do throws(VerbsError) {
            qp = try prepared.connect(to: first.endpoint, parameters: configuration.connection,
                receives: resources.allReceiveRequests)
            let barrier = try listener.exchange(local: ExchangeMessage(endpoint: local), timeout: configuration.setupTimeout)
            guard barrier.payload == first.payload, barrier.endpoint == first.endpoint else {
                throw VerbsError(.protocolViolation, function: "tcp exchange", reason: "second exchange came from another client")
            }
        } catch { throw .verbs(error) }
        return try AuthenticatedConnector.authenticate(qp: qp, resources: resources, local: local, remote: first.endpoint,
            role: .responder, configuration: configuration, session: nil, sessionCache: sessions)
    }
}
