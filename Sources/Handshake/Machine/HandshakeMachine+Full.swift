// The full handshake: M1..M4 (docs/protocol.md, "Full handshake").
// Token order follows Noise XX (Noise rev 34 section 7.5: -> e; <- e, ee, s, es; -> s, se)
// with the static-key DH replaced by signatures of the certificate key over the
// transcript hash, SIGMA-style, because certificate keys are signing keys (Ed25519 / P-256).

extension HandshakeMachine {
    /// Initiator: M1 = version, suites, e_i, binding_i; MixHash(M1).
    func startFull() -> [UInt8] {
        let pair = Sodium.x25519KeyPair(random: config.random)
        ephemeralSecret = pair.secret
        ephemeralPublic = pair.publicKey
        let m1 = InitiatorHello(offeredSuites: config.suites, ephemeral: pair.publicKey, binding: config.localBinding).encode()
        symmetric.mixHash(m1)
        lastSent = m1
        phase = .awaitingResponderHello
        return m1
    }

    /// Responder: M1 in, M2 out.
    func receiveInitiatorHello(_ message: [UInt8]) throws(HandshakeError) -> [UInt8] {
        let m1 = try InitiatorHello.decode(message)
        try checkBinding(m1.binding)
        // The responder picks: its first acceptable suite that the initiator offered.
        guard let suite = config.suites.first(where: { m1.offeredSuites.contains($0) }) else {
            throw HandshakeError(.noCommonSuite, "offered \(m1.offeredSuites), acceptable \(config.suites)")
        }
        chosenSuite = suite
        symmetric.mixHash(message)

        let pair = Sodium.x25519KeyPair(random: config.random)
        ephemeralSecret = pair.secret
        ephemeralPublic = pair.publicKey
        let prefix = ResponderHello.encodePrefix(suite: suite, ephemeral: pair.publicKey, binding: config.localBinding)
        symmetric.mixHash(prefix)
        let dh = try Sodium.x25519(secret: pair.secret, peer: m1.ephemeral)  // ee
        symmetric.mixKey(dh)
        dh.wipe()
        pair.secret.wipe()  // the responder's only DH is done
        ephemeralSecret = nil

        let block = try makeIdentityBlock(context: KeySchedule.responderSignatureContext, payload: [])
        let m2 = prefix + symmetric.encryptAndHash(block)
        lastSent = m2
        phase = .awaitingInitiatorAuth
        return m2
    }

    /// Initiator: M2 in (authenticates the responder), M3 out.
    func receiveResponderHello(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> [UInt8] {
        let m2 = try ResponderHello.decode(message)
        guard config.suites.contains(m2.suite) else {
            throw HandshakeError(.unknownSuite, "responder chose \(m2.suite), not offered")
        }
        guard !m2.ephemeral.constantTimeEquals(ephemeralPublic) else {
            throw HandshakeError(.reflectedMessage, "responder's ephemeral is our own")
        }
        try checkBinding(m2.binding)
        chosenSuite = m2.suite
        symmetric.mixHash(message[0..<ResponderHello.prefixSize])
        guard let secret = ephemeralSecret else { preconditionFailure("awaitingResponderHello without an ephemeral key") }
        let dh = try Sodium.x25519(secret: secret, peer: m2.ephemeral)  // ee
        symmetric.mixKey(dh)
        dh.wipe()
        secret.wipe()  // the initiator's only DH is done
        ephemeralSecret = nil

        let signedTranscript = symmetric.h.copy()
        defer { signedTranscript.wipe() }
        var plaintext = try symmetric.decryptAndHash(m2.ciphertext)
        defer { plaintext.wipe() }
        let (block, prefix) = try IdentityBlock.decode(plaintext)
        guard block.payload.isEmpty else {
            throw HandshakeError(.malformed, "ResponderHello carries a payload (it must wait for M4)")
        }
        peer = try authenticate(block, prefix: prefix, transcript: signedTranscript,
                                context: KeySchedule.responderSignatureContext, now: now)

        let header = EncryptedMessage.header(.initiatorAuth)
        symmetric.mixHash(header)
        let ownBlock = try makeIdentityBlock(context: KeySchedule.initiatorSignatureContext, payload: config.payload)
        let m3 = header + symmetric.encryptAndHash(ownBlock)
        keys = KeySchedule.derive(from: symmetric)
        finalTranscript = symmetric.h.copy()  // M4's associated data
        symmetric.wipe()
        lastSent = m3
        phase = .awaitingFinished
        return m3
    }

    /// Responder: M3 in (authenticates the initiator), M4 out; done.
    func receiveInitiatorAuth(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> HandshakeOutput {
        let ciphertext = try EncryptedMessage.decode(message, expecting: .initiatorAuth)
        symmetric.mixHash(message[0..<MessageHeader.size])
        let signedTranscript = symmetric.h.copy()
        defer { signedTranscript.wipe() }
        var plaintext = try symmetric.decryptAndHash(ciphertext)
        defer { plaintext.wipe() }
        let (block, prefix) = try IdentityBlock.decode(plaintext)
        let verified = try authenticate(block, prefix: prefix, transcript: signedTranscript,
                                        context: KeySchedule.initiatorSignatureContext, now: now)
        peer = verified
        peerPayload = block.payload

        let derived = KeySchedule.derive(from: symmetric)
        keys = derived
        // M4: the responder's payload, only now that the initiator is authenticated and authorised.
        let sealed = symmetric.h.withUnsafeBytes { Sodium.seal(key: derived.finishedKey, nonce: 0, ad: $0, plaintext: config.payload) }
        let m4 = EncryptedMessage.encode(.responderFinished, ciphertext: sealed)
        let result = makeResult(keys: derived, session: makeSession(derived, peer: verified), resumed: false)
        return .sendAndFinish(m4, finish(result))
    }

    /// Initiator: M4 in (key confirmation + the responder's payload); done.
    func receiveResponderFinished(_ message: [UInt8]) throws(HandshakeError) -> HandshakeOutput {
        let ciphertext = try EncryptedMessage.decode(message, expecting: .responderFinished)
        guard ciphertext.count <= HandshakeLimits.maxPayloadSize + HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.oversized, "payload over \(HandshakeLimits.maxPayloadSize) bytes")
        }
        guard let derived = keys, let verified = peer, let transcript = finalTranscript else {
            preconditionFailure("awaitingFinished without keys")
        }
        let opened = transcript.withUnsafeBytes { Sodium.open(key: derived.finishedKey, nonce: 0, ad: $0, ciphertext: ciphertext) }
        guard let payload = opened else {
            throw HandshakeError(.decryptFailed, "ResponderFinished tag mismatch")
        }
        peerPayload = payload
        let result = makeResult(keys: derived, session: makeSession(derived, peer: verified), resumed: false)
        return .finished(finish(result))
    }

    /// The resumable session: lifetime bounded by both certificates.
    func makeSession(_ derived: KeySchedule.Output, peer: any VerifiedPeer) -> ResumableSession {
        let start = startedAt ?? Timestamp(nanosecondsSinceEpoch: 0)
        let notAfter = min(start.adding(config.sessionLifetime), config.credential.notAfter, peer.notAfter)
        return ResumableSession(sessionID: derived.sessionID, secret: derived.resumptionSecret,
                                suite: chosenSuite!, peer: peer, notAfter: notAfter, role: role)
    }
}
