// Resumption: R1, R2 (docs/protocol.md, "Resumption"). One exchange of fresh nonces
// bound to the new QP; no certificate verification, no Diffie-Hellman. The session
// secret enters as a Noise PSK would (MixKeyAndHash, Noise rev 34 section 9).
// Refused after the session's notAfter (lifetime, either certificate's expiry) and
// whenever the injected `isStillValid` check (revocation) or policy says no.

extension HandshakeMachine {
    func checkSessionUsable(_ session: ResumableSession, now: Timestamp) throws(HandshakeError) {
        guard now < session.notAfter else {
            throw HandshakeError(.sessionExpired, "session expired at \(session.notAfter)")
        }
        guard config.verifier.isStillValid(session.peer, at: now) else {
            throw HandshakeError(.peerRevoked, "\(session.peer.identity) is no longer valid")
        }
        try authorize(session.peer, now: now)
    }

    /// Transcript common to both sides up to R1's ciphertext.
    func absorbResumeRequest(prefix: ArraySlice<UInt8>, nonce: [UInt8], session: ResumableSession) {
        symmetric.mixHash(prefix)
        symmetric.mixHash([session.suite.rawValue])
        symmetric.mixKey(nonce)                  // fresh key per R1 even with the same secret
        symmetric.mixKeyAndHash(session.secret)  // only holders of the session can go on
    }

    /// Initiator: R1.
    func startResumption(_ session: ResumableSession, now: Timestamp) throws(HandshakeError) -> [UInt8] {
        try checkSessionUsable(session, now: now)
        chosenSuite = session.suite
        ownNonce = config.random.bytes(HandshakeLimits.nonceSize)
        let prefix = ResumeRequest.encodePrefix(sessionID: session.sessionID, nonce: ownNonce, binding: config.localBinding)
        absorbResumeRequest(prefix: prefix[...], nonce: ownNonce, session: session)
        let r1 = prefix + symmetric.encryptAndHash(config.payload)
        lastSent = r1
        phase = .awaitingResumeResponse
        return r1
    }

    /// Responder: R1 in, R2 out; done.
    func receiveResumeRequest(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> HandshakeOutput {
        let r1 = try ResumeRequest.decode(message)
        try checkBinding(r1.binding)
        guard let lookup = config.sessionLookup, let session = lookup(r1.sessionID) else {
            throw HandshakeError(.unknownSession, "no cached session with this ID")
        }
        try checkSessionUsable(session, now: now)
        chosenSuite = session.suite
        symmetric = SymmetricState(protocolName: KeySchedule.resumeProtocolName)
        absorbResumeRequest(prefix: message[0..<ResumeRequest.prefixSize], nonce: r1.nonce, session: session)
        peerPayload = try symmetric.decryptAndHash(r1.ciphertext)

        ownNonce = config.random.bytes(HandshakeLimits.nonceSize)
        guard !ownNonce.constantTimeEquals(r1.nonce) else {
            throw HandshakeError(.reflectedMessage, "initiator's nonce equals ours")
        }
        let prefix = ResumeResponse.encodePrefix(nonce: ownNonce, binding: config.localBinding)
        symmetric.mixHash(prefix)
        symmetric.mixKey(ownNonce)
        let r2 = prefix + symmetric.encryptAndHash(config.payload)
        let derived = KeySchedule.derive(from: symmetric)
        let result = makeResult(keys: derived, session: session, resumed: true)
        return .sendAndFinish(r2, finish(result))
    }

    /// Initiator: R2 in; done.
    func receiveResumeResponse(_ message: [UInt8]) throws(HandshakeError) -> HandshakeOutput {
        let r2 = try ResumeResponse.decode(message)
        guard !r2.nonce.constantTimeEquals(ownNonce) else {
            throw HandshakeError(.reflectedMessage, "responder's nonce is our own")
        }
        try checkBinding(r2.binding)
        guard let session = resumption else { preconditionFailure("awaitingResumeResponse without a session") }
        symmetric.mixHash(message[0..<ResumeResponse.prefixSize])
        symmetric.mixKey(r2.nonce)
        peerPayload = try symmetric.decryptAndHash(r2.ciphertext)
        let derived = KeySchedule.derive(from: symmetric)
        let result = makeResult(keys: derived, session: session, resumed: true)
        return .finished(finish(result))
    }
}
