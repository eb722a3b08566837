/// Verified SEND messages waiting for `receive`, in arrival order: the
/// receive slot each sits in and its payload length. A ring as deep as the
/// receive queue, allocated with the channel; the slot is reposted once the
/// application has taken the message.
struct Inbox {
    private var slots: [Int]
    private var lengths: [Int]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        slots = Array(repeating: 0, count: capacity)
        lengths = Array(repeating: 0, count: capacity)
    }

    var isEmpty: Bool { count == 0 }

    mutating func push(slot: Int, length: Int) {
        precondition(count < slots.count, "more messages than receive slots")
        let i = (head + count) % slots.count
        slots[i] = slot
        lengths[i] = length
        count += 1
    }

    mutating func pop() -> (slot: Int, length: Int) {
        precondition(count > 0, "pop from an empty inbox")
        let r = (slots[head], lengths[head])
        head = (head + 1) % slots.count
        count -= 1
        return r
    }
}
