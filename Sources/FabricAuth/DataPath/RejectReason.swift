/// Why a receiver refused a frame. Checked in this order (DataPathReceiver.swift).
public enum RejectReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The receiver was closed by an earlier fatal rejection.
    case sessionClosed = 0
    /// Shorter than header + tag, or shorter than the header's length says.
    case truncated
    /// Payload length above the configured maximum, or the frame is longer than
    /// the header's length says (extended).
    case oversized
    /// Unknown version, other suite, unknown opcode, or nonzero reserved bits.
    case malformedHeader
    /// Direction field is not the peer's sending direction (reflection).
    case wrongDirection
    /// Header QPN is not this queue pair (frame moved to another QP).
    case wrongQPN
    /// Epoch neither previous, current nor next (from the future).
    case unknownEpoch
    /// Epoch older than the previous one, or the previous one after its grace.
    case retiredEpoch
    /// Sequence at or above the reject-after-messages limit.
    case sequenceLimit
    /// Sequence already seen inside the replay window.
    case replayed
    /// Sequence behind the replay window.
    case tooOld
    /// The tag does not verify.
    case badTag
    /// An RDMA WRITE notice or READ completion names no memory window this
    /// side granted or read (checked by the channel before the MAC).
    case unknownTarget

    public var description: String {
        switch self {
        case .sessionClosed: "session closed"
        case .truncated: "truncated"
        case .oversized: "oversized"
        case .malformedHeader: "malformed header"
        case .wrongDirection: "wrong direction"
        case .wrongQPN: "wrong QPN"
        case .unknownEpoch: "unknown epoch"
        case .retiredEpoch: "retired epoch"
        case .sequenceLimit: "sequence limit"
        case .replayed: "replayed"
        case .tooOld: "too old"
        case .badTag: "bad tag"
        case .unknownTarget: "unknown target"
        }
    }
}
