/// One handshake on one QP, as a state machine with no I/O (wireguard-go's
/// noise-protocol.go, nebula's handshake/machine.go). Not thread-safe: one owner.
///
/// Initiator: `start(now:)`, then `receive(_:now:)` for each answer.
/// Responder: `receive(_:now:)` from the first message on (a full handshake's M1 or a
/// resumption's R1, it accepts either). Call `checkTimeout(now:)` from the caller's timer.
///
/// Every failure is final, is counted in `configuration.counters` under its code, and
/// wipes the machine's secrets; so does finishing. States:
///
///     initiator: idle -start-> awaitingResponderHello -M2-> awaitingFinished -M4-> finished
///                idle -start(resuming)-> awaitingResumeResponse -R2 (R3 out)-> finished
///     responder: idle -M1-> awaitingInitiatorAuth -M3-> finished
///                idle -R1-> awaitingResumeFinished -R3-> finished
///     any: -error/alert/timeout-> failed
public final class HandshakeMachine {
    enum Phase: Equatable {
        case idle
        case awaitingResponderHello
        case awaitingInitiatorAuth
        case awaitingFinished
        case awaitingResumeResponse
        case awaitingResumeFinished
        case finished
        case failed
    }

    public let role: ChannelBinding.Role
    let config: HandshakeConfiguration
    let resumption: ResumableSession?
    /// Responder: the session R1 named, held between R1 and R3.
    var resumedSession: ResumableSession?
    var phase: Phase = .idle
    var deadline: Timestamp?
    var startedAt: Timestamp?

    // Secrets and transcript, each in a SecretBytes of its own (never copied implicitly).
    // Each is wiped at the step where it stops being needed (below) and again by `wipe()`
    // on finish, failure and deinit:
    // - ephemeralSecret: right after the ee Diffie-Hellman (initiator at M2, responder at M1);
    // - symmetric (ck, k, h): once the final PRK is derived (initiator after M3 out,
    //   responder and resumption at the end);
    // - finalTranscript (the initiator's h between M3 and M4): at M4;
    // - keys: at the end (the result holds copies of its own).
    var symmetric: SymmetricState
    var ephemeralSecret: SecretBytes?
    var ephemeralPublic: [UInt8] = []
    var ownNonce: [UInt8] = []
    var keys: KeySchedule.Output?
    var finalTranscript: SecretBytes?

    var lastSent: [UInt8] = []
    var chosenSuite: CipherSuite?
    var peer: (any VerifiedPeer)?
    var peerPayload: [UInt8] = []

    /// A full handshake; `configuration.localBinding.role` says which side this is.
    public init(configuration: HandshakeConfiguration) {
        _ = sodiumReady
        self.config = configuration
        self.role = configuration.localBinding.role
        self.resumption = nil
        self.symmetric = SymmetricState(protocolName: KeySchedule.fullProtocolName)
    }

    /// A resumption initiator on a new QP, from a session cached after a full handshake.
    public init(resuming session: ResumableSession, configuration: HandshakeConfiguration) {
        _ = sodiumReady
        self.config = configuration
        self.role = configuration.localBinding.role
        self.resumption = session
        self.symmetric = SymmetricState(protocolName: KeySchedule.resumeProtocolName)
    }

    deinit { wipe() }

    public var isFinished: Bool { phase == .finished }
    public var isFailed: Bool { phase == .failed }

    /// Initiator only: produces M1 (or R1 when resuming).
    public func start(now: Timestamp) -> HandshakeOutput {
        guard phase == .idle, role == .initiator else {
            return fail(HandshakeError(.localConfiguration, "start() is for an idle initiator"), alert: false)
        }
        if let e = config.validate() { return fail(e, alert: false) }
        startedAt = now
        deadline = now.adding(config.timeout)
        do throws(HandshakeError) {
            if let session = resumption {
                return .send(try startResumption(session, now: now))
            }
            return .send(startFull())
        } catch {
            // Nothing was sent yet: no alert.
            return fail(error, alert: false)
        }
    }

    /// Feeds one message from the peer.
    public func receive(_ message: [UInt8], now: Timestamp) -> HandshakeOutput {
        switch phase {
        case .finished, .failed:
            // Late or duplicate message after the end: report, send nothing.
            return fail(HandshakeError(.unexpectedMessage, "handshake already over"), alert: false)
        case .idle where role == .initiator:
            return fail(HandshakeError(.unexpectedMessage, "initiator received a message before start()"), alert: true)
        default:
            break
        }
        if let timedOut = checkTimeout(now: now) { return timedOut }
        do throws(HandshakeError) {
            let header = try MessageHeader.peek(message)
            if header.type == .alert {
                let alert = try Alert.decode(message)
                return fail(HandshakeError(.peerAborted, "peer sent an alert", remoteCode: alert.code), alert: false)
            }
            if !lastSent.isEmpty, message == lastSent {
                throw HandshakeError(.reflectedMessage, "our own \(header.type) came back")
            }
            switch (phase, header.type) {
            case (.idle, .initiatorHello):
                if let e = config.validate() { throw e }
                startedAt = now
                deadline = now.adding(config.timeout)
                return .send(try receiveInitiatorHello(message))
            case (.idle, .resumeRequest):
                if let e = config.validate() { throw e }
                startedAt = now
                deadline = now.adding(config.timeout)
                return .send(try receiveResumeRequest(message, now: now))
            case (.awaitingResponderHello, .responderHello):
                return .send(try receiveResponderHello(message, now: now))
            case (.awaitingInitiatorAuth, .initiatorAuth):
                return try receiveInitiatorAuth(message, now: now)
            case (.awaitingFinished, .responderFinished):
                return try receiveResponderFinished(message)
            case (.awaitingResumeResponse, .resumeResponse):
                return try receiveResumeResponse(message)
            case (.awaitingResumeFinished, .resumeFinished):
                return try receiveResumeFinished(message)
            default:
                throw HandshakeError(.unexpectedMessage, "\(header.type) while \(phase)")
            }
        } catch {
            return fail(error, alert: true)
        }
    }

    /// Reports expiry once the deadline passed (and fails the machine); nil otherwise.
    public func checkTimeout(now: Timestamp) -> HandshakeOutput? {
        guard let deadline, phase != .finished, phase != .failed, now >= deadline else { return nil }
        return fail(HandshakeError(.timeout, "deadline \(deadline) passed at \(now)"), alert: true)
    }

    // MARK: shared steps

    func checkBinding(_ binding: ChannelBinding) throws(HandshakeError) {
        guard binding == config.expectedRemoteBinding else {
            throw HandshakeError(.channelBindingMismatch, "peer presented \(binding), expected \(config.expectedRemoteBinding)")
        }
    }

    /// Signs the transcript and builds an IdentityBlock plaintext (M2, M3).
    func makeIdentityBlock(context: [UInt8], payload: [UInt8]) throws(HandshakeError) -> [UInt8] {
        let credential = config.credential
        guard let prefix = IdentityBlock.encodePrefix(algorithm: credential.signatureAlgorithm,
                                                      chain: credential.certificateChain) else {
            throw HandshakeError(.localCredentialFailure, "certificate chain outside the limits")
        }
        var content = KeySchedule.signedContent(context: context, transcript: symmetric.h, identityPrefix: prefix)
        defer { content.wipe() }
        let signature: [UInt8]
        do {
            signature = try credential.sign(content)
        } catch {
            throw HandshakeError(.localCredentialFailure, "signing failed: \(error)")
        }
        guard (1...HandshakeLimits.maxSignatureSize).contains(signature.count) else {
            throw HandshakeError(.localCredentialFailure, "signature of \(signature.count) bytes")
        }
        return IdentityBlock.encode(prefix: prefix, signature: signature, payload: payload)
    }

    /// Verifier, then the certificate key's signature over the transcript, then policy.
    func authenticate(_ block: IdentityBlock, prefix: [UInt8], transcript: SecretBytes, context: [UInt8],
                      now: Timestamp) throws(HandshakeError) -> any VerifiedPeer {
        let verified: any VerifiedPeer
        switch config.verifier.verify(chain: block.chain, at: now) {
        case .rejected(let rejection):
            throw HandshakeError(.peerRejected, rejection.description, rejection: rejection)
        case .verified(let p):
            verified = p
        }
        var content = KeySchedule.signedContent(context: context, transcript: transcript, identityPrefix: prefix)
        defer { content.wipe() }
        guard verified.verifySignature(block.signature, over: content, algorithm: block.algorithm) else {
            throw HandshakeError(.badSignature, "\(verified.identity)'s key did not sign this transcript")
        }
        try authorize(verified, now: now)
        return verified
    }

    func authorize(_ p: any VerifiedPeer, now: Timestamp) throws(HandshakeError) {
        switch config.verifier.authorize(p, at: now) {
        case .allowed: break
        case .denied(let reason): throw HandshakeError(.policyDenied, "\(p.identity): \(reason)")
        case .quarantined(let reason): throw HandshakeError(.quarantined, "\(p.identity): \(reason)")
        }
    }

    func makeResult(keys: KeySchedule.Output, session: ResumableSession, resumed: Bool) -> HandshakeResult {
        // Copies: the machine wipes `keys` as it finishes, and a resumed session
        // belongs to the caller's cache, which a result's wipe() must not touch.
        HandshakeResult(role: role, suite: session.suite,
                        initiatorToResponder: keys.initiatorToResponder.copy(),
                        responderToInitiator: keys.responderToInitiator.copy(),
                        peer: session.peer, peerPayload: peerPayload, session: session.copied(), resumed: resumed,
                        localBinding: config.localBinding, remoteBinding: config.expectedRemoteBinding,
                        reauthenticationAnchor: keys.reauthAnchor.copy())
    }

    func finish(_ result: HandshakeResult) -> HandshakeResult {
        phase = .finished
        config.counters?.recordCompletion(resumed: result.resumed)
        wipe()
        return result
    }

    func fail(_ error: HandshakeError, alert: Bool) -> HandshakeOutput {
        phase = .failed
        config.counters?.recordFailure(error.code)
        wipe()
        return .abort(error, alert: alert ? Alert(code: error.code).encode() : nil)
    }

    /// Zeroes everything secret this machine still holds (not the HandshakeResult it handed out).
    func wipe() {
        symmetric.wipe()
        ephemeralSecret?.wipe()
        ephemeralSecret = nil
        ownNonce.wipe()
        keys?.wipe()
        keys = nil
        finalTranscript?.wipe()
        finalTranscript = nil
        peerPayload.wipe()
        // Not wiped: the cache's session (the same SecretBytes), which the cache owns.
        resumedSession = nil
    }
}
