/// The one value a finished handshake hands to the data path (nebula's habit).
/// It holds secrets, each its own copy (SecretBytes): the data path copies what it needs
/// into its own storage and `wipe()`s this; the caller that caches `session` caches
/// `session.copied()`.
public struct HandshakeResult: Sendable {
    public let role: ChannelBinding.Role
    public let suite: CipherSuite
    /// The data path's first key epoch; traffic secrets below are secret_0.
    public let epoch: UInt32
    /// 32-byte traffic secret for initiator -> responder messages.
    public let initiatorToResponder: SecretBytes
    /// 32-byte traffic secret for responder -> initiator messages.
    public let responderToInitiator: SecretBytes
    public let peer: any VerifiedPeer
    /// The peer's application payload (e.g. rkeys, memory-window keys), authenticated and confidential.
    public let peerPayload: [UInt8]
    /// For later QPs between the same endpoints.
    public let session: ResumableSession
    /// True when this came from the resumption exchange.
    public let resumed: Bool
    public let localBinding: ChannelBinding
    public let remoteBinding: ChannelBinding
    /// 32-byte re-authentication anchor (docs/protocol.md section 14.1): the channel
    /// keeps it (or hands it to a ``ReauthenticationMachine``) for in-band
    /// re-authentication and wipes it with this result otherwise.
    public let reauthenticationAnchor: SecretBytes

    init(role: ChannelBinding.Role, suite: CipherSuite, initiatorToResponder: SecretBytes, responderToInitiator: SecretBytes,
         peer: any VerifiedPeer, peerPayload: [UInt8], session: ResumableSession, resumed: Bool,
         localBinding: ChannelBinding, remoteBinding: ChannelBinding, reauthenticationAnchor: SecretBytes) {
        self.role = role
        self.suite = suite
        self.epoch = 0
        self.initiatorToResponder = initiatorToResponder
        self.responderToInitiator = responderToInitiator
        self.peer = peer
        self.peerPayload = peerPayload
        self.session = session
        self.resumed = resumed
        self.localBinding = localBinding
        self.remoteBinding = remoteBinding
        self.reauthenticationAnchor = reauthenticationAnchor
    }

    /// The secret this side sends with.
    public var sendSecret: SecretBytes { role == .initiator ? initiatorToResponder : responderToInitiator }
    /// The secret this side receives with.
    public var receiveSecret: SecretBytes { role == .initiator ? responderToInitiator : initiatorToResponder }

    /// Zeroes both traffic secrets, the re-authentication anchor and this result's copy of the session secret.
    public func wipe() {
        reauthenticationAnchor.wipe()
        initiatorToResponder.wipe()
        responderToInitiator.wipe()
        session.wipe()
    }
}
