/// One of a channel's memory windows. The pool has two named parts of
/// `limits.targets` and `limits.offers` windows: WRITE targets (bound for
/// remote write over an `irecv` buffer) and READ offers (bound for remote
/// read over an `offerForRead` buffer). The channel maps an ID to its
/// `MemoryWindow` with ``position(targets:)``.
struct WindowID: Hashable, Sendable, CustomStringConvertible {
    enum Part: Hashable, Sendable {
        case writeTarget
        case readOffer
    }

    let part: Part
    let index: Int

    static func writeTarget(_ i: Int) -> WindowID { WindowID(part: .writeTarget, index: i) }
    static func readOffer(_ i: Int) -> WindowID { WindowID(part: .readOffer, index: i) }

    /// Where the window is in the channel's array: targets first, then offers.
    func position(targets: Int) -> Int { part == .writeTarget ? index : targets + index }

    var description: String { part == .writeTarget ? "WRITE target window \(index)" : "READ offer window \(index)" }
}

/// What the peer uses to reach a bound window: its rkey and the address it
/// is bound at (a type 2 window's rkey changes at every bind).
struct WindowKey: Hashable, Sendable {
    var rkey: UInt32
    var address: UInt64
}
