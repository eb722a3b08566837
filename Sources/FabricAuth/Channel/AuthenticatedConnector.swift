import Bootstrap
import Handshake
import Identity
import Verbs

/// Sets up authenticated queue pairs, perftest-style: the two ends swap QP
/// endpoints over TCP (unauthenticated, like `ib_write_bw` without `-R`),
/// connect their RC QPs, and then run the handshake in-band over the new QP.
/// The handshake binds both endpoints (QPN, PSN, GID, MTU) and both sides'
/// fresh randomness, so an attacker who rewrites the TCP exchange cannot get a
/// replayed handshake accepted or learn keys; it can make the handshake fail,
/// or point this side at another QP whose owner then has to authenticate
/// (docs/protocol.md, section 11.1).
///
/// One TCP connection carries two round trips: the client speaks first (its
/// endpoint and a random token; the listener discloses nothing before), and
/// the second round trip is a barrier that guarantees both QPs reached RTS
/// before the first in-band SEND. Keeping both on one connection means no
/// other connection to the listener can come between them.
public enum AuthenticatedConnector {
    /// The longest `route` a client's first message carries after its token.
    public static let maxRouteBytes = 64

    /// Connects to an ``AuthenticatedListener`` at `host:port` as the handshake initiator.
    ///
    /// With `sessions`, a client-side ``SessionCache``: a full handshake leaves
    /// its session there under `host:port`, and the next channel to the same
    /// listener resumes from it -- fresh keys bound to the new QP from three
    /// messages with nonces from both sides, no certificates or Diffie-Hellman.
    /// Connections started at once to a listener with no session yet wait for
    /// the first one's full handshake (up to the setup timeout) and resume.
    /// When the listener refuses to resume, that session is forgotten; if it
    /// refused because it does not hold the session (it restarted, the session
    /// expired there), this call runs a full handshake on a new QP at once.
    ///
    /// `route` (at most ``maxRouteBytes``) travels after the client token in
    /// the first TCP message: a listener that serves several consumers
    /// (``AuthenticatedListener/acceptClient(timeout:)``) tells them apart by
    /// it. It is not authenticated there; a caller that routes channels by it
    /// also puts it in `configuration.handshakePayload`, which the handshake
    /// authenticates (the listener's channel has it as `peerPayload`).
    public static func connect(
        context: Context, host: String, port: UInt16, configuration: ChannelConfiguration,
        sessions: SessionCache? = nil, route: [UInt8] = []
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        guard route.count <= maxRouteBytes else {
            throw .invalidRequest("route of \(route.count) bytes; at most \(maxRouteBytes)")
        }
        let destination = "\(host):\(port)"
        // Concurrent first connections wait for one full handshake and then resume.
        var leads = false
        if let sessions {
            leads = sessions.firstContacts.enter(destination, deadline: .now + configuration.setupTimeout) {
                sessions.hasSession(for: destination, now: SystemClock().now())
            }
        }
        defer { if leads { sessions?.firstContacts.finished(destination) } }
        let session = sessions?.session(for: destination, now: SystemClock().now())
        do {
            return try connectSteps(context: context, host: host, port: port, configuration: configuration,
                session: session, sessions: sessions, destination: destination, route: route)
        } catch {
            let lowered = ChannelError(lowering: error)
            guard session != nil, lowered.isStaleSessionRefusal else { throw lowered }
        }
        // The listener no longer holds the session (it restarted, evicted it
        // or it expired there first): one full handshake on a new QP, so a
        // stale cache entry costs a round of setup, never the connection.
        do {
            return try connectSteps(context: context, host: host, port: port, configuration: configuration,
                session: nil, sessions: sessions, destination: destination, route: route)
        } catch {
            throw ChannelError(lowering: error)
        }
    }

    /// The setup in order; its errors come from three layers and are lowered
    /// once, by `connect`.
    private static func connectSteps(
        context: Context, host: String, port: UInt16, configuration: ChannelConfiguration,
        session: ResumableSession?, sessions: SessionCache?, destination: String, route: [UInt8]
    ) throws -> AuthenticatedQueuePair {
        let resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        let local = prepared.endpoint
        let hello = ExchangeMessage(endpoint: local, payload: ExchangeMessage.randomClientToken() + route)
        let connection = try BootstrapConnection.connect(host: host, port: port, timeout: configuration.setupTimeout)
        // Each round trip gets the whole setup timeout: the listener answers
        // after the setup it may be busy with.
        let first = try connection.exchange(hello, timeout: configuration.setupTimeout)
        let qp = try prepared.connect(to: first.endpoint, parameters: configuration.connection,
            receives: resources.allReceiveRequests)
        let barrier = try connection.exchange(hello, timeout: configuration.setupTimeout)
        guard barrier.endpoint == first.endpoint else {
            throw BootstrapError(.barrierMismatch, function: "barrier", reason: "the listener changed its endpoint between the round trips")
        }
        do {
            return try authenticate(qp: qp, resources: resources, local: local, remote: first.endpoint,
                role: .initiator, configuration: configuration, session: session, sessionCache: sessions,
                destination: destination)
        } catch {
            // The listener refused to resume: the next attempt runs a full handshake.
            if session != nil { sessions?.forget(destination: destination) }
            throw error
        }
    }

    /// Runs the handshake on a connected QP and builds the channel, or tears the QP down.
    /// `timeout` bounds the handshake (the channel's `setupTimeout` when nil).
    static func authenticate(
        qp: QueuePair, resources: ChannelResources, local: QueuePairEndpoint, remote: QueuePairEndpoint,
        role: ChannelBinding.Role, configuration: ChannelConfiguration, session: ResumableSession?,
        sessionCache: SessionCache?, destination: String? = nil, firstMessage: [UInt8]? = nil, timeout: Duration? = nil,
        transport: AuditEvent.Handshake.Transport = .tcp
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        // The newest credential, bundles, deny list and policy: a handshake
        // never runs on values older than the last successful reload.
        let configuration = configuration.resolvingSources()
        let timeout = timeout ?? configuration.setupTimeout
        let peerRole: ChannelBinding.Role = role == .initiator ? .responder : .initiator
        var lookup: (@Sendable ([UInt8]) -> ResumableSession?)?
        if let sessionCache, role == .responder { lookup = { sessionCache.lookup($0) } }
        var verifier = CertificatePeerVerifier(verifier: configuration.verifier, policy: configuration.policy,
            localID: configuration.credential.spiffeID, quarantine: configuration.quarantine, log: configuration.log)
        let notes = configuration.audit.map { _ in HandshakeAuditNotes() }
        verifier.auditNotes = notes
        let localBinding = ChannelBinding(local, role: role), remoteBinding = ChannelBinding(remote, role: peerRole)
        let handshakeConfiguration = HandshakeConfiguration(
            credential: CertificateCredential(configuration.credential),
            verifier: verifier,
            localBinding: localBinding,
            expectedRemoteBinding: remoteBinding,
            suites: configuration.suites,
            payload: configuration.handshakePayload,
            timeout: timeout,
            counters: configuration.handshakeCounters,
            sessionLookup: lookup)
        let machine = session.map { HandshakeMachine(resuming: $0, configuration: handshakeConfiguration) }
            ?? HandshakeMachine(configuration: handshakeConfiguration)
        let started = ContinuousClock.now
        /// The handshake's audit event, at its end (accepted once the channel exists).
        func audit(_ outcome: Result<(suite: CipherSuite, resumed: Bool), ChannelError>) {
            guard let log = configuration.audit, let notes else { return }
            log.record(.handshake(.make(role: role, transport: transport, credential: configuration.credential,
                local: localBinding, remote: remoteBinding, resuming: session != nil, notes: notes.current,
                outcome: outcome, duration: ContinuousClock.now - started)))
        }
        do throws(ChannelError) {
            let result = try InBandHandshake.run(machine, over: qp, resources: resources, timeout: timeout,
                firstMessage: firstMessage)
            configuration.log?("authenticated \(result.peer.identity) on QP \(qp.number) (suite \(result.suite)\(result.resumed ? ", resumed" : ""))")
            // The cache gets its own copy: the channel wipes the result's.
            if !result.resumed { sessionCache?.insert(result.session.copied(), destination: destination) }
            let resumed = result.resumed, suite = result.suite
            let channel = try AuthenticatedQueuePair(queuePair: qp, resources: resources, result: result,
                configuration: configuration)
            configuration.observer?.handshakeCompleted(resumed: resumed, duration: ContinuousClock.now - started)
            audit(.success((suite, resumed)))
            return channel
        } catch {
            audit(.failure(error))
            configuration.log?("handshake on QP \(qp.number) failed: \(error)")
            // The refused QP never carries anything again.
            try? qp.moveToError()
            throw error
        }
    }
}

extension ChannelBinding {
    /// The handshake's view of a verbs endpoint.
    init(_ endpoint: QueuePairEndpoint, role: Role) {
        var gid = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { gid[i] = endpoint.gid.bytes[i] }
        self.init(role: role, qpn: endpoint.queuePairNumber, psn: endpoint.packetSequenceNumber, gid: gid,
            mtu: UInt32(endpoint.mtu.bytes))
    }
}

extension ChannelError {
    /// The listener refused to resume because it no longer holds the session,
    /// not because it refuses this peer (revocation and policy are other codes).
    var isStaleSessionRefusal: Bool {
        guard case .handshake(let e) = self, e.code == .peerAborted else { return false }
        return e.remoteCode == .unknownSession || e.remoteCode == .sessionExpired
    }
}
