// Resumption: R1, R2, R3 (docs/protocol.md, "Resumption"). Fresh nonces from both
// sides, both QP bindings and the roles of the full handshake in the transcript; no
// certificate verification, no Diffie-Hellman. The role-bound session key enters as a
// Noise PSK would (MixKeyAndHash, Noise rev 34 section 9).
//
// Why three messages (handshake version 2): R1 alone proves possession of the session,
// not freshness, so an R1 captured on one QP used to authenticate another (issue 12).
// The responder now finishes only on R3, sealed under a key that depends on its own
// fresh nonce_r: a replayed R1 gets an R2 that the replayer cannot answer, and the
// initiator's payload is delivered only from R3.
//
// Refused after the session's notAfter (lifetime, either certificate's expiry), whenever
// the injected `isStillValid` check (revocation) or policy says no, and when this side's
// role differs from the one it had in the full handshake.

extension HandshakeMachine {
    func checkSessionUsable(_ session: ResumableSession, now: Timestamp) throws(HandshakeError) {
        guard session.role == role else {
            throw HandshakeError(.sessionRoleMismatch,
                "session of a full handshake where this side was \(session.role), resumed as \(role)")
        }
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
        symmetric.mixHash(prefix)                // both bindings: R1 is for this QP only
        symmetric.mixHash([session.suite.rawValue])
        symmetric.mixKey(nonce)                  // fresh key per R1 even with the same secret
        // The roles of the full handshake, as this side's record says; equal at honest ends.
        let initiatorFullRole: ChannelBinding.Role = role == .initiator
            ? session.role : (session.role == .initiator ? .responder : .initiator)
        let psk = KeySchedule.resumptionPSK(secret: session.secret, fullHandshakeRoleOfInitiator: initiatorFullRole)
        symmetric.mixKeyAndHash(psk)             // only holders of the session can go on
        psk.wipe()
    }

    /// Initiator: R1.
    func startResumption(_ session: ResumableSession, now: Timestamp) throws(HandshakeError) -> [UInt8] {
        try checkSessionUsable(session, now: now)
        chosenSuite = session.suite
        ownNonce = config.random.bytes(HandshakeLimits.nonceSize)
        let prefix = ResumeRequest.encodePrefix(sessionID: session.sessionID, nonce: ownNonce, binding: config.localBinding,
                                                responderBinding: config.expectedRemoteBinding)
        absorbResumeRequest(prefix: prefix[...], nonce: ownNonce, session: session)
        let r1 = prefix + symmetric.encryptAndHash([])
        lastSent = r1
        phase = .awaitingResumeResponse
        return r1
    }

    /// Responder: R1 in, R2 out. Not finished: R1 may be a replay.
    func receiveResumeRequest(_ message: [UInt8], now: Timestamp) throws(HandshakeError) -> [UInt8] {
        let r1 = try ResumeRequest.decode(message)
        try checkBinding(r1.binding)
        guard r1.responderBinding == config.localBinding else {
            throw HandshakeError(.responderBindingMismatch,
                "R1 was made for responder \(r1.responderBinding), this QP is \(config.localBinding)")
        }
        guard let lookup = config.sessionLookup, let session = lookup(r1.sessionID) else {
            throw HandshakeError(.unknownSession, "no cached session with this ID")
        }
        try checkSessionUsable(session, now: now)
        chosenSuite = session.suite
        symmetric.wipe()  // the full handshake's state, unused on this path
        symmetric = SymmetricState(protocolName: KeySchedule.resumeProtocolName)
        absorbResumeRequest(prefix: message[0..<ResumeRequest.prefixSize], nonce: r1.nonce, session: session)
        _ = try symmetric.decryptAndHash(r1.ciphertext)
        resumedSession = session

        ownNonce = config.random.bytes(HandshakeLimits.nonceSize)
        guard !ownNonce.constantTimeEquals(r1.nonce) else {
            throw HandshakeError(.reflectedMessage, "initiator's nonce equals ours")
        }
        let prefix = ResumeResponse.encodePrefix(nonce: ownNonce, binding: config.localBinding)
        symmetric.mixHash(prefix)
        symmetric.mixKey(ownNonce)
        // Confidential to holders of the session in the initiator role, under a key fresh
        // for this QP; sent before R3 as M2's identity block is before M3.
        let r2 = prefix + symmetric.encryptAndHash(config.payload)
        lastSent = r2
        phase = .awaitingResumeFinished
        return r2
    }

    /// Initiator: R2 in, R3 (key confirmation and this side's payload) out; done.
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
        let header = EncryptedMessage.header(.resumeFinished)
        symmetric.mixHash(header)
        let r3 = header + symmetric.encryptAndHash(config.payload)
        let derived = KeySchedule.derive(from: symmetric)
        keys = derived  // wiped with the machine
        let result = makeResult(keys: derived, session: session, resumed: true)
        return .sendAndFinish(r3, finish(result))
    }

    /// Responder: R3 in; done. Only now has the initiator shown it saw nonce_r.
    func receiveResumeFinished(_ message: [UInt8]) throws(HandshakeError) -> HandshakeOutput {
        let ciphertext = try ResumeFinished.decode(message)
        guard let session = resumedSession else { preconditionFailure("awaitingResumeFinished without a session") }
        symmetric.mixHash(message[0..<MessageHeader.size])
        peerPayload = try symmetric.decryptAndHash(ciphertext)
        let derived = KeySchedule.derive(from: symmetric)
        keys = derived  // wiped with the machine
        let result = makeResult(keys: derived, session: session, resumed: true)
        return .finished(finish(result))
    }
}
