import Handshake
import Identity
import Verbs

/// What an authenticated queue pair needs from its owner: who we are, whom we
/// trust and allow, and the sizes of its buffers.
public struct ChannelConfiguration: Sendable {
    /// This endpoint's X.509-SVID and key.
    public var credential: Credential
    /// Chain verification and revocation of peers.
    public var verifier: IdentityVerifier
    /// Which verified peers may connect (default deny).
    public var policy: Policy
    /// Data MAC suites in preference order (the handshake negotiates one).
    public var suites: [CipherSuite] = CipherSuite.defaultPreference
    /// Limits and failure policy of the per-message MAC.
    public var dataPath = DataPathConfiguration()
    /// Largest application message, in bytes.
    public var maxMessageSize = 64 * 1024
    /// Receive slots kept posted (each holds one message).
    public var receiveDepth = 32
    /// Send slots (messages in flight before `send` waits for a completion).
    public var sendDepth = 32
    /// GID index of the local port; nil picks the IPv4-mapped RoCE v2 GID.
    public var gidIndex: Int?
    /// How many RDMA targets may be outstanding at once in each role: windows
    /// granted for incoming WRITEs (`irecv`), windows offered for READ
    /// (`offerForRead`), and READs in flight (`iread`). Each is a type 2
    /// memory window allocated with the channel. At most 256. Keep
    /// `receiveDepth` at least 2 × this + 2 so the peer's grants, offers and
    /// notices never meet an empty receive queue: rxe (Linux 6.1) was seen to
    /// move the QP to ERROR under RNR while windows were bound and invalidated.
    public var remoteAccessDepth = 8
    /// Bound on the TCP exchange and on the in-band handshake.
    public var setupTimeout: Duration = .seconds(10)
    /// RC transport parameters.
    public var connection = ConnectionParameters()
    /// Sent to the peer inside the handshake, encrypted, only once the peer is
    /// authenticated and authorised (e.g. memory-window keys); at most
    /// `HandshakeLimits.maxPayloadSize` bytes.
    public var handshakePayload: [UInt8] = []
    /// Counts completed handshakes and failures by reason; share one instance
    /// across channels to watch a whole process.
    public var handshakeCounters = HandshakeCounters()
    /// Told of each channel's opening and closing and each handshake's
    /// duration (FabricAuthMetrics' registry); nil: nobody is.
    public var observer: (any ChannelObserver)?
    /// Where decisions and failures are reported (one line each).
    public var log: (@Sendable (String) -> Void)?

    public init(credential: Credential, verifier: IdentityVerifier, policy: Policy) {
        self.credential = credential
        self.verifier = verifier
        self.policy = policy
    }

    /// Bytes per buffer slot: a data frame of the largest message, or the
    /// largest handshake message, whichever is bigger.
    var slotSize: Int {
        max(DataPathLimits.frameOverhead + maxMessageSize, HandshakeLimits.maxMessageSize)
    }
}
