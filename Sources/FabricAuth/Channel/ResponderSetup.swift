import Bootstrap
import Handshake
import Verbs

#if canImport(Glibc)
import Glibc
#endif

/// One client's setup on the listener's side, as steps that never wait (the
/// counterpart of ``ConnectorSetup``): made once the client passed the
/// screening, it answers with this side's endpoint and brings the QP up at
/// once, then each ``step()`` looks for the client's barrier and runs the
/// in-band handshake a message at a time (``InBandHandshakeSteps``).
/// ``AuthenticatedListener/accept(timeout:)`` runs the steps in a loop;
/// ``AuthenticatedListener/progress()`` runs one step of each setup in
/// progress per call, for a caller that must not block (NCCL's `accept`).
final class ResponderSetup {
    private enum Stage {
        case awaitingBarrier(QueuePair)
        case handshaking(InBandHandshakeSteps)
        case ended
    }

    /// The bytes after the client's token in its first message (unauthenticated).
    let route: [UInt8]
    private let client: BootstrapClient
    private let configuration: ChannelConfiguration
    private let sessions: SessionCache
    private let resources: ChannelResources
    private let local: QueuePairEndpoint
    private let answer: ExchangeMessage
    private var stage: Stage
    private var deadline: ContinuousClock.Instant

    /// Resources only now: a connection that never spoke costs no QP.
    init(client: BootstrapClient, context: Context, configuration: ChannelConfiguration, sessions: SessionCache)
        throws(ChannelError)
    {
        self.client = client
        self.configuration = configuration
        self.sessions = sessions
        route = Self.route(of: client)
        resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        local = prepared.endpoint
        answer = ExchangeMessage(endpoint: prepared.endpoint)
        deadline = .now + configuration.setupTimeout
        do {
            try client.connection.send(answer, deadline: deadline)
            stage = .awaitingBarrier(try prepared.connect(to: client.firstMessage.endpoint,
                parameters: configuration.connection, receives: resources.allReceiveRequests))
        } catch {
            throw ChannelError(lowering: error)
        }
    }

    /// The bytes after the client's token in its first message.
    static func route(of client: BootstrapClient) -> [UInt8] {
        Array(client.firstMessage.payload.dropFirst(ExchangeMessage.clientTokenSize))
    }

    /// The channel once the setup finished, nil while it is in progress;
    /// throws why it failed (after which it is over).
    func step() throws(ChannelError) -> AuthenticatedQueuePair? {
        do {
            return try advance()
        } catch {
            stage = .ended
            throw ChannelError(lowering: error)
        }
    }

    private func advance() throws -> AuthenticatedQueuePair? {
        switch stage {
        case .awaitingBarrier(let qp):
            guard let barrier = try client.connection.readAvailable() else {
                guard ContinuousClock.now >= deadline else { return nil }
                throw client.connection.deadlineError()
            }
            guard barrier == client.firstMessage else {
                throw BootstrapError(.barrierMismatch, function: "barrier",
                    reason: "the client's second message differs from its first (endpoint or token)")
            }
            try client.connection.send(answer, deadline: .now + configuration.setupTimeout)
            let setup = HandshakeSetup(qp: qp, resources: resources, local: local, remote: client.firstMessage.endpoint,
                role: .responder, configuration: configuration, session: nil, sessionCache: sessions, destination: nil,
                timeout: nil, transport: .tcp)
            stage = .handshaking(InBandHandshakeSteps(setup))
            return try advance()
        case .handshaking(let handshake):
            guard let channel = try handshake.step() else { return nil }
            stage = .ended
            return channel
        case .ended:
            throw ChannelError.invalidRequest("step() of a setup that already ended")
        }
    }

    /// The steps in a loop, backing off between them (the blocking accept).
    func run() throws(ChannelError) -> AuthenticatedQueuePair {
        var idle = 0
        while true {
            if let channel = try step() { return channel }
            SetupBackoff.pause(&idle)
        }
    }
}

/// How a blocking loop over setup steps waits between them: busy for a few
/// hundred steps (a handshake round trip on the host), then yielding the CPU
/// in growing sleeps of up to 1 ms, so an emulated or shared CPU is not burned.
enum SetupBackoff {
    static func pause(_ idle: inout Int) {
        idle += 1
        if idle > 256 { usleep(UInt32(min(1000, (idle - 256) * 10))) } else { sched_yield() }
    }
}
