import Handshake

/// How a channel re-authenticates in band (docs/protocol.md section 14).
/// Answering the peer's re-authentication is always on; these settings say
/// when this side starts one by itself and how long a run may take.
public struct ReauthenticationSettings: Sendable {
    /// Whether the channel starts re-authentications by itself: when a new
    /// local credential is loaded (``ChannelConfiguration/sources``), when its
    /// own certificate passes ``ownLifetimeFraction`` of its lifetime, and
    /// when the peer's passes ``peerLifetimeFraction`` (ReauthenticationSchedule).
    /// Off: only ``AuthenticatedQueuePair/reauthenticate()`` and the peer start one.
    public var automatic = true
    /// How often the channel looks at the triggers, from its own send and
    /// progress calls (a clock comparison per call between checks). A channel
    /// that only sends also polls its receive queue at each check, so it
    /// answers a peer's request within this bound.
    public var checkInterval: Duration = .seconds(1)
    /// From this side's first message of a run (A1 sent or received) to its
    /// end; a run that takes longer fails with `timeout` and closes the
    /// channel. Long by default (5 min), because a run advances only while
    /// both applications drive their channels, and a training job's may sit
    /// idle between collectives (NCCL's proxy calls `test` only while
    /// operations are pending): a stalled run keeps the old keys, which stay
    /// bound to the old certificates, and the trust recheck still cuts a peer
    /// off at its certificate's expiry, whatever the run is doing.
    public var timeout: Duration = .seconds(300)
    /// Share of the own leaf's validity after which a re-authentication starts (2/3).
    public var ownLifetimeFraction = 2.0 / 3.0
    /// Share of the peer leaf's validity after which this side asks the peer
    /// to re-authenticate (5/6), if the peer has not by then.
    public var peerLifetimeFraction = 5.0 / 6.0

    public init() {}

    func validate() throws(ChannelError) {
        guard checkInterval > .zero, checkInterval <= .seconds(30) else {
            throw .invalidConfiguration("reauthentication.checkInterval \(checkInterval) must be in (0, 30 s]")
        }
        guard timeout > .zero, timeout <= .seconds(3600) else {
            throw .invalidConfiguration("reauthentication.timeout \(timeout) must be in (0, 3600 s]")
        }
        for (name, value) in [("ownLifetimeFraction", ownLifetimeFraction), ("peerLifetimeFraction", peerLifetimeFraction)] {
            guard value > 0, value < 1 else {
                throw .invalidConfiguration("reauthentication.\(name) \(value) must be in (0, 1)")
            }
        }
    }
}
