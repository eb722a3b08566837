/// What a finished full handshake leaves behind so later QPs between the same two
/// endpoints can skip certificates and Diffie-Hellman (docs/protocol.md, "Resumption").
/// Both sides hold one with equal ID and secret, each recording its own role; the caller caches it (keyed by `sessionID`) and hands
/// it to `HandshakeMachine(resuming:)` or to the responder's `sessionLookup`.
public struct ResumableSession: Sendable {
    /// 16 bytes, derived from the transcript, equal on both sides; sent in the clear in R1.
    public let sessionID: [UInt8]
    /// 32-byte resumption secret, shared by every copy of this value (a class):
    /// `wipe()` it when the session is evicted, and every copy is wiped.
    public let secret: SecretBytes
    public let suite: CipherSuite
    /// The peer as verified in the full handshake.
    public let peer: any VerifiedPeer
    /// min(full handshake time + session lifetime, our certificate's notAfter, the peer's notAfter).
    public let notAfter: Timestamp
    /// This side's role in the full handshake. The session resumes only in the same
    /// role: an initiator's copy only from `HandshakeMachine(resuming:)`, a
    /// responder's only through `sessionLookup` (`.sessionRoleMismatch` otherwise),
    /// so a session cannot be reflected to its owner (docs/protocol.md, section 6).
    public let role: ChannelBinding.Role

    public init(sessionID: [UInt8], secret: SecretBytes, suite: CipherSuite, peer: any VerifiedPeer, notAfter: Timestamp,
                role: ChannelBinding.Role) {
        precondition(sessionID.count == HandshakeLimits.sessionIDSize && secret.count == HandshakeLimits.secretSize)
        self.sessionID = sessionID
        self.secret = secret
        self.suite = suite
        self.peer = peer
        self.notAfter = notAfter
        self.role = role
    }

    /// Zeroes the secret, for every copy of this session.
    public func wipe() { secret.wipe() }

    /// The same session with a secret of its own (which its holder wipes
    /// without touching this one's).
    public func copied() -> ResumableSession {
        ResumableSession(sessionID: sessionID, secret: secret.copy(), suite: suite, peer: peer, notAfter: notAfter, role: role)
    }
}
