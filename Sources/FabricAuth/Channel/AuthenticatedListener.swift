import Bootstrap
import Foundation
import Handshake
import Identity
import Synchronization
import Verbs

/// The responder side of ``AuthenticatedConnector``: a TCP listener for the
/// endpoint exchange; each `accept` sets up one authenticated queue pair.
///
/// Connections are screened before any queue pair is spent on them
/// (`EndpointExchangeListener`): many are read at once, each under a short
/// deadline, up to a bound, and this side's endpoint is sent only to a client
/// whose first message is well formed and carries its token. A connection
/// refused there is logged and counted once (``bootstrapMetrics``) and never
/// ends `accept`; a client that passed and then fails its setup (barrier, QP,
/// handshake) is the failure `accept` throws.
///
/// `accept` may be called from several threads at once: one screens while
/// the others run their clients' setups, so a client that passes the
/// screening and then stalls its handshake holds one thread, not the listener.
public final class AuthenticatedListener: Sendable {
    public let context: Context
    public let configuration: ChannelConfiguration
    private let exchange: EndpointExchangeListener
    private let sessions: SessionCache
    /// Monotonic time of the next purge of ``sessions`` against the trust in force.
    private let nextPurge = Mutex<UInt64>(0)
    /// Screening refusals in the audit trail; nil without `configuration.audit`.
    private let refusals: ListenerAudit?

    /// The TCP port clients connect to (useful when `port` was 0).
    public var port: UInt16 { exchange.port }

    /// Connections accepted, handed over and refused (by reason) so far.
    public var bootstrapMetrics: BootstrapMetrics.Snapshot { exchange.metrics.snapshot() }
    /// The live counters behind ``bootstrapMetrics``, for a registry that
    /// reads them at scrape time (`MetricsRegistry.watch`).
    public var bootstrapCounters: BootstrapMetrics { exchange.metrics }

    /// Listens on `address:port` (port 0 picks a free one). Up to
    /// `sessionCapacity` sessions are kept for clients to resume. `screening`
    /// bounds connections that have not spoken yet (deadline, how many); its
    /// log defaults to `configuration.log`, and its client token size is
    /// always the connector's.
    public init(
        context: Context, configuration: ChannelConfiguration, address: String = "0.0.0.0", port: UInt16 = 0,
        sessionCapacity: Int = 1024, screening: EndpointExchangeListener.Configuration? = nil
    ) throws(ChannelError) {
        try configuration.validate()
        self.context = context
        self.configuration = configuration
        self.sessions = SessionCache(capacity: sessionCapacity)
        var screening = screening ?? EndpointExchangeListener.Configuration()
        if screening.log == nil { screening.log = configuration.log }
        // The connector always sends a token; a listener that waived it would
        // answer any scanner that gets the framing right.
        screening.clientTokenSize = ExchangeMessage.clientTokenSize
        let refusals = configuration.audit.map { ListenerAudit(log: $0, transport: .tcp, port: port) }
        if let refusals, screening.onRefused == nil {
            screening.onRefused = { code, peer in refusals.refused(SnakeCase.name(code), peer: peer) }
        }
        do {
            exchange = try ChannelError.lowering { try EndpointExchangeListener(address: address, port: port, configuration: screening) }
        } catch {
            refusals?.finish()
            throw error
        }
        self.refusals = refusals
        refusals?.port = exchange.port
    }

    deinit { refusals?.finish() }

    /// Sessions kept for resumption.
    public var cachedSessions: Int { sessions.count }

    /// Drops the cached sessions whose peer no longer passes the trust in
    /// force (`configuration.sources` when set: expired, revoked, CA left the
    /// bundle, policy denies it). Runs before a client's setup at most once
    /// per `trustRecheckInterval`; call it to apply a reload at once. Returns
    /// how many sessions went.
    @discardableResult
    public func purgeSessions(at now: Date = Date()) -> Int {
        let (verifier, policy) = configuration.currentTrust()
        let local = configuration.sources?.credential.spiffeID ?? configuration.credential.spiffeID
        let gone = sessions.purge { peer in
            guard let peer = peer as? VerifiedWorkload else { return false }
            return PeerInvalidation.evaluate(peer.workload, verifier: verifier, policy: policy, localID: local, at: now) == nil
        }
        if gone > 0 { configuration.log?("dropped \(gone) cached session(s) whose peer no longer passes") }
        return gone
    }

    private func purgeSessionsIfDue() {
        let now = ChannelClock.monotonicNanoseconds()
        let due = nextPurge.withLock { next in
            guard now >= next else { return false }
            next = now &+ TrustRecheckSchedule.nanoseconds(configuration.trustRecheckInterval)
            return true
        }
        if due { purgeSessions() }
    }

    /// Waits up to `timeout` for a client that passes the screening and
    /// authenticates it as the handshake responder.
    public func accept(timeout: Duration = .seconds(60)) throws(ChannelError) -> AuthenticatedQueuePair {
        try acceptClient(timeout: timeout).outcome.get()
    }

    /// A client that passed the screening, with how its setup ended.
    public struct AcceptedClient {
        /// The bytes after the token in the client's first message: the
        /// `route` it passed to ``AuthenticatedConnector/connect(context:host:port:configuration:sessions:route:)``.
        /// Unauthenticated: use it to attribute a failed setup, and route a
        /// channel by its authenticated `peerPayload` instead.
        public let route: [UInt8]
        /// The authenticated channel, or why this client's setup failed.
        public let outcome: Result<AuthenticatedQueuePair, ChannelError>
    }

    /// Like ``accept(timeout:)``, for a listener shared by several consumers
    /// (NCCL's listens in the plug-in): a client's failed setup is returned
    /// with the route it named instead of being thrown, so the caller can
    /// fail the consumer it was meant for. Throws only when no client passed
    /// the screening in time, or for the listening socket's own errors.
    public func acceptClient(timeout: Duration = .seconds(60)) throws(ChannelError) -> AcceptedClient {
        let client: BootstrapClient
        do {
            client = try exchange.nextClient(timeout: timeout)
        } catch {
            throw ChannelError(lowering: error)
        }
        let route = Array(client.firstMessage.payload.dropFirst(ExchangeMessage.clientTokenSize))
        do {
            return AcceptedClient(route: route, outcome: .success(try setUp(client)))
        } catch {
            return AcceptedClient(route: route, outcome: .failure(ChannelError(lowering: error)))
        }
    }

    /// One client's setup, on its own connection: answer, connect the QP,
    /// barrier, handshake. Nothing else the listener receives meanwhile can
    /// interfere; it waits in the kernel's queue or the screening.
    private func setUp(_ client: BootstrapClient) throws -> AuthenticatedQueuePair {
        purgeSessionsIfDue()
        // Resources only now: a connection that never spoke costs no QP.
        let resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        let local = prepared.endpoint
        let answer = ExchangeMessage(endpoint: local)
        try client.connection.send(answer, deadline: ContinuousClock.now + configuration.setupTimeout)
        let qp = try prepared.connect(to: client.firstMessage.endpoint, parameters: configuration.connection,
            receives: resources.allReceiveRequests)
        let barrier = try client.connection.receive(deadline: ContinuousClock.now + configuration.setupTimeout)
        guard barrier == client.firstMessage else {
            throw BootstrapError(.barrierMismatch, function: "barrier",
                reason: "the client's second message differs from its first (endpoint or token)")
        }
        try client.connection.send(answer, deadline: ContinuousClock.now + configuration.setupTimeout)
        return try AuthenticatedConnector.authenticate(qp: qp, resources: resources, local: local,
            remote: client.firstMessage.endpoint, role: .responder, configuration: configuration, session: nil,
            sessionCache: sessions)
    }
}
