/// The one value a finished handshake hands to the data path (nebula's habit).
/// It holds secrets: the data path should copy what it needs into its own storage and `wipe()` this.
public struct HandshakeResult: Sendable {
    public let role: ChannelBinding.Role
    public let suite: CipherSuite
    /// The data path's first key epoch; traffic secrets below are secret_0.
    public let epoch: UInt32
    /// 32-byte traffic secret for initiator -> responder messages.
    public private(set) var initiatorToResponder: [UInt8]
    /// 32-byte traffic secret for responder -> initiator messages.
    public private(set) var responderToInitiator: [UInt8]
    public let peer: any VerifiedPeer
    /// The peer's application payload (e.g. rkeys, memory-window keys), authenticated and confidential.
    public let peerPayload: [UInt8]
    /// For later QPs between the same endpoints.
    public private(set) var session: ResumableSession
    /// True when this came from the resumption exchange.
    public let resumed: Bool
    public let localBinding: ChannelBinding
    public let remoteBinding: ChannelBinding

    init(role: ChannelBinding.Role, suite: CipherSuite, initiatorToResponder: [UInt8], responderToInitiator: [UInt8],
         peer: any VerifiedPeer, peerPayload: [UInt8], session: ResumableSession, resumed: Bool,
         localBinding: ChannelBinding, remoteBinding: ChannelBinding) {
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
    }

    /// The secret this side sends with.
    public var sendSecret: [UInt8] { role == .initiator ? initiatorToResponder : responderToInitiator }
    /// The secret this side receives with.
    public var receiveSecret: [UInt8] { role == .initiator ? responderToInitiator : initiatorToResponder }

    /// Zeroes both traffic secrets and the session secret held by this value.
    public mutating func wipe() {
        initiatorToResponder.wipe()
        responderToInitiator.wipe()
        session.wipe()
    }
}
