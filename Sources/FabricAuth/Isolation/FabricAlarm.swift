/// A frame failed verification on a channel: unauthenticated, so proven to
/// be nobody's doing in particular (``FailureAttribution/fabricAlarm``). An
/// on-fabric injector forging the peer's QPN and PSN looks exactly like
/// this, which is why it never quarantines the peer.
///
/// Reported to the log (rate-limited: the first frame of each reason on a
/// channel, then at every power of two) and to
/// ``ChannelObserver/fabricAlarm(_:)`` for every frame (a counter). The
/// channel itself follows its `FailurePolicy`.
public struct FabricAlarm: Sendable, Equatable, CustomStringConvertible {
    /// Why the frame was refused.
    public var reason: RejectReason
    /// The channel's authenticated peer, whose traffic the frame claimed to be.
    public var peer: String
    /// This side's QP number and the peer's (as bound in the handshake).
    public var localQPN: UInt32
    public var remoteQPN: UInt32
    /// The peer's GID as bound in the handshake (16 bytes).
    public var remoteGID: [UInt8]
    /// Frames refused for `reason` on this channel so far, this one included.
    public var count: UInt64
    /// Frames refused on this channel so far, all reasons.
    public var total: UInt64

    public var description: String {
        "fabric under attack? \(reason) frame on QP \(localQPN) claiming to come from \(peer) "
            + "(QP \(remoteQPN), GID \(Self.format(gid: remoteGID))): \(count) \(reason), \(total) rejected in all on this channel; "
            + "unauthenticated, so the peer is not quarantined"
    }

    /// The GID in the usual IPv6 notation (8 groups of 4 hex digits).
    static func format(gid: [UInt8]) -> String {
        guard gid.count == 16 else { return gid.map { String($0, radix: 16) }.joined() }
        return stride(from: 0, to: 16, by: 2).map { i in
            let v = UInt16(gid[i]) << 8 | UInt16(gid[i + 1])
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 4 - s.count) + s
        }.joined(separator: ":")
    }

    /// Whether the `count`th frame of a reason is logged: the first and every
    /// power of two, so a flood costs a few dozen lines, not one per frame.
    static func shouldLog(count: UInt64) -> Bool { count & (count &- 1) == 0 }
}
