import Synchronization

/// Where a request slot stands when a MAC worker serves its comm
/// (PluginWorkers.swift). Only the owner of a state moves it on:
///
///   free --(NCCL's thread: isend/irecv fill the slot)--> queued
///   queued --(worker: channel.isend/irecv posted)------> posted
///   posted --(worker: verified, copied, sizes written)-> done | failed
///   queued --(worker: the channel refused to start it)-> failed
///   done | failed --(NCCL's thread: test reported it)--> free
///
/// `done` and `failed` are stored with release ordering after everything the
/// worker wrote into the slot, and read with acquire ordering by `test`, so
/// the sizes (and the bytes copied into NCCL's buffers) are visible to NCCL's
/// thread before it can see `done`.
enum RequestState: Int {
    case free = 0, queued, posted, done, failed
}

/// A bounded single-producer single-consumer queue of slot indices, allocated
/// once: NCCL's thread pushes the requests of one comm in the order NCCL
/// issued them, the comm's worker takes them in that order (so sends with one
/// tag are matched to the peer's grants as NCCL expects). Pushing and taking
/// allocate nothing and never wait.
final class SlotQueue: @unchecked Sendable {  // one producer thread, one consumer thread, by contract
    let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Int>
    /// Next index the consumer takes; written only by the consumer.
    private let head = Atomic<Int>(0)
    /// Next index the producer fills; written only by the producer.
    private let tail = Atomic<Int>(0)

    /// `capacity` must be a power of two (indices wrap by masking).
    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "SlotQueue capacity \(capacity) is not a power of two")
        self.capacity = capacity
        mask = capacity - 1
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0, count: capacity)
    }

    deinit { storage.deallocate() }

    /// Producer only. False when full (the caller's slot table is sized so it never is).
    func push(_ value: Int) -> Bool {
        let t = tail.load(ordering: .relaxed)
        guard t - head.load(ordering: .acquiring) < capacity else { return false }
        storage[t & mask] = value
        // Sequentially consistent: the worker's idle check (MACWorker.run) pairs
        // this store with its own store of `sleeping`, so one of the two threads
        // always sees the other and no wake-up is lost.
        tail.store(t + 1, ordering: .sequentiallyConsistent)
        return true
    }

    /// Consumer only: the oldest value, left in the queue.
    func peek() -> Int? {
        let h = head.load(ordering: .relaxed)
        guard h != tail.load(ordering: .sequentiallyConsistent) else { return nil }
        return storage[h & mask]
    }

    /// Consumer only: drops the value `peek` returned.
    func removeFirst() {
        let h = head.load(ordering: .relaxed)
        precondition(h != tail.load(ordering: .acquiring), "removeFirst on an empty SlotQueue")
        head.store(h + 1, ordering: .releasing)
    }

    /// Consumer only: whether nothing is queued.
    var isEmpty: Bool { peek() == nil }
}
