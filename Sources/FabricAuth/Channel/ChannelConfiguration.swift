import Handshake
import Identity
import Verbs

/// What an authenticated queue pair needs from its owner: who we are, whom we
/// trust and allow, and the sizes of its buffers.
public struct ChannelConfiguration: Sendable {
    /// This endpoint's X.509-SVID and key (replaced at each handshake by the
    /// newest of ``sources`` when set).
    public var credential: Credential
    /// Chain verification and revocation of peers (likewise).
    public var verifier: IdentityVerifier
    /// Which verified peers may connect (default deny; likewise).
    public var policy: Policy
    /// Files the credential, bundles, deny list and policy are reloaded from
    /// while the process runs. When set, every handshake uses their newest
    /// values, and every channel rechecks its peer against them each
    /// ``trustRecheckInterval``; nil: the three fixed values above.
    public var sources: IdentitySources?
    /// How often an established channel re-evaluates its peer against the
    /// trust in force (bundle, deny list, policy; ``sources`` when set), from
    /// its own send and progress calls: a trust change reaches a channel that
    /// is used at least this often within this bound. Independently, a
    /// channel closes with `peer certificate expired` within
    /// ``expiryGrace`` of its peer's notAfter. Default 10 s; at most 30 s.
    public var trustRecheckInterval: Duration = .seconds(10)
    /// How long after the peer's notAfter (plus the verifier's clock-skew
    /// tolerance) the channel closes at the latest, when it is used.
    public var expiryGrace: Duration = .seconds(1)
    /// When the channel re-authenticates in band under a rotating credential
    /// (docs/protocol.md section 14): by default at a new credential, at 2/3
    /// of its own certificate's lifetime and at 5/6 of the peer's.
    public var reauthentication = ReauthenticationSettings()
    /// Data MAC suites in preference order (the handshake negotiates one).
    public var suites: [CipherSuite] = CipherSuite.defaultPreference
    /// Limits and failure policy of the per-message MAC.
    public var dataPath = DataPathConfiguration()
    /// Largest application message (`send`), in bytes; the size of every
    /// send and receive slot is this plus the 56-byte frame overhead. Bulk
    /// data moves by RDMA WRITE and READ (`irecv`, `isend`, `offerForRead`),
    /// not in slots, so a channel that only needs the rendezvous (NCCL's
    /// plug-in) sets it small. The default, 32 KiB, keeps a default channel
    /// (32 send and 66 receive slots) below the 4 MiB it took with 64 KiB
    /// slots and 32 receive slots.
    public var maxMessageSize = 32 * 1024
    /// Receive slots kept posted (each holds one message). At least
    /// ``minimumReceiveDepth``: the peer's grants, offers and READ done and
    /// the WRITE notices for our windows each take a slot until the receive
    /// pipeline has handled them.
    public var receiveDepth = 2 * ChannelConfiguration.defaultRemoteAccessDepth + 2
    /// Send slots (messages in flight before `send` waits for a completion).
    public var sendDepth = 32
    /// GID index of the local port; nil picks the IPv4-mapped RoCE v2 GID.
    public var gidIndex: Int?
    /// How many requests may be outstanding at once in each role (NCCL's
    /// 32 per comm by default): receives (`irecv`), READ offers
    /// (`offerForRead`) and READs (`iread`). One more is refused with
    /// ``ChannelError/tooManyOutstanding(what:limit:)`` until one completes.
    /// Each offer takes a type 2 memory window (allocated at its first use). At
    /// most 256; 0 makes a SEND-only channel (no windows, no control traffic,
    /// so two receive slots are enough).
    public var remoteAccessDepth = ChannelConfiguration.defaultRemoteAccessDepth
    /// WRITE target windows: one per buffer of each outstanding `irecv` (a
    /// grouped receive takes up to 8). nil: `remoteAccessDepth`, one buffer
    /// per receive. NCCL's plug-in sets `remoteAccessDepth` × 8 so that every
    /// outstanding receive may be grouped. At most 256, the most grants the
    /// peer keeps (`Rendezvous.peerEntryLimit`); 0 when `remoteAccessDepth` is.
    public var writeTargetWindows: Int?
    /// Bound on the TCP exchange and on the in-band handshake.
    public var setupTimeout: Duration = .seconds(10)
    /// RC transport parameters.
    public var connection = ConnectionParameters()
    /// Whether the channel posts a window bind or invalidation only once
    /// every send before it has been acknowledged. nil: only on Soft-RoCE.
    ///
    /// rdma_rxe (Linux 6.1, rxe_req.c) re-executes local operations when a
    /// retransmission rewinds its send queue: after a lost or late ACK, or an
    /// RNR NAK, `req_retry` restarts at the oldest unacknowledged request and
    /// the requester runs every bind and invalidation behind it again. A
    /// second bind of a bound type 2 window fails (IBV_WC_MW_BIND_ERR) and a
    /// second invalidation can leave the send queue stuck, so grouped
    /// receives across a link that drops or delays packets failed
    /// (Hardware/two-host-test). With nothing unacknowledged ahead of it, a
    /// local operation is never behind a rewind. Hardware NICs execute each
    /// request once, and the wait (a round trip before the next `irecv`'s
    /// binds) is not worth paying there.
    public var windowOperationsAwaitAcknowledgements: Bool?
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
    /// The process's quarantine (Isolation/): channels register with it, a
    /// peer whose authentic messages break the protocol (or whose handshakes
    /// the policy keeps denying) is quarantined there, and handshakes with a
    /// quarantined peer are refused. nil: no isolation (each failure closes
    /// its own channel only). Share one instance across the process.
    public var quarantine: PeerQuarantine?
    /// Where decisions and failures are reported (one line each).
    public var log: (@Sendable (String) -> Void)?
    /// The audit trail (docs/operations.md, "Audit log"): every handshake's
    /// outcome, each channel's close, epoch changes and rejected frames
    /// (rate-limited), listener refusals; nil: none is kept.
    public var audit: AuditLog?

    public init(credential: Credential, verifier: IdentityVerifier, policy: Policy) {
        self.credential = credential
        self.verifier = verifier
        self.policy = policy
    }

    /// A configuration whose every handshake and trust recheck reads `sources`.
    public init(sources: IdentitySources) {
        self.init(credential: sources.credential, verifier: sources.verifier(), policy: sources.policy)
        self.sources = sources
    }

    /// This configuration with the credential, verifier and policy in force
    /// now: what one handshake uses.
    func resolvingSources() -> ChannelConfiguration {
        guard let sources else { return self }
        var c = self
        c.credential = sources.credential
        c.verifier = sources.verifier()
        c.policy = sources.policy
        return c
    }

    /// The verifier and policy a live channel rechecks its peer with now.
    func currentTrust() -> (verifier: IdentityVerifier, policy: Policy) {
        guard let sources else { return (verifier, policy) }
        return (sources.verifier(), sources.policy)
    }

    /// 32 outstanding requests per direction: NCCL_NET_MAX_REQUESTS in
    /// NCCL's net headers (src/include/plugin/net/net_v8.h .. net_v12.h).
    public static let defaultRemoteAccessDepth = 32

    /// WRITE target windows after the default is applied.
    var writeTargets: Int { writeTargetWindows ?? remoteAccessDepth }

    /// The fewest receive slots that keep the peer's control traffic from
    /// meeting an empty receive queue: grants for our WRITEs (up to the
    /// peer's targets, which match ours in every configuration we make) and
    /// notices of WRITEs into our targets, or offers and READ done, plus two
    /// for the messages in flight around them. rxe (Linux 6.1) was seen to
    /// move the QP to ERROR under RNR while windows were bound and invalidated,
    /// so this is a requirement, not a tuning hint.
    public var minimumReceiveDepth: Int { 2 * max(remoteAccessDepth, writeTargets) + 2 }

    /// Bytes per send and receive slot: a data frame of the largest message,
    /// or of the largest control message of the rendezvous, whichever is
    /// bigger. Handshake messages (up to 24 KiB) don't set it: when slots are
    /// smaller, the channel keeps separate handshake buffers
    /// (`ChannelResources.handshakeBufferSize`).
    var slotSize: Int { DataPathLimits.frameOverhead + max(maxMessageSize, Self.largestControlMessage) }

    /// Whether slots are too small for a handshake message, so the channel
    /// keeps separate handshake buffers (ChannelResources).
    var needsHandshakeBuffers: Bool { slotSize < ChannelResources.handshakeBufferSize }

    /// Registered memory the channel's slots take: the send and receive
    /// rings, plus the handshake buffers when slots are smaller than a
    /// handshake message. Windowed transfers use the application's memory.
    public var registeredSlotBytes: Int {
        (sendDepth + receiveDepth) * slotSize
            + (needsHandshakeBuffers ? (ChannelResources.handshakeReceives + 1) * ChannelResources.handshakeBufferSize : 0)
    }

    /// The largest payload of a control message (a READ offer).
    static let largestControlMessage = max(ControlMessage.WriteGrant.size, ControlMessage.ReadOffer.size,
        ControlMessage.ReadDone.size)

    /// Checks the sizes and depths before any verbs resource is made, with an
    /// error that names the field and what it must be.
    public func validate() throws(ChannelError) {
        try ChannelError.lowering { try dataPath.validate() }
        guard trustRecheckInterval > .zero, trustRecheckInterval <= .seconds(30) else {
            throw .invalidConfiguration("trustRecheckInterval \(trustRecheckInterval) must be in (0, 30 s]")
        }
        try reauthentication.validate()
        guard expiryGrace >= .zero, expiryGrace <= .seconds(30) else {
            throw .invalidConfiguration("expiryGrace \(expiryGrace) must be in [0, 30 s]")
        }
        guard maxMessageSize >= 0, maxMessageSize <= dataPath.maxPayloadBytes else {
            throw .invalidConfiguration("maxMessageSize \(maxMessageSize) must be in 0...\(dataPath.maxPayloadBytes) (dataPath.maxPayloadBytes)")
        }
        guard sendDepth >= 1 else { throw .invalidConfiguration("sendDepth \(sendDepth) must be at least 1") }
        let limit = Rendezvous.peerEntryLimit
        guard (0...limit).contains(remoteAccessDepth) else {
            throw .invalidConfiguration("remoteAccessDepth \(remoteAccessDepth) must be in 0...\(limit)")
        }
        let targets = remoteAccessDepth == 0 ? 0...0 : 1...limit
        guard targets.contains(writeTargets) else {
            throw .invalidConfiguration("writeTargetWindows \(writeTargets) must be in \(targets) with remoteAccessDepth "
                + "\(remoteAccessDepth) (at most \(limit), the most grants a peer keeps)")
        }
        guard receiveDepth >= minimumReceiveDepth else {
            throw .invalidConfiguration("receiveDepth \(receiveDepth) must be at least \(minimumReceiveDepth) "
                + "(2 x max(remoteAccessDepth \(remoteAccessDepth), writeTargetWindows \(writeTargets)) + 2): "
                + "the peer's grants, offers and notices each hold a receive slot until handled")
        }
    }
}
