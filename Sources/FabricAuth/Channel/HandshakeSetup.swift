import Handshake
import Verbs

/// What surrounds an in-band handshake on a connected QP, whoever moves its
/// messages (``InBandHandshake/run`` blocking, or ``InBandHandshakeSteps``
/// one step per call): the machine, made from the newest credential and
/// trust, and what happens when it ends -- the channel, the session for
/// resumption, the log line, the metrics and the audit event on success; the
/// audit event, the log line and the QP moved to ERROR on failure.
struct HandshakeSetup {
    let qp: QueuePair
    let resources: ChannelResources
    let configuration: ChannelConfiguration
    let machine: HandshakeMachine
    let timeout: Duration
    private let role: ChannelBinding.Role
    private let localBinding: ChannelBinding
    private let remoteBinding: ChannelBinding
    private let resuming: Bool
    private let sessionCache: SessionCache?
    private let destination: String?
    private let transport: AuditEvent.Handshake.Transport
    private let notes: HandshakeAuditNotes?
    private let started = ContinuousClock.now

    /// `timeout` bounds the handshake (the channel's `setupTimeout` when nil).
    init(qp: QueuePair, resources: ChannelResources, local: QueuePairEndpoint, remote: QueuePairEndpoint,
        role: ChannelBinding.Role, configuration: ChannelConfiguration, session: ResumableSession?,
        sessionCache: SessionCache?, destination: String?, timeout: Duration?, transport: AuditEvent.Handshake.Transport)
    {
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
        self.machine = session.map { HandshakeMachine(resuming: $0, configuration: handshakeConfiguration) }
            ?? HandshakeMachine(configuration: handshakeConfiguration)
        self.qp = qp
        self.resources = resources
        self.configuration = configuration
        self.timeout = timeout
        self.role = role
        self.localBinding = localBinding
        self.remoteBinding = remoteBinding
        self.resuming = session != nil
        self.sessionCache = sessionCache
        self.destination = destination
        self.transport = transport
        self.notes = notes
    }

    /// The handshake finished: the channel (or, if even that fails, the
    /// failure's bookkeeping and the error).
    func finish(_ result: HandshakeResult) throws(ChannelError) -> AuthenticatedQueuePair {
        configuration.log?("authenticated \(result.peer.identity) on QP \(qp.number) (suite \(result.suite)\(result.resumed ? ", resumed" : ""))")
        // The cache gets its own copy: the channel wipes the result's.
        if !result.resumed { sessionCache?.insert(result.session.copied(), destination: destination) }
        let resumed = result.resumed, suite = result.suite
        let channel: AuthenticatedQueuePair
        do {
            channel = try AuthenticatedQueuePair(queuePair: qp, resources: resources, result: result,
                configuration: configuration)
        } catch {
            throw fail(error)
        }
        configuration.observer?.handshakeCompleted(resumed: resumed, duration: ContinuousClock.now - started)
        audit(.success((suite, resumed)))
        return channel
    }

    /// The handshake failed: audited, logged, the QP never carries anything
    /// again; returns `error` for the caller to throw.
    func fail(_ error: ChannelError) -> ChannelError {
        audit(.failure(error))
        configuration.log?("handshake on QP \(qp.number) failed: \(error)")
        try? qp.moveToError()
        return error
    }

    /// The handshake's audit event, at its end (accepted once the channel exists).
    private func audit(_ outcome: Result<(suite: CipherSuite, resumed: Bool), ChannelError>) {
        guard let log = configuration.audit, let notes else { return }
        log.record(.handshake(.make(role: role, transport: transport, credential: configuration.credential,
            local: localBinding, remote: remoteBinding, resuming: resuming, notes: notes.current,
            outcome: outcome, duration: ContinuousClock.now - started)))
    }
}
