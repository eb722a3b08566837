/// Something the peer sent that a later local call matches by tag.
protocol TaggedEntry {
    var tag: UInt32 { get }
}

extension PeerGrant: TaggedEntry {}
extension PeerOffer: TaggedEntry {}

/// The peer's grants (or offers) not yet used, in a fixed table: `take`
/// returns the oldest with a tag, so requests with the same tag match in
/// the order the peer made them (NCCL's per-tag FIFO). Full means the peer
/// exceeded its limit.
struct PeerQueue<Entry: TaggedEntry> {
    private var entries: [Entry?]
    private var arrivals: [UInt64]
    private var arrived: UInt64 = 0
    private(set) var count = 0

    init(capacity: Int) {
        entries = Array(repeating: nil, count: capacity)
        arrivals = Array(repeating: 0, count: capacity)
    }

    var capacity: Int { entries.count }

    /// Stores `entry`; its slot, or nil when the table is full.
    mutating func store(_ entry: Entry) -> Int? {
        guard count < entries.count, let i = entries.firstIndex(where: { $0 == nil }) else { return nil }
        arrived += 1
        entries[i] = entry
        arrivals[i] = arrived
        count += 1
        return i
    }

    /// The slot of the oldest entry with `tag`.
    func oldest(tag: UInt32) -> Int? {
        var best: Int?
        for i in entries.indices {
            guard let e = entries[i], e.tag == tag else { continue }
            if best == nil || arrivals[i] < arrivals[best!] { best = i }
        }
        return best
    }

    subscript(slot: Int) -> Entry? { entries[slot] }

    mutating func remove(_ slot: Int) {
        precondition(entries[slot] != nil, "no peer entry in slot \(slot)")
        entries[slot] = nil
        count -= 1
    }

    mutating func removeAll() {
        for i in entries.indices { entries[i] = nil }
        count = 0
    }
}
