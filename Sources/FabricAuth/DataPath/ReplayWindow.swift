/// Sliding-window replay filter over 64-bit sequence numbers: a ring of
/// `replayRingBlocks` 64-bit blocks (2048 bits, 256 bytes: four cache lines per
/// epoch) whose usable window is one block less, 1984 messages -- the layout of
/// WireGuard's (kernel noise.c counter_validate, wireguard-go replay/replay.go),
/// at a quarter of its 8192 bits.
///
/// Why 1984: on an RC QP with its own key, frames are verified in order and
/// the window only ever slides forward. Reordering comes from UD, from
/// multipath transports (Ultra Ethernet RUD, adaptive routing), and from a
/// receiver that verifies completions on several threads; the reorder depth is
/// bounded by the messages in flight, i.e. the peer's send-queue depth, which
/// is typically at most 1024 WRs. A per-QP footprint of 256 bytes keeps
/// thousands of QPs cheap. See docs/protocol.md, "Replay window".
///
/// Split in two so the receiver can verify between them: `check` never changes
/// state; `accept` is called only after the tag verified.
public struct ReplayWindow: Sendable {
    public enum Verdict: Sendable, Equatable {
        case fresh
        case replayed
        case tooOld
    }

    static let blockBits: UInt64 = 64
    static let ringBlocks = DataPathLimits.replayRingBlocks
    public static let windowSize = DataPathLimits.replayWindowSize

    private var ring = InlineArray<32, UInt64>(repeating: 0)
    /// The highest accepted sequence (0 before any).
    public private(set) var highest: UInt64 = 0

    public init() {}

    /// Whether `sequence` may be accepted. Pure.
    @inline(__always)
    public func check(_ sequence: UInt64) -> Verdict {
        if sequence > highest { return .fresh }
        if highest - sequence > Self.windowSize { return .tooOld }
        let block = Int((sequence / Self.blockBits) % UInt64(Self.ringBlocks))
        let bit = sequence % Self.blockBits
        return ring[block] & (1 << bit) == 0 ? .fresh : .replayed
    }

    /// Records `sequence` (which `check` found fresh) and slides the window.
    @inline(__always)
    public mutating func accept(_ sequence: UInt64) {
        let blockIndex = sequence / Self.blockBits
        if sequence > highest {
            let current = highest / Self.blockBits
            let diff = min(blockIndex - current, UInt64(Self.ringBlocks))
            var i: UInt64 = 1
            while i <= diff {  // clear the blocks the window slides over
                ring[Int((current + i) % UInt64(Self.ringBlocks))] = 0
                i += 1
            }
            highest = sequence
        }
        ring[Int(blockIndex % UInt64(Self.ringBlocks))] |= 1 << (sequence % Self.blockBits)
    }

    /// check + accept in one step, with WireGuard's limit: the shape of the
    /// kernel's counter_validate, used by the ported table test.
    public mutating func validate(_ sequence: UInt64, limit: UInt64) -> Bool {
        guard sequence < limit, check(sequence) == .fresh else { return false }
        accept(sequence)
        return true
    }
}
