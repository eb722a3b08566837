/// In-band re-authentication of a live channel (docs/protocol.md section 14), as a
/// state machine with no I/O, shaped like ``HandshakeMachine``: messages in, actions
/// out, `now` passed in, certificate verification injected. One per channel, for its
/// whole life: it holds the channel's re-authentication anchor and generation and runs
/// one re-authentication after another. Not thread-safe: one owner.
///
///     idle(g) -start-> requesting -A2 (A3 out, switch sending)-> awaitingFinished -A4-> idle(g+1)
///     idle(g) -A1-> responding -A3 (A4 out, switch sending)-> idle(g+1)
///     requesting -A1 of the peer-> ignored (this side was the handshake initiator: it wins)
///                                 or responding (this side was the handshake responder: it yields)
///     any -error/alert/timeout-> closed (final: the channel closes)
///
/// Secrets (anchor, ephemeral key, ck/k/h, derived secrets) live in SecretBytes and are
/// wiped as each stops being needed, and all of them on close and deinit.
public final class ReauthenticationMachine {
    enum Phase: Equatable {
        case idle
        case requesting
        case awaitingFinished
        case responding
        case closed
    }

    var config: ReauthenticationConfiguration
    var phase: Phase = .idle
    /// Completed re-authentications.
    public private(set) var generation: UInt32
    /// The channel's peer as last verified (handshake or latest re-authentication).
    public private(set) var peer: any VerifiedPeer
    var anchor: SecretBytes
    var deadline: Timestamp?

    // Per run; wiped at its end.
    var symmetric: SymmetricState?
    var ephemeralSecret: SecretBytes?
    var ephemeralPublic: [UInt8] = []
    /// Requester between A3 and A4: the derived secrets and h (A4's associated data).
    var pendingKeys: KeySchedule.Output?
    var finalTranscript: SecretBytes?
    var pendingPeer: (any VerifiedPeer)?

    /// - Parameters:
    ///   - anchor: the handshake's ``HandshakeResult/reauthenticationAnchor`` (copied;
    ///     the caller wipes its own).
    ///   - peer: the handshake's verified peer; every re-authentication must present
    ///     the same identity.
    public init(configuration: ReauthenticationConfiguration, anchor: SecretBytes, peer: any VerifiedPeer,
                generation: UInt32 = 0) {
        _ = sodiumReady
        precondition(anchor.count == HandshakeLimits.secretSize, "the anchor is 32 bytes")
        self.config = configuration
        self.anchor = anchor.copy()
        self.peer = peer
        self.generation = generation
    }

    deinit { wipeRun(); anchor.wipe() }

    /// Whether a run is under way (A1 sent or received, not finished).
    public var isRunning: Bool { phase != .idle && phase != .closed }
    /// Whether the machine failed; the channel must be closed.
    public var isClosed: Bool { phase == .closed }

    /// A new local credential: the next A2 or A3 is signed with it.
    public func updateCredential(_ credential: any HandshakeCredential) { config.credential = credential }

    /// The trust in force now (bundle, deny list, policy after a reload): the
    /// next A2 or A3 received is verified with it.
    public func updateVerifier(_ verifier: any PeerVerifier) { config.verifier = verifier }

    /// The run's deadline while one is under way (the channel checks it on its own clock).
    public var runDeadline: Timestamp? { isRunning ? deadline : nil }

    /// Starts a re-authentication as requester with `credential` (which also becomes
    /// the credential for later runs): A1 out. Refused without an alert while a run is
    /// under way or after close (`.localConfiguration`; the channel need not close).
    public func start(with credential: any HandshakeCredential, now: Timestamp) -> ReauthenticationOutput {
        guard phase == .idle else {
            return .abort(HandshakeError(.localConfiguration, "re-authentication already \(phase)"), alert: nil)
        }
        guard generation < UInt32.max else {
            return .abort(HandshakeError(.localConfiguration, "generations exhausted"), alert: nil)
        }
        config.credential = credential
        let s = beginTranscript()
        let pair = Sodium.x25519KeyPair(random: config.random)
        ephemeralSecret = pair.secret
        ephemeralPublic = pair.publicKey
        let prefix = ReauthRequest.encodePrefix(generation: generation + 1, requesterRole: config.localBinding.role,
                                                ephemeral: pair.publicKey, initiatorBinding: config.initiatorBinding,
                                                responderBinding: config.responderBinding)
        s.mixHash(prefix)
        let a1 = prefix + s.encryptAndHash([])
        deadline = now.adding(config.timeout)
        phase = .requesting
        return .send(a1)
    }

    /// Feeds one re-authentication message (the payload of an authentic opcode-8 frame).
    public func receive(_ message: [UInt8], now: Timestamp) -> ReauthenticationOutput {
        if phase == .closed {
            return .abort(HandshakeError(.unexpectedMessage, "re-authentication machine closed"), alert: nil)
        }
        if let timedOut = checkTimeout(now: now) { return timedOut }
        do throws(HandshakeError) {
            let header = try MessageHeader.peek(message)
            switch (phase, header.type) {
            case (_, .alert):
                let alert = try Alert.decode(message)
                return fail(HandshakeError(.peerAborted, "peer sent an alert", remoteCode: alert.code), alert: false)
            case (.idle, .reauthRequest):
                return .send(try respond(to: message, now: now))
            case (.requesting, .reauthRequest):
                return try collide(message, now: now)
            case (.requesting, .reauthResponse):
                return try receiveResponse(message, now: now)
            case (.awaitingFinished, .reauthFinished):
                return try receiveFinished(message)
            case (.responding, .reauthAuth):
                return try receiveAuth(message, now: now)
            default:
                throw HandshakeError(.unexpectedMessage, "\(header.type) while \(phase)")
            }
        } catch {
            return fail(error, alert: true)
        }
    }

    /// Reports expiry of a run once its deadline passed (and closes); nil otherwise.
    public func checkTimeout(now: Timestamp) -> ReauthenticationOutput? {
        guard isRunning, let deadline, now >= deadline else { return nil }
        return fail(HandshakeError(.timeout, "re-authentication deadline \(deadline) passed at \(now)"), alert: true)
    }

    // MARK: steps

    /// InitializeSymmetric(name); MixHash(binding_I || binding_R); MixKeyAndHash(anchor_g).
    func beginTranscript() -> SymmetricState {
        wipeRun()
        let s = SymmetricState(protocolName: ReauthenticationMachine.protocolName)
        var w = WireWriter(capacity: 2 * ChannelBinding.encodedSize)
        config.initiatorBinding.encode(into: &w)
        config.responderBinding.encode(into: &w)
        s.mixHash(w.buffer)
        s.mixKeyAndHash(anchor)
        symmetric = s
        return s
    }

    /// Both sent A1 (section 14.5): the handshake initiator's A1 wins at both ends.
    func collide(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> ReauthenticationOutput {
        if config.localBinding.role == .initiator {
            // Check it is a well-formed A1 of this generation from the peer, then ignore it.
            let a1 = try ReauthRequest.decode(message)
            try checkRequest(a1)
            config.counters?.recordReauthenticationCollision()
            return .none
        }
        // This side yields: its own attempt is dropped (wiped) and the peer's answered.
        phase = .idle
        return .send(try respond(to: message, now: now))
    }

    /// The clear checks of A1, in the order of section 14.3 step 2.
    func checkRequest(_ a1: ReauthRequest) throws(HandshakeError) {
        guard a1.requesterRole == config.remoteBinding.role else {
            throw HandshakeError(.reflectedMessage, "A1 names this side's handshake role as the requester")
        }
        guard a1.generation == generation &+ 1 else {
            throw HandshakeError(.staleGeneration, "A1 for generation \(a1.generation), next is \(generation &+ 1)")
        }
        let peerInA1 = config.remoteBinding.role == .initiator ? a1.initiatorBinding : a1.responderBinding
        let ownInA1 = config.localBinding.role == .initiator ? a1.initiatorBinding : a1.responderBinding
        guard peerInA1 == config.remoteBinding else {
            throw HandshakeError(.channelBindingMismatch, "A1 names peer \(peerInA1), this channel's is \(config.remoteBinding)")
        }
        guard ownInA1 == config.localBinding else {
            throw HandshakeError(.responderBindingMismatch, "A1 names \(ownInA1), this side is \(config.localBinding)")
        }
    }

    /// Re-auth responder: A1 in, A2 out.
    func respond(to message: [UInt8], now: Timestamp) throws(HandshakeError) -> [UInt8] {
        let a1 = try ReauthRequest.decode(message)
        try checkRequest(a1)
        let s = beginTranscript()
        s.mixHash(message[0..<ReauthRequest.prefixSize])
        _ = try s.decryptAndHash(message[ReauthRequest.prefixSize...])  // c1: proves the anchor

        let pair = Sodium.x25519KeyPair(random: config.random)
        let prefix = ReauthResponse.encodePrefix(ephemeral: pair.publicKey)
        s.mixHash(prefix)
        let dh = try Sodium.x25519(secret: pair.secret, peer: a1.ephemeral)
        s.mixKey(dh)
        dh.wipe()
        pair.secret.wipe()
        let block = try identityBlock(context: Self.responderSignatureContext, transcript: s.h)
        let a2 = prefix + s.encryptAndHash(block)
        deadline = now.adding(config.timeout)
        phase = .responding
        return a2
    }

    /// Requester: A2 in (authenticates the peer), A3 out, switch sending.
    func receiveResponse(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> ReauthenticationOutput {
        let a2 = try ReauthResponse.decode(message)
        guard !a2.ephemeral.constantTimeEquals(ephemeralPublic) else {
            throw HandshakeError(.reflectedMessage, "A2 carries our own ephemeral key")
        }
        guard let s = symmetric, let secret = ephemeralSecret else { preconditionFailure("requesting without state") }
        s.mixHash(message[0..<ReauthResponse.prefixSize])
        let dh = try Sodium.x25519(secret: secret, peer: a2.ephemeral)
        s.mixKey(dh)
        dh.wipe()
        secret.wipe()
        ephemeralSecret = nil
        let verified = try authenticatePeer(ciphertext: a2.ciphertext, context: Self.responderSignatureContext,
                                            symmetric: s, now: now)

        let header = EncryptedMessage.header(.reauthAuth)
        s.mixHash(header)
        let block = try identityBlock(context: Self.requesterSignatureContext, transcript: s.h)
        let a3 = header + s.encryptAndHash(block)
        let keys = KeySchedule.derive(from: s)
        pendingKeys = keys
        finalTranscript = s.h.copy()
        s.wipe()
        symmetric = nil
        pendingPeer = verified
        phase = .awaitingFinished
        return .sendThenSwitchSending(a3, sendSecret: ownDirection(keys).copy())
    }

    /// Re-auth responder: A3 in (authenticates the requester), A4 out; done.
    func receiveAuth(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> ReauthenticationOutput {
        let ciphertext = try EncryptedMessage.decode(message, expecting: .reauthAuth)
        guard let s = symmetric else { preconditionFailure("responding without state") }
        s.mixHash(message[0..<MessageHeader.size])
        let verified = try authenticatePeer(ciphertext: ciphertext, context: Self.requesterSignatureContext,
                                            symmetric: s, now: now)
        let keys = KeySchedule.derive(from: s)
        defer { keys.wipe() }
        let c4 = s.h.withUnsafeBytes { Sodium.seal(key: keys.finishedKey, nonce: 0, ad: $0, plaintext: []) }
        let a4 = EncryptedMessage.encode(.reauthFinished, ciphertext: c4)
        let result = complete(keys, peer: verified, sendSecret: ownDirection(keys).copy())
        return .finished(result, thenSend: a4)
    }

    /// Requester: A4 in (the peer's key confirmation and switch marker); done.
    func receiveFinished(_ message: [UInt8]) throws(HandshakeError) -> ReauthenticationOutput {
        let c4 = try ReauthFinished.decode(message)
        guard let keys = pendingKeys, let transcript = finalTranscript, let verified = pendingPeer else {
            preconditionFailure("awaitingFinished without keys")
        }
        let opened = transcript.withUnsafeBytes { Sodium.open(key: keys.finishedKey, nonce: 0, ad: $0, ciphertext: c4) }
        guard opened != nil else { throw HandshakeError(.decryptFailed, "ReauthFinished tag mismatch") }
        let result = complete(keys, peer: verified, sendSecret: nil)
        return .finished(result, thenSend: nil)
    }

    // MARK: shared

    /// Opens c2/c3, then: chain at `now`, signature over the transcript before the
    /// ciphertext, the same identity as the channel's peer, policy.
    func authenticatePeer(ciphertext: ArraySlice<UInt8>, context: [UInt8], symmetric s: SymmetricState,
                          now: Timestamp) throws(HandshakeError) -> any VerifiedPeer {
        let signedTranscript = s.h.copy()
        defer { signedTranscript.wipe() }
        var plaintext = try s.decryptAndHash(ciphertext)
        defer { plaintext.wipe() }
        let (block, prefix) = try IdentityBlock.decode(plaintext)
        guard block.payload.isEmpty else { throw HandshakeError(.malformed, "re-authentication carries a payload") }
        let verified: any VerifiedPeer
        switch config.verifier.verify(chain: block.chain, at: now) {
        case .rejected(let rejection):
            throw HandshakeError(.peerRejected, rejection.description, rejection: rejection)
        case .verified(let p):
            verified = p
        }
        var content = KeySchedule.signedContent(context: context, transcript: signedTranscript, identityPrefix: prefix)
        defer { content.wipe() }
        guard verified.verifySignature(block.signature, over: content, algorithm: block.algorithm) else {
            throw HandshakeError(.badSignature, "\(verified.identity)'s key did not sign this transcript")
        }
        guard verified.identity == peer.identity else {
            throw HandshakeError(.peerIdentityChanged, "peer was \(peer.identity), now presents \(verified.identity)")
        }
        if case .denied(let reason) = config.verifier.authorize(verified, at: now) {
            throw HandshakeError(.policyDenied, "\(verified.identity): \(reason)")
        }
        return verified
    }

    func identityBlock(context: [UInt8], transcript h: SecretBytes) throws(HandshakeError) -> [UInt8] {
        let credential = config.credential
        guard let prefix = IdentityBlock.encodePrefix(algorithm: credential.signatureAlgorithm,
                                                      chain: credential.certificateChain) else {
            throw HandshakeError(.localCredentialFailure, "certificate chain outside the limits")
        }
        var content = KeySchedule.signedContent(context: context, transcript: h, identityPrefix: prefix)
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
        return IdentityBlock.encode(prefix: prefix, signature: signature, payload: [])
    }

    /// The new secret of the direction this side sends in (the QP's handshake roles).
    func ownDirection(_ keys: KeySchedule.Output) -> SecretBytes {
        config.localBinding.role == .initiator ? keys.initiatorToResponder : keys.responderToInitiator
    }

    func peerDirection(_ keys: KeySchedule.Output) -> SecretBytes {
        config.localBinding.role == .initiator ? keys.responderToInitiator : keys.initiatorToResponder
    }

    /// Ratchets the anchor, moves to the next generation, hands out copies, wipes the run.
    func complete(_ keys: KeySchedule.Output, peer verified: any VerifiedPeer, sendSecret: SecretBytes?)
        -> ReauthenticationResult
    {
        anchor.wipe()
        anchor = keys.reauthAnchor.copy()
        generation += 1
        peer = verified
        let result = ReauthenticationResult(generation: generation, peer: verified,
                                            receiveSecret: peerDirection(keys).copy(), sendSecret: sendSecret)
        keys.wipe()
        wipeRun()
        phase = .idle
        config.counters?.recordReauthentication()
        return result
    }

    func fail(_ error: HandshakeError, alert: Bool) -> ReauthenticationOutput {
        phase = .closed
        config.counters?.recordFailure(error.code)
        wipeRun()
        anchor.wipe()
        return .abort(error, alert: alert ? Alert(code: error.code).encode() : nil)
    }

    /// Zeroes what one run holds (not the anchor).
    func wipeRun() {
        symmetric?.wipe()
        symmetric = nil
        ephemeralSecret?.wipe()
        ephemeralSecret = nil
        ephemeralPublic = []
        pendingKeys?.wipe()
        pendingKeys = nil
        finalTranscript?.wipe()
        finalTranscript = nil
        pendingPeer = nil
        deadline = nil
    }

    static let protocolName = "FabricAuth_Reauth_XXsig_25519_ChaChaPoly_SHA256_v1"
    /// Distinct from the handshake's contexts (KeySchedule), so neither signature can
    /// stand in for the other, and per re-auth role against reflection.
    static let requesterSignatureContext = Array("FabricAuth reauth requester signature\u{0}".utf8)
    static let responderSignatureContext = Array("FabricAuth reauth responder signature\u{0}".utf8)
}

extension ReauthenticationMachine {
    /// The machine for a channel whose handshake produced `result` (anchor copied,
    /// bindings and peer taken from it).
    public convenience init(handshake result: HandshakeResult, credential: any HandshakeCredential,
                            verifier: any PeerVerifier, timeout: Duration = HandshakeLimits.defaultTimeout,
                            random: any RandomSource = SodiumRandom(), counters: HandshakeCounters? = nil) {
        self.init(configuration: ReauthenticationConfiguration(
                      credential: credential, verifier: verifier, localBinding: result.localBinding,
                      remoteBinding: result.remoteBinding, timeout: timeout, random: random, counters: counters),
                  anchor: result.reauthenticationAnchor, peer: result.peer)
    }
}
