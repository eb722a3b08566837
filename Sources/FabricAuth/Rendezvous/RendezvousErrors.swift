/// Why the machine refused an application call. The channel turns each into
/// a `ChannelError`; none of them changes the machine's state.
enum RendezvousRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case closed
    /// The handle was completed, cancelled, or never issued by this channel.
    case notOutstanding
    case emptyBuffer
    case bufferCount(Int)
    /// Every request slot (or window) of this kind is taken.
    case tooManyOutstanding(String, limit: Int)
    /// The peer's granted buffer is smaller than the message.
    case messageLargerThanGrant(needed: Int, available: Int)
    /// The local buffer is smaller than the data the peer offered.
    case offerLargerThanBuffer(needed: Int, available: Int)
    /// A posted RDMA READ can't be recalled; test it to completion.
    case readInFlight

    var description: String {
        switch self {
        case .closed: "the channel is closed"
        case .notOutstanding: "the request is not outstanding"
        case .emptyBuffer: "a WRITE target or READ offer needs at least one byte"
        case .bufferCount(let n): "a receive covers 1 to \(Rendezvous.maxBuffersPerReceive) buffers, not \(n)"
        case .tooManyOutstanding(let what, let limit): "all \(limit) \(what) are outstanding; test() them first"
        case .messageLargerThanGrant(let needed, let available):
            "the peer's receive buffer holds \(available) bytes, the message has \(needed)"
        case .offerLargerThanBuffer(let needed, let available):
            "the peer offered \(needed) bytes, the buffer holds \(available)"
        case .readInFlight: "a posted RDMA READ can't be cancelled; test it to completion"
        }
    }
}

/// An authenticated peer broke the rendezvous protocol (a flood past the
/// limits, a READ done for nothing). The channel closes.
struct RendezvousViolation: Error, Equatable, Sendable, CustomStringConvertible {
    let what: String
    var description: String { what }
}

/// What the channel must do after a window it invalidated is closed.
enum WindowClosedAction: Equatable, Sendable {
    case none
    /// A WRITE notice claimed `length` bytes in target `target`: the window
    /// is shut, so verify the bytes now and report with
    /// `writeVerified`/`writeRejected`.
    case verifyWrite(target: Int, length: Int)
}
