#if canImport(Glibc)
import Glibc
#endif
import Verbs

/// The tables behind the request handles of one channel, all allocated when
/// the channel is made: targets granted for incoming WRITEs, windows offered
/// for READ, READs in flight, the peer's grants and offers not yet used, and
/// authentic SEND messages waiting for `receive`.
final class RemoteAccessState {
    enum TargetState: Equatable {
        case free
        case granted
        case done(Int)
        case failed(RejectReason, tornDown: Bool)
    }

    /// An `irecv`: window `index` of ChannelResources.windows, bound over
    /// `memory[offset ..< offset + capacity]`.
    struct Target {
        var generation: UInt32 = 0
        var state = TargetState.free
        var memory: ChannelMemory?
        var offset = 0
        var capacity = 0
    }

    enum OfferState: Equatable {
        case free
        case offered
        /// The reader is done; the local invalidation has this ticket.
        case closing(ticket: UInt64)
    }

    /// An `offerForRead`: window `depth + index`.
    struct Offer {
        var generation: UInt32 = 0
        var state = OfferState.free
        var memory: ChannelMemory?
        var length = 0
    }

    enum ReadState: Equatable {
        case free
        case reading(ticket: UInt64)
        case done(Int)
        case failed(RejectReason, tornDown: Bool)
    }

    /// An `iread`: the offer's data header and tag are kept in `readBytes`.
    struct Read {
        var generation: UInt32 = 0
        var state = ReadState.free
        var memory: ChannelMemory?
        var offset = 0
        var length = 0
        var offerIndex: UInt32 = 0
        var offerGeneration: UInt32 = 0
    }

    /// A grant or offer from the peer, not yet used; `arrival` orders them so
    /// that requests with the same tag match in the order the peer made them
    /// (NCCL's per-tag FIFO).
    struct Pending {
        var used = false
        var arrival: UInt64 = 0
        var tag: UInt32 = 0
        var grant = ControlMessage.WriteGrant(index: 0, generation: 0, tag: 0, rkey: 0, address: 0, capacity: 0)
    }

    /// Most grants and offers the peer may have outstanding towards us.
    static let peerLimit = 256

    let depth: Int
    var targets: [Target]
    var offers: [Offer]
    var reads: [Read]
    var peerGrants: [Pending]
    var peerOffers: [Pending]
    /// 56 bytes (data header + tag) per peer offer, then per read.
    let offerBytes: UnsafeMutableRawBufferPointer
    let readBytes: UnsafeMutableRawBufferPointer
    var arrivals: UInt64 = 0
    /// The QP's remote rights so far (none until the first irecv/offer).
    var access: AccessFlags = []
    var metrics = RemoteAccessMetrics()

    /// SEND messages that verified, in arrival order: (receive slot, payload length).
    var pendingSlots: [Int]
    var pendingLengths: [Int]
    var pendingHead = 0
    var pendingCount = 0

    init(depth: Int, receiveDepth: Int) {
        self.depth = depth
        targets = Array(repeating: Target(), count: depth)
        offers = Array(repeating: Offer(), count: depth)
        reads = Array(repeating: Read(), count: depth)
        peerGrants = Array(repeating: Pending(), count: Self.peerLimit)
        peerOffers = Array(repeating: Pending(), count: Self.peerLimit)
        offerBytes = .allocate(byteCount: Self.peerLimit * DataPathLimits.frameOverhead, alignment: 16)
        readBytes = .allocate(byteCount: depth * DataPathLimits.frameOverhead, alignment: 16)
        pendingSlots = Array(repeating: 0, count: receiveDepth)
        pendingLengths = Array(repeating: 0, count: receiveDepth)
    }

    deinit {
        offerBytes.deallocate()
        readBytes.deallocate()
    }

    func offerRecord(_ i: Int) -> UnsafeMutableRawPointer { offerBytes.baseAddress! + i * DataPathLimits.frameOverhead }
    func readRecord(_ i: Int) -> UnsafeMutableRawPointer { readBytes.baseAddress! + i * DataPathLimits.frameOverhead }

    // MARK: Received messages

    func pushMessage(slot: Int, length: Int) {
        let i = (pendingHead + pendingCount) % pendingSlots.count
        pendingSlots[i] = slot
        pendingLengths[i] = length
        pendingCount += 1
    }

    func popMessage() -> (slot: Int, length: Int) {
        let r = (pendingSlots[pendingHead], pendingLengths[pendingHead])
        pendingHead = (pendingHead + 1) % pendingSlots.count
        pendingCount -= 1
        return r
    }

    // MARK: The peer's grants and offers

    /// Stores a peer grant or offer; false when the peer exceeded the limit.
    func store(_ entry: Pending, in table: inout [Pending]) -> Int? {
        guard let i = table.firstIndex(where: { !$0.used }) else { return nil }
        arrivals += 1
        table[i] = entry
        table[i].used = true
        table[i].arrival = arrivals
        return i
    }

    /// The oldest unused entry with `tag`.
    func oldest(tag: UInt32, in table: [Pending]) -> Int? {
        var best: Int?
        for i in table.indices where table[i].used && table[i].tag == tag {
            if best == nil || table[i].arrival < table[best!].arrival { best = i }
        }
        return best
    }
}
