#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs

/// A completion queue (`ibv_create_cq`, IB spec 11.2.6) polled with plain
/// `ibv_poll_cq` (rdma-core 44's extended-CQ `ibv_start_poll` misbehaves on
/// rxe). Busy polling fills a caller buffer; `wait` blocks on the completion
/// channel with a timeout. A scratch array of `ibv_wc` is allocated once here,
/// so polling allocates nothing per completion.
///
/// Not for concurrent use from several threads (the scratch array is shared);
/// each poller owns its CQ, as NCCL's net plug-ins do.
public final class CompletionQueue: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_cq>
    public let context: Context
    public let channel: CompletionChannel?
    public let capacity: Int
    private let scratch: UnsafeMutablePointer<ibv_wc>
    private let scratchCount: Int
    private var unackedEvents: UInt32 = 0

    /// - Parameters:
    ///   - capacity: minimum number of entries (the provider may round up).
    ///   - channel: give one for blocking `wait`s.
    ///   - pollBatch: most completions one `poll` call takes.
    public init(context: Context, capacity: Int, channel: CompletionChannel? = nil, pollBatch: Int = 32) throws(VerbsError) {
        precondition(capacity > 0 && pollBatch > 0)
        self.context = context
        self.channel = channel
        pointer = try VerbsCall.pointer("ibv_create_cq", reason: "\(capacity) entries") {
            ibv_create_cq(context.pointer, Int32(capacity), nil, channel?.pointer, 0)
        }
        self.capacity = Int(pointer.pointee.cqe)
        scratchCount = pollBatch
        scratch = .allocate(capacity: pollBatch)
        scratch.initialize(repeating: ibv_wc(), count: pollBatch)
    }

    deinit {
        // Every event taken with ibv_get_cq_event must be acked before destroy (man ibv_get_cq_event).
        if unackedEvents > 0 { ibv_ack_cq_events(pointer, unackedEvents) }
        let rc = ibv_destroy_cq(pointer)
        assert(rc == 0, "ibv_destroy_cq: \(rc) (a QP still attached?)")
        scratch.deallocate()
    }

    /// Polls up to `buffer.count` completions without blocking. Returns how many were written.
    @inline(__always)
    public func poll(into buffer: UnsafeMutableBufferPointer<WorkCompletion>) throws(VerbsError) -> Int {
        var written = 0
        while written < buffer.count {
            let want = Int32(min(scratchCount, buffer.count - written))
            let n = ibv_poll_cq(pointer, want, scratch)
            if n < 0 {
                throw VerbsError(.callFailed, function: "ibv_poll_cq", errno: -n == 0 ? nil : -n,
                    reason: "CQ overrun or device error")
            }
            for i in 0..<Int(n) { buffer[written + i] = WorkCompletion(scratch[i]) }
            written += Int(n)
            if n < want { break }
        }
        return written
    }

    /// Polls one completion without blocking.
    @inline(__always)
    public func pollOne() throws(VerbsError) -> WorkCompletion? {
        let n = ibv_poll_cq(pointer, 1, scratch)
        if n < 0 { throw VerbsError(.callFailed, function: "ibv_poll_cq", errno: -n == 0 ? nil : -n) }
        return n == 0 ? nil : WorkCompletion(scratch[0])
    }

    /// Busy-polls until `count` completions arrived or `timeout` passed;
    /// allocates the returned array (for tests and control paths).
    public func poll(count: Int, timeout: Duration = .seconds(5)) throws(VerbsError) -> [WorkCompletion] {
        var out: [WorkCompletion] = []
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while out.count < count {
            if let wc = try pollOne() {
                out.append(wc)
            } else if clock.now >= deadline {
                throw VerbsError(.timedOut, function: "ibv_poll_cq",
                    reason: "\(out.count) of \(count) completions after \(timeout)")
            }
        }
        return out
    }

    /// Blocks on the completion channel until at least one completion is
    /// available, then polls into `buffer`. Returns 0 on timeout.
    /// Arms the CQ (`ibv_req_notify_cq`), polls once more to close the race
    /// between arming and an already queued completion (man ibv_get_cq_event).
    public func wait(into buffer: UnsafeMutableBufferPointer<WorkCompletion>, timeout: Duration) throws(VerbsError) -> Int {
        guard let channel else { preconditionFailure("CompletionQueue.wait needs a CompletionChannel") }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let got = try poll(into: buffer)
            if got > 0 { return got }
            try VerbsCall.check("ibv_req_notify_cq", .returnsErrno) { ibv_req_notify_cq(pointer, 0) }
            let again = try poll(into: buffer)
            if again > 0 { return again }
            let left = deadline - clock.now
            if left <= .zero { return 0 }
            guard try FileDescriptorWait.readable(channel.fileDescriptor, timeout: left, function: "poll(comp_channel)")
            else { return 0 }
            var cq: UnsafeMutablePointer<ibv_cq>?
            var ctx: UnsafeMutableRawPointer?
            try VerbsCall.check("ibv_get_cq_event", .minusOneSetsErrno) { ibv_get_cq_event(channel.pointer, &cq, &ctx) }
            if let cq, cq != pointer {
                // A channel shared with another CQ: ack that CQ's event at once.
                ibv_ack_cq_events(cq, 1)
                continue
            }
            // Acks are batched: ibv_ack_cq_events takes a mutex, one call per 16 events.
            unackedEvents += 1
            if unackedEvents >= 16 {
                ibv_ack_cq_events(pointer, unackedEvents)
                unackedEvents = 0
            }
        }
    }
}
