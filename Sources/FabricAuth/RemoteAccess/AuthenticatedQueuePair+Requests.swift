import Verbs

// Completing, waiting for and cancelling requests, and the window closing
// every path of the rendezvous goes through.
extension AuthenticatedQueuePair {
    /// Whether ``isend(_:range:tag:timeout:)`` would find a send slot now
    /// (completions are reaped, nothing waits). A caller that must not block
    /// (NCCL's proxy thread, a MAC worker serving several comms) asks first
    /// and comes back later, instead of waiting inside `isend` for the peer
    /// to acknowledge earlier sends.
    public func isReadyToSend() throws(ChannelError) -> Bool {
        guard !closed else { throw .closed }
        return try resources.sendSlotsFree(1)
    }

    /// Whether an `irecv` of `buffers` buffers would bind and grant now
    /// without waiting: a free send slot for each grant and, where window
    /// operations wait for acknowledgements (rxe), every earlier send
    /// acknowledged. As ``isReadyToSend()``, for callers that must not block.
    public func isReadyToReceive(buffers: Int) throws(ChannelError) -> Bool {
        guard !closed else { throw .closed }
        guard try resources.windowOperationReady() else { return false }
        return try resources.sendSlotsFree(min(max(buffers, 1), resources.sendDepth))
    }

    /// Whether `request` has completed: its size in bytes when it has (for a
    /// grouped receive, the bytes over all buffers), nil while it is in
    /// flight (NCCL's `test`). Handles whatever arrived meanwhile. A
    /// completed request is finished: testing it again is an error. A
    /// transfer that failed verification throws `.rejected` (the data is
    /// never reported ready); one that expired throws `.timedOut`.
    public func test(_ request: ChannelRequest) throws(ChannelError) -> Int? {
        try testSizes(request)?.total
    }

    /// ``test(_:)`` with each buffer's size (one for every request but a
    /// grouped receive).
    public func testSizes(_ request: ChannelRequest) throws(ChannelError) -> ReceiveSizes? {
        guard !closed else { throw .closed }
        try progressAll()
        let progress: RequestProgress
        do {
            switch request.handle {
            case .send(let ticket):
                return try resources.isDone(ticket: ticket) ? ReceiveSizes(single: request.size) : nil
            case .receive(let h):
                progress = try rendezvous.poll(h)
                if progress != .pending {
                    for t in rendezvous.targets(of: h) { transfers.targetMemory[t] = nil }
                }
            case .read(let h):
                try finishRead(h)
                progress = try rendezvous.poll(h)
                if progress != .pending {
                    transfers.readMemory[h.index] = nil
                    transfers.readKey[h.index] = nil
                }
            case .offer(let h):
                progress = try rendezvous.poll(h)
                if progress != .pending { transfers.offerMemory[h.index] = nil }
                if case .completed = progress { transfers.metrics.readsServed += 1 }
            }
        } catch let error as RendezvousRefusal {
            throw refused(error, request)
        } catch let error as ChannelError {
            throw error
        } catch {
            preconditionFailure("unexpected \(error)")
        }
        switch progress {
        case .pending: return nil
        case .completed(let sizes): return sizes
        case .failed(let failure): throw channelError(failure, request)
        }
    }

    /// Polls `test` until the request completes.
    public func wait(for request: ChannelRequest, timeout: Duration = .seconds(10)) throws(ChannelError) -> Int {
        let deadline = ChannelClock.deadline(after: timeout)
        var idle = 0
        while true {
            if let n = try test(request) { return n }
            try ChannelResources.idle(&idle, deadline: deadline, what: "\(request)")
        }
    }

    /// Ends a receive or an offer that has not completed: its windows are
    /// closed before this returns, so the peer can no longer reach the
    /// memory, and the request is finished (testing it again is an error).
    /// Sends and READs, once posted, can't be recalled: test them to
    /// completion. Cancelling a request that already completed but was not
    /// yet tested discards its result.
    public func cancel(_ request: ChannelRequest) throws(ChannelError) {
        guard !closed else { throw .closed }
        do {
            switch request.handle {
            case .send: throw ChannelError.invalidRequest("a posted WRITE can't be cancelled; test it to completion")
            case .read(let h): try rendezvous.cancel(h)
            case .receive(let h): try rendezvous.cancel(h)
            case .offer(let h): try rendezvous.cancel(h)
            }
        } catch let error as RendezvousRefusal {
            throw refused(error, request)
        } catch let error as ChannelError {
            throw error
        } catch {
            preconditionFailure("unexpected \(error)")
        }
        try closeWindows()
        // Every window is closed now: collect the result, freeing the request.
        _ = try? testSizes(request)
    }

    /// Undoes a request whose set-up failed half-way (no send slot in time, a
    /// grant that could not be sealed): what is bound is closed and the
    /// request is freed, so no window or table slot is left behind. Best
    /// effort: a channel that is torn down has nothing left to undo.
    func abandon(_ request: ChannelRequest) {
        guard !closed else { return }
        try? cancel(request)
    }

    /// Invalidates every window the machine wants closed, waiting for each
    /// (nothing can reach the memory once the invalidation completed), and
    /// runs what follows: the verification of a WRITE whose notice arrived.
    func closeWindows() throws(ChannelError) {
        while let w = rendezvous.nextWindowToClose() {
            // The machine closes only windows it had bound, so this one exists.
            let window = resources.allocatedWindow(at: w.position(targets: limits.targets))!
            // Work requests run in order: a send the peer never acknowledges
            // (it vanished) holds the invalidation back until the deadline.
            let deadline = ChannelClock.deadline(after: configuration.setupTimeout)
            do {
                try resources.prepareWindowOperation(deadline: deadline)
                let ticket = try resources.postInvalidate(window, on: queuePair)
                transfers.metrics.windowsInvalidated += 1
                try resources.waitFor(ticket: ticket, deadline: deadline,
                    what: "closing the \(w) (the send queue is stalled; is the peer still there?)")
            } catch {
                throw tearDown(error)
            }
            switch rendezvous.windowClosed(w) {
            case .none: break
            case .verifyWrite(let t, let length): try verifyWrite(target: t, length: length)
            }
        }
    }

    /// Gives the QP the remote rights `needed` in addition to those it has.
    /// Called at the first irecv (WRITE) or offer (READ), never before the
    /// handshake: until then the QP has none.
    func grantAccess(_ needed: AccessFlags) throws(ChannelError) {
        guard !transfers.access.isSuperset(of: needed) else { return }
        let flags = transfers.access.union(needed)
        try ChannelError.lowering { try queuePair.setAccessFlags(flags) }
        transfers.access = flags
    }

    /// Checks that `memory` belongs to this channel and `range` lies inside it.
    func check(_ memory: ChannelMemory, _ range: Range<Int>) throws(ChannelError) {
        guard memory.region.pd === resources.pd else {
            throw .invalidRequest("memory registered with another channel")
        }
        guard range.lowerBound >= 0, range.upperBound <= memory.count else {
            throw .invalidRequest("range \(range) outside the \(memory.count)-byte memory")
        }
    }

    /// The channel's error for a call the machine refused.
    func refused(_ refusal: RendezvousRefusal, _ request: ChannelRequest? = nil) -> ChannelError {
        ChannelError(refusal: refusal, request: request)
    }

    /// The channel's error for a request that ended without data.
    func channelError(_ failure: RequestFailure, _ request: ChannelRequest) -> ChannelError {
        switch failure {
        case .rejected(let reason, let down): .rejected(reason, tornDown: down)
        case .cancelled: .cancelled("\(request)")
        case .timedOut: .timedOut("\(request) was not completed before its deadline; its window is closed")
        case .closed: .closed
        }
    }
}

extension AuthenticatedQueuePair {
    /// The window bound for buffer `buffer` of a receive, or for an offer
    /// (tests aim forged WRITEs and READs at it).
    func window(of request: ChannelRequest, buffer: Int = 0) -> MemoryWindow? {
        switch request.handle {
        case .receive(let h):
            let targets = rendezvous.targets(of: h)
            guard buffer < targets.count else { return nil }
            return resources.allocatedWindow(at: WindowID.writeTarget(targets[targets.startIndex + buffer]).position(targets: limits.targets))
        case .offer(let h):
            return resources.allocatedWindow(at: WindowID.readOffer(h.index).position(targets: limits.targets))
        case .send, .read:
            return nil
        }
    }
}

extension ChannelError {
    /// What the application is told when the rendezvous machine refused its
    /// call (nothing changed): a full request table is its own case, so the
    /// caller (NCCL's plug-in) can retry it rather than fail.
    init(refusal: RendezvousRefusal, request: ChannelRequest? = nil) {
        switch refusal {
        case .closed: self = .closed
        case .messageLargerThanGrant(let needed, let available), .offerLargerThanBuffer(let needed, let available):
            self = .receiveBufferTooSmall(needed: needed, available: available)
        case .notOutstanding:
            self = .invalidRequest("\(request.map { "\($0)" } ?? "the request") is not outstanding")
        case .tooManyOutstanding(let what, let limit):
            self = .tooManyOutstanding(what: what, limit: limit)
        case .emptyBuffer, .bufferCount, .readInFlight:
            self = .invalidRequest(refusal.description)
        }
    }
}
