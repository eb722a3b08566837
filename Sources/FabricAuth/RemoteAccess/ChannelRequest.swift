/// An outstanding transfer on an authenticated channel (NCCL's `request`):
/// returned by `isend`, `irecv`, `iread` and `offerForRead`, completed by
/// `test` (or `wait`). A plain value; tables inside the channel hold the state,
/// so starting and finishing a request allocates nothing.
public struct ChannelRequest: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        /// `isend`: RDMA WRITE into the peer's granted window plus its notice.
        case send
        /// `irecv`: a window granted to the peer for one WRITE.
        case receive
        /// `iread`: an RDMA READ of a window the peer offered.
        case read
        /// `offerForRead`: a window offered to the peer for one READ.
        case offer
    }

    public let kind: Kind
    /// Table slot (receive, read, offer).
    let index: UInt32
    /// Generation of the slot (receive, read, offer) or send-queue ticket (send).
    let value: UInt64
    /// Bytes the request moves (for send, read and offer; a receive learns it on completion).
    let size: Int

    public var description: String { "\(kind) request \(index).\(value)" }
}
