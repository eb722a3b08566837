import Verbs

// The receive side of a channel as one loop: every receive completion is a
// sealed SEND frame (an application message or a control message of the
// WRITE/READ rendezvous) or a WRITE notice (header and tag of a detached
// message whose payload is in a granted window). Each is verified before
// anything acts on it; rejections are counted by the receiver and handled by
// the failure policy, authentic control messages that break the protocol
// close the channel.
extension AuthenticatedQueuePair {
    /// Handles one receive completion if there is one; false when the CQ was empty.
    func progressOnce() throws(ChannelError) -> Bool {
        guard !closed else { throw .closed }
        guard let (slot, length) = try resources.pollReceive() else { return false }
        let frame = UnsafeRawBufferPointer(rebasing: resources.receiveSlot(slot)[0..<length])
        // The opcode byte is read before it is authenticated only to choose
        // the layout; both layouts authenticate it.
        if length == DataPathLimits.frameOverhead, frame[MessageHeader.Offset.opcode] == DataPathOpcode.rdmaWrite.rawValue {
            defer { repost(slot) }
            try receiveWriteNotice(frame)
            return true
        }
        switch receiver.open(frame: frame, now: ChannelClock.monotonicNanoseconds()) {
        case .delivered(let message):
            let payload = message.payload
            switch message.header.opcode {
            case .send, .sendWithImmediate:
                remote.pushMessage(slot: slot, length: payload.count)  // reposted once received
                return true
            case .writeGrant:
                defer { repost(slot) }
                guard let grant = ControlMessage.WriteGrant(payload) else { throw violation("malformed WRITE grant") }
                var entry = RemoteAccessState.Pending()
                entry.tag = grant.tag
                entry.grant = grant
                guard remote.store(entry, in: &remote.peerGrants) != nil else {
                    throw violation("more than \(RemoteAccessState.peerLimit) WRITE grants outstanding")
                }
            case .readOffer:
                defer { repost(slot) }
                guard let offer = ControlMessage.ReadOffer(payload) else { throw violation("malformed READ offer") }
                var entry = RemoteAccessState.Pending()
                entry.tag = offer.tag
                entry.grant.index = offer.index
                entry.grant.generation = offer.generation
                guard let i = remote.store(entry, in: &remote.peerOffers) else {
                    throw violation("more than \(RemoteAccessState.peerLimit) READ offers outstanding")
                }
                remote.offerRecord(i).copyMemory(from: payload.baseAddress! + ControlMessage.ReadOffer.dataOffset,
                    byteCount: DataPathLimits.frameOverhead)
            case .readDone:
                defer { repost(slot) }
                guard let done = ControlMessage.ReadDone(payload) else { throw violation("malformed READ done") }
                try finishOffer(done)
            case .rdmaWrite, .rdmaWriteWithImmediate, .rdmaRead:
                repost(slot)
                throw violation("detached opcode \(message.header.opcode) in a SEND frame")
            }
            return true
        case .rejected(let reason, let action):
            repost(slot)
            try handleRejection(reason, action)
            return true
        }
    }

    /// Handles everything the receive CQ holds now (bounded, so a flood can't
    /// keep the caller here).
    func progressAll() throws(ChannelError) {
        for _ in 0..<resources.receiveDepth {
            if try !progressOnce() { return }
        }
    }

    /// Logs a rejection; under the fatal policy closes the channel and throws.
    func handleRejection(_ reason: RejectReason, _ action: RejectAction) throws(ChannelError) {
        configuration.log?("rejected a message from \(peer.spiffeID): \(reason)")
        if action == .tearDown {
            closed = true
            try? queuePair.moveToError()
            throw .rejected(reason, tornDown: true)
        }
    }

    /// An authentic peer broke the rendezvous protocol: count, close, and
    /// return the error to throw.
    func violation(_ what: String) -> ChannelError {
        remote.metrics.protocolViolations += 1
        configuration.log?("protocol violation by \(peer.spiffeID): \(what); closing")
        closed = true
        try? queuePair.moveToError()
        return .protocolViolation(what)
    }

    /// Invalidates `window` locally (new key needed before the peer can use
    /// it again) and returns the ticket of the invalidation.
    func invalidate(_ window: MemoryWindow) throws(ChannelError) -> UInt64 {
        let ticket = try resources.postInvalidate(window, on: queuePair)
        remote.metrics.windowsInvalidated += 1
        return ticket
    }

    /// Gives the QP the remote rights `needed` in addition to those it has.
    /// Called at the first irecv (WRITE) or offer (READ), never before the
    /// handshake: until then the QP has none.
    func grantAccess(_ needed: AccessFlags) throws(ChannelError) {
        guard !remote.access.isSuperset(of: needed) else { return }
        let flags = remote.access.union(needed)
        do { try queuePair.setAccessFlags(flags) } catch { throw .verbs(error) }
        remote.access = flags
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

    /// Polls `test` until the request completes.
    public func wait(for request: ChannelRequest, timeout: Duration = .seconds(10)) throws(ChannelError) -> Int {
        let deadline = ChannelClock.deadline(after: timeout)
        var idle = 0
        while true {
            if let n = try test(request) { return n }
            try ChannelResources.idle(&idle, deadline: deadline, what: "\(request)")
        }
    }

    /// Whether `request` has completed: its size in bytes when it has, nil
    /// while it is in flight (NCCL's `test`). Handles whatever arrived
    /// meanwhile. A completed request is finished: testing it again is an
    /// error. A transfer that failed verification throws `.rejected` (the
    /// data is never reported ready).
    public func test(_ request: ChannelRequest) throws(ChannelError) -> Int? {
        guard !closed else { throw .closed }
        try progressAll()
        let i = Int(request.index)
        switch request.kind {
        case .send:
            guard try resources.isDone(ticket: request.value) else { return nil }
            return request.size
        case .receive:
            guard i < remote.targets.count, remote.targets[i].generation == UInt32(truncatingIfNeeded: request.value) else {
                throw .invalidRequest("\(request) is not outstanding")
            }
            switch remote.targets[i].state {
            case .free: throw .invalidRequest("\(request) is not outstanding")
            case .granted: return nil
            case .done(let n):
                releaseTarget(i)
                return n
            case .failed(let reason, let down):
                releaseTarget(i)
                throw .rejected(reason, tornDown: down)
            }
        case .read:
            return try testRead(request)
        case .offer:
            guard i < remote.offers.count, remote.offers[i].generation == UInt32(truncatingIfNeeded: request.value) else {
                throw .invalidRequest("\(request) is not outstanding")
            }
            switch remote.offers[i].state {
            case .free: throw .invalidRequest("\(request) is not outstanding")
            case .offered: return nil
            case .closing(let ticket):
                guard try resources.isDone(ticket: ticket) else { return nil }
                remote.offers[i].state = .free
                remote.offers[i].memory = nil
                remote.offers[i].generation &+= 1
                remote.metrics.readsServed += 1
                return request.size
            }
        }
    }
}
