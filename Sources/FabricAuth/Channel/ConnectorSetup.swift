import Bootstrap
import Handshake
import Verbs

#if canImport(Glibc)
import Glibc
#endif

/// ``AuthenticatedConnector/connect(context:host:port:configuration:sessions:route:)``
/// as steps that never wait: each ``step()`` does what is ready (the TCP
/// connect, a message of the endpoint exchange, the QP's bring-up, a
/// handshake message) and returns. NCCL's `connect` must not block
/// (net_v8.h), so the plug-in calls `step()` once per `connect` call instead
/// of running a thread per pending connection; the blocking `connect` is
/// these steps in a loop.
///
/// Stages, in order: wait for a first contact another setup leads to the
/// same listener (``FirstContactGate``), TCP connect (refused connections are
/// retried until the deadline: the listener may not be up yet), send the
/// hello, read the listener's endpoint, connect the QP and send the barrier,
/// read the barrier, then the in-band handshake (``InBandHandshakeSteps``).
/// Each stage has the whole setup timeout, as the blocking exchange gave
/// each round trip: the listener answers after the setup it may be busy with.
public final class ConnectorSetup {
    private enum Stage {
        case waitingForFirstContact
        case connecting(BootstrapConnection)
        case retryingConnect(after: ContinuousClock.Instant)
        case awaitingEndpoint(BootstrapConnection)
        case awaitingBarrier(BootstrapConnection, QueuePair, remote: QueuePairEndpoint)
        case handshaking(InBandHandshakeSteps)
        case ended
    }

    public let host: String
    public let port: UInt16
    private let context: Context
    private let configuration: ChannelConfiguration
    private let sessions: SessionCache?
    private let route: [UInt8]
    private let destination: String
    private var stage = Stage.waitingForFirstContact
    private var stageDeadline: ContinuousClock.Instant
    private var session: ResumableSession?
    private var leads = false
    private var retriedWithoutSession = false
    private var resources: ChannelResources?
    private var prepared: PreparedQueuePair?
    private var local: QueuePairEndpoint?
    private var hello: ExchangeMessage?

    /// A setup towards the ``AuthenticatedListener`` at `host:port`; nothing
    /// happens before the first ``step()``.
    public init(context: Context, host: String, port: UInt16, configuration: ChannelConfiguration,
        sessions: SessionCache? = nil, route: [UInt8] = []) throws(ChannelError)
    {
        guard route.count <= AuthenticatedConnector.maxRouteBytes else {
            throw .invalidRequest("route of \(route.count) bytes; at most \(AuthenticatedConnector.maxRouteBytes)")
        }
        self.context = context
        self.host = host
        self.port = port
        self.configuration = configuration
        self.sessions = sessions
        self.route = route
        destination = "\(host):\(port)"
        stageDeadline = .now + configuration.setupTimeout
    }

    deinit { endLead() }

    /// The channel once the setup finished, nil while it is in progress;
    /// throws why it failed (after which it is over).
    public func step() throws(ChannelError) -> AuthenticatedQueuePair? {
        do {
            return try advance()
        } catch {
            let lowered = ChannelError(lowering: error)
            if session != nil, case .handshake = lowered {
                // The listener refused to resume: never offer that session again.
                sessions?.forget(destination: destination)
                if lowered.isStaleSessionRefusal && !retriedWithoutSession {
                    // It no longer holds the session (it restarted, evicted it or it
                    // expired there first): one full handshake on a new QP, so a stale
                    // cache entry costs a round of setup, never the connection.
                    retriedWithoutSession = true
                    session = nil
                    do throws(ChannelError) { try begin() } catch { return try failed(error) }
                    return nil
                }
            }
            return try failed(lowered)
        }
    }

    private func failed(_ error: ChannelError) throws(ChannelError) -> AuthenticatedQueuePair? {
        stage = .ended
        endLead()
        throw error
    }

    private func advance() throws -> AuthenticatedQueuePair? {
        switch stage {
        case .waitingForFirstContact:
            if let sessions {
                switch sessions.firstContacts.tryEnter(destination, hasSession: {
                    sessions.hasSession(for: destination, now: SystemClock().now())
                }) {
                case .proceed: break
                case .lead: leads = true
                case .wait:
                    // Past the deadline go ahead without it: a second full handshake is slower, not wrong.
                    guard ContinuousClock.now >= stageDeadline else { return nil }
                }
                session = sessions.session(for: destination, now: SystemClock().now())
            }
            try begin()
            return nil
        case .retryingConnect(let after):
            guard ContinuousClock.now >= after else { return nil }
            stage = .connecting(try BootstrapConnection.startConnecting(host: host, port: port))
            return nil
        case .connecting(let connection):
            do throws(BootstrapError) {
                guard try connection.isConnected() else { return try expired("connect", "no answer from \(destination)") }
            } catch {
                guard error.code == .connectionRefused && ContinuousClock.now < stageDeadline else { throw error }
                stage = .retryingConnect(after: .now + .milliseconds(20))
                return nil
            }
            try connection.send(hello!, deadline: .now + configuration.setupTimeout)
            enter(.awaitingEndpoint(connection))
            return nil
        case .awaitingEndpoint(let connection):
            guard let answer = try connection.readAvailable() else { return try expired(connection) }
            let qp = try prepared.take()!.connect(to: answer.endpoint, parameters: configuration.connection,
                receives: resources!.allReceiveRequests)
            try connection.send(hello!, deadline: .now + configuration.setupTimeout)
            enter(.awaitingBarrier(connection, qp, remote: answer.endpoint))
            return nil
        case .awaitingBarrier(let connection, let qp, let remote):
            guard let barrier = try connection.readAvailable() else { return try expired(connection) }
            guard barrier.endpoint == remote else {
                throw BootstrapError(.barrierMismatch, function: "barrier", reason: "the listener changed its endpoint between the round trips")
            }
            let setup = HandshakeSetup(qp: qp, resources: resources!, local: local!, remote: remote, role: .initiator,
                configuration: configuration, session: session, sessionCache: sessions, destination: destination,
                timeout: nil, transport: .tcp)
            stage = .handshaking(InBandHandshakeSteps(setup))
            return try advance()
        case .handshaking(let handshake):
            guard let channel = try handshake.step() else { return nil }
            stage = .ended
            endLead()
            return channel
        case .ended:
            throw ChannelError.invalidRequest("step() of a setup that already ended")
        }
    }

    /// Resources, a QP in RESET and a fresh TCP connection: the start, and a restart without the session.
    private func begin() throws(ChannelError) {
        let resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        local = prepared.endpoint
        hello = ExchangeMessage(endpoint: prepared.endpoint, payload: ExchangeMessage.randomClientToken() + route)
        self.resources = resources
        self.prepared = consume prepared
        let connection = try ChannelError.lowering { try BootstrapConnection.startConnecting(host: host, port: port) }
        enter(.connecting(connection))
    }

    private func enter(_ next: Stage) {
        stage = next
        stageDeadline = .now + configuration.setupTimeout
    }

    private func expired(_ connection: BootstrapConnection) throws -> AuthenticatedQueuePair? {
        guard ContinuousClock.now >= stageDeadline else { return nil }
        throw connection.deadlineError()
    }

    private func expired(_ function: String, _ reason: String) throws(BootstrapError) -> AuthenticatedQueuePair? {
        guard ContinuousClock.now >= stageDeadline else { return nil }
        throw BootstrapError(.timedOut, function: function, reason: reason)
    }

    private func endLead() {
        guard leads else { return }
        leads = false
        sessions?.firstContacts.finished(destination)
    }
}

extension ConnectorSetup {
    /// The steps in a loop, backing off between them: the blocking connect.
    func run() throws(ChannelError) -> AuthenticatedQueuePair {
        var idle = 0
        while true {
            if let channel = try step() { return channel }
            idle += 1
            // Busy for a few hundred steps (a handshake round trip on the
            // host), then yield the CPU in growing sleeps of up to 1 ms.
            if idle > 256 { usleep(UInt32(min(1000, (idle - 256) * 10))) } else { sched_yield() }
        }
    }
}
