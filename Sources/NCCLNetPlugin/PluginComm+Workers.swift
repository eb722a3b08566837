import FabricAuth
import Synchronization

// A comm served by a MAC worker (PluginWorkers.swift has the picture).
// NCCL's half (under the comm's `lock`): queueSend, queue, collect. The
// worker's half (under `channelLock`): serve, which is the only code that
// uses the channel while the comm is open.

/// What one pass of a worker over a comm did (ordered: a pass over several
/// comms reports the most of them).
enum ServeOutcome: Int, Comparable {
    /// Nothing queued or in flight: the worker may sleep.
    case idle
    /// Requests in flight, but none started or finished in this pass.
    case waiting
    /// A request started, finished or failed.
    case progressed

    static func < (a: ServeOutcome, b: ServeOutcome) -> Bool { a.rawValue < b.rawValue }
}

extension PluginComm {
    // MARK: NCCL's thread

    /// isend: takes a free slot and queues it; the worker stages and sends it.
    /// nil: all 32 requests are outstanding (NCCL retries).
    func queueSend(_ data: UnsafeMutableRawPointer, range: Range<Int>, tag: UInt32, memory: MemoryHandle)
        throws(ChannelError) -> RequestSlot? {
        if failed.load(ordering: .acquiring) { throw firstFailure ?? .closed }
        guard let index = freeSlots.popLast() else { return nil }
        let slot = slots[index]
        slot.sendSource = UnsafeRawPointer(data)
        slot.sendShadow = memory.shadow
        slot.sendRange = range
        slot.sendTag = tag
        slot.staged = false
        slot.count = 0
        queue(slot)
        return slot
    }

    /// Hands a filled slot to the worker (its fields are published by the queue's store).
    func queue(_ slot: RequestSlot) {
        slot.state.store(RequestState.queued.rawValue, ordering: .relaxed)
        let pushed = queued.push(slot.index)
        precondition(pushed, "the request queue holds every slot of the comm")
        worker!.wake()
    }

    /// test: what the worker has published for `slot`; frees it once reported.
    func collect(_ slot: RequestSlot, sizes: UnsafeMutablePointer<Int>) throws(ChannelError) -> Int? {
        switch RequestState(rawValue: slot.state.load(ordering: .acquiring)) {
        case .queued, .posted:
            return nil
        case .done:
            let done = slot.result
            for i in 0..<done.count { sizes[i] = done[i] }
            release(slot)
            return done.count
        case .failed:
            let error = slot.failure ?? .closed
            release(slot)
            throw error
        case .free, nil:
            throw .invalidRequest("test of a request that is not outstanding")
        }
    }

    // MARK: the worker's thread

    /// Whether requests are queued that the worker has not taken yet.
    var hasQueuedRequests: Bool { !queued.isEmpty }

    /// One pass of the worker over this comm: start what NCCL queued, in
    /// order, and finish what the channel completed.
    func serve() -> ServeOutcome {
        channelLock.lock()
        defer { channelLock.unlock() }
        var progressed = false
        while let index = queued.peek() {
            let slot = slots[index]
            let started: Bool
            do {
                started = try start(slot)
            } catch {
                queued.removeFirst()
                fail(slot, error)
                progressed = true
                continue
            }
            // A send waiting for the peer's grant holds back the requests behind it:
            // NCCL's order is the order the peer's grants are matched in.
            guard started else { break }
            progressed = true
            queued.removeFirst()
            posted[postedCount] = index
            postedCount += 1
        }
        var i = 0
        while i < postedCount {
            let slot = slots[posted[i]]
            let finished: Bool
            do {
                finished = try finish(slot)
            } catch {
                fail(slot, error)
                finished = true
            }
            if finished {
                progressed = true
                postedCount -= 1
                posted[i] = posted[postedCount]
            } else {
                i += 1
            }
        }
        if progressed { return .progressed }
        return postedCount > 0 || !queued.isEmpty ? .waiting : .idle
    }

    /// Posts `slot` on the channel; false when it can't start yet (no grant, or a full table).
    private func start(_ slot: RequestSlot) throws(ChannelError) -> Bool {
        let request: ChannelRequest?
        do {
            // Never wait inside the channel: the worker serves other comms meanwhile.
            if role == .send {
                guard try channel.isReadyToSend() else { return false }
                let shadow = slot.sendShadow!
                if !slot.staged {
                    shadow.bytes.baseAddress!.advanced(by: slot.sendRange.lowerBound)
                        .copyMemory(from: slot.sendSource!, byteCount: slot.sendRange.count)
                    slot.staged = true
                }
                request = try channel.isend(shadow, range: slot.sendRange, tag: slot.sendTag)
            } else {
                guard try channel.isReadyToReceive(buffers: slot.buffers.count) else { return false }
                request = try channel.irecv(slot.buffers)
            }
        } catch let error where error.asksNCCLToRetry {
            return false
        }
        guard let request else { return false }
        slot.request = request
        slot.state.store(RequestState.posted.rawValue, ordering: .releasing)
        return true
    }

    /// Whether `slot` completed: a receive only once verified and copied into NCCL's buffers.
    private func finish(_ slot: RequestSlot) throws(ChannelError) -> Bool {
        guard let done = try channel.testSizes(slot.request!) else { return false }
        try deliver(slot, done)
        slot.result = done
        slot.state.store(RequestState.done.rawValue, ordering: .releasing)
        return true
    }

    /// Publishes the failure of `slot`; a failure of the network or the peer
    /// also fails the comm's later requests (as the closed channel would).
    private func fail(_ slot: RequestSlot, _ error: ChannelError) {
        slot.failure = error
        if error.pluginResult == .systemError, !failed.load(ordering: .relaxed) {
            firstFailure = error
            failed.store(true, ordering: .releasing)
        }
        slot.state.store(RequestState.failed.rawValue, ordering: .releasing)
    }
}
