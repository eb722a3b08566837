/// An outstanding transfer on an authenticated channel (NCCL's `request`):
/// returned by `isend`, `irecv`, `iread` and `offerForRead`, completed by
/// `test` (or `wait`), or ended by `cancel`. A plain value; the rendezvous
/// machine and the channel's tables hold the state, so starting and
/// finishing a request allocates nothing.
public struct ChannelRequest: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        /// `isend`: RDMA WRITE into the peer's granted window plus its notice.
        case send
        /// `irecv`: windows granted to the peer, one WRITE each.
        case receive
        /// `iread`: an RDMA READ of a window the peer offered.
        case read
        /// `offerForRead`: a window offered to the peer for one READ.
        case offer
    }

    /// What the request is, with what identifies it.
    enum Handle: Hashable, Sendable {
        /// The send-queue ticket of the WRITE's notice.
        case send(ticket: UInt64)
        case receive(ReceiveHandle)
        case read(ReadHandle)
        case offer(OfferHandle)
    }

    let handle: Handle
    /// Bytes the request moves (send, read, offer) or can take (receive).
    let size: Int

    public var kind: Kind {
        switch handle {
        case .send: .send
        case .receive: .receive
        case .read: .read
        case .offer: .offer
        }
    }

    public var description: String {
        switch handle {
        case .send(let ticket): "send request (ticket \(ticket))"
        case .receive(let h): "receive request \(h.index).\(h.generation)"
        case .read(let h): "read request \(h.index).\(h.generation)"
        case .offer(let h): "offer request \(h.index).\(h.generation)"
        }
    }
}

/// One buffer of a grouped receive: `memory[range]`, for a WRITE with `tag`.
public struct ReceiveBuffer {
    public var memory: ChannelMemory
    public var range: Range<Int>
    public var tag: UInt32

    public init(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0) {
        self.memory = memory
        self.range = range
        self.tag = tag
    }
}
