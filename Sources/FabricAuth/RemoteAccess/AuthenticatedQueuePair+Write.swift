import Verbs

// RDMA WRITE with per-message MACs (docs/protocol.md "RDMA WRITE and READ"):
//
//   receiver: irecv  -> bind window w over the target (new rkey), SEND a
//                       sealed WRITE grant {index, generation, tag, rkey,
//                       address, capacity}
//   sender:   isend  -> take the oldest grant with the tag; seal the payload
//                       in place as a detached message (header names the
//                       window's address and rkey); post WRITE payload -> w
//                       and SEND notice [header | tag] in one chain
//   receiver: notice -> find the window by rkey and address, invalidate it
//                       locally and wait (nothing can change the bytes after
//                       this), verify header + payload + tag, report done
//
// RC delivers the notice only after the WRITE before it is placed (IB spec
// 9.5, ordering of requests on one QP), so the verified bytes are the ones
// the sender wrote, or an attacker's, which the MAC rejects.
extension AuthenticatedQueuePair {
    /// Allocates `bytes` of page-aligned memory registered with this channel.
    public func allocateMemory(bytes: Int) throws(ChannelError) -> ChannelMemory {
        guard bytes > 0 else { throw .invalidRequest("memory needs at least one byte") }
        do {
            return ChannelMemory(region: try resources.pd.allocateRegion(bytes: bytes, access: ChannelMemory.access))
        } catch {
            throw .verbs(error)
        }
    }

    /// Registers an application buffer with this channel (NCCL's `regMr`).
    /// The buffer stays alive as long as the returned memory does.
    public func registerMemory(_ buffer: RegisteredBuffer) throws(ChannelError) -> ChannelMemory {
        do {
            return ChannelMemory(region: try resources.pd.register(buffer, access: ChannelMemory.access))
        } catch {
            throw .verbs(error)
        }
    }

    /// Grants the peer one RDMA WRITE of up to `range.count` bytes into
    /// `memory[range]`, matched by `tag` (NCCL's `irecv`). The request
    /// completes, with the number of bytes written, once the data has been
    /// verified; a forged or altered WRITE never completes it.
    public func irecv(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10)) throws(ChannelError) -> ChannelRequest {
        guard !closed else { throw .closed }
        try check(memory, range)
        guard !range.isEmpty else { throw .invalidRequest("a WRITE target needs at least one byte") }
        guard range.count <= configuration.dataPath.maxPayloadBytes else {
            throw .dataPath(.payloadTooLarge(range.count))
        }
        guard let i = remote.targets.firstIndex(where: { $0.state == .free }) else {
            throw .invalidRequest("all \(remote.depth) WRITE targets are outstanding; test() them first")
        }
        try grantAccess(.remoteWrite)
        let deadline = ChannelClock.deadline(after: timeout)
        let slot = try resources.acquireSendSlot(deadline: deadline)
        let window = resources.windows[i]
        do {
            try queuePair.bind(window, to: memory.region, range: range, access: [.remoteWrite],
                id: ChannelResources.sendTag | ChannelResources.windowTag, flags: [])
        } catch {
            throw .verbs(error)
        }
        remote.metrics.windowsBound += 1
        let generation = remote.targets[i].generation
        remote.targets[i].state = .granted
        remote.targets[i].memory = memory
        remote.targets[i].offset = range.lowerBound
        remote.targets[i].capacity = range.count
        let grant = ControlMessage.WriteGrant(index: UInt32(i), generation: generation, tag: tag, rkey: window.rkey,
            address: window.boundAddress, capacity: UInt32(range.count))
        try sendControl(.writeGrant, slot: slot, length: ControlMessage.WriteGrant.size) { grant.encode(to: $0) }
        return ChannelRequest(kind: .receive, index: UInt32(i), value: UInt64(generation), size: range.count)
    }

    /// Writes `memory[range]` into the peer's oldest granted window with `tag`
    /// (NCCL's `isend`). Returns nil while the peer has granted none yet: call
    /// again later, as NCCL does. The request completes when the WRITE and its
    /// notice have been acknowledged.
    public func isend(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10)) throws(ChannelError) -> ChannelRequest? {
        guard !closed else { throw .closed }
        try check(memory, range)
        try progressAll()
        guard let g = remote.oldest(tag: tag, in: remote.peerGrants) else { return nil }
        let grant = remote.peerGrants[g].grant
        guard range.count <= Int(grant.capacity) else {
            throw .receiveBufferTooSmall(needed: range.count, available: Int(grant.capacity))
        }
        let deadline = ChannelClock.deadline(after: timeout)
        let slot = try resources.acquireSendSlot(deadline: deadline)
        remote.peerGrants[g].used = false
        let notice = resources.sendSlot(slot).baseAddress!
        let source = UnsafeRawBufferPointer(rebasing: memory.bytes[range])
        let sealed: SealedFrame
        do {
            sealed = try sender.sealDetached(payload: source, opcode: .rdmaWrite, remoteAddress: grant.address,
                rkey: grant.rkey, header: notice, tag: notice + DataPathLimits.headerSize,
                now: ChannelClock.monotonicNanoseconds())
        } catch {
            throw .dataPath(error)
        }
        try checkEpoch(sealed.epoch)
        let ticket: UInt64
        if range.isEmpty {
            ticket = try resources.postSend(slot: slot, length: DataPathLimits.frameOverhead, on: queuePair)
        } else {
            let write = SendRequest(id: ChannelResources.sendTag | ChannelResources.writeTag,
                operation: .write(RemoteMemory(address: grant.address, rkey: grant.rkey, length: UInt32(range.count))),
                element: memory.region.element(range), flags: [])
            ticket = try resources.postChain(write, thenSlot: slot, length: DataPathLimits.frameOverhead, on: queuePair)
        }
        remote.metrics.writesSent += 1
        return ChannelRequest(kind: .send, index: 0, value: ticket, size: range.count)
    }

    /// A WRITE notice arrived: close the window, then verify what is in it.
    func receiveWriteNotice(_ frame: UnsafeRawBufferPointer) throws(ChannelError) {
        let h = frame.baseAddress!
        // Unauthenticated until the MAC below; used only to find the window.
        let rkey = UInt32(bigEndian: h.loadUnaligned(fromByteOffset: MessageHeader.Offset.rkey, as: UInt32.self))
        let address = UInt64(bigEndian: h.loadUnaligned(fromByteOffset: MessageHeader.Offset.remoteAddress, as: UInt64.self))
        let length = Int(UInt32(bigEndian: h.loadUnaligned(fromByteOffset: MessageHeader.Offset.length, as: UInt32.self)))
        guard let i = remote.targets.indices.first(where: {
            remote.targets[$0].state == .granted && resources.windows[$0].rkey == rkey
                && resources.windows[$0].boundAddress == address
        }) else {
            if case .rejected(let reason, let action) = receiver.rejectUnverified(.unknownTarget) {
                try handleRejection(reason, action)
            }
            return
        }
        let ticket = try invalidate(resources.windows[i])
        // Work requests run in order: a send the peer never acknowledges
        // (it vanished) holds the invalidation back until the deadline.
        try resources.waitFor(ticket: ticket, deadline: ChannelClock.deadline(after: configuration.setupTimeout),
            what: "closing the WRITE window (the send queue is stalled; is the peer still there?)")
        let target = remote.targets[i]
        let base = target.memory!.bytes.baseAddress! + target.offset
        // A length beyond the window is reported by the receiver as truncated.
        let payload = UnsafeRawBufferPointer(start: base, count: min(length, target.capacity))
        switch receiver.openDetached(header: h, payload: payload, tag: h + DataPathLimits.headerSize,
            now: ChannelClock.monotonicNanoseconds()) {
        case .delivered(let message):
            remote.targets[i].state = .done(message.payload.count)
            remote.metrics.writesReceived += 1
        case .rejected(let reason, let action):
            remote.targets[i].state = .failed(reason, tornDown: action == .tearDown)
            try handleRejection(reason, action)
        }
    }

    func releaseTarget(_ i: Int) {
        remote.targets[i].state = .free
        remote.targets[i].memory = nil
        remote.targets[i].generation &+= 1
    }

    /// Seals a control message of `length` bytes (written by `fill` at the
    /// payload position of send slot `slot`) and posts it.
    func sendControl(_ opcode: DataPathOpcode, slot: Int, length: Int,
        _ fill: (UnsafeMutableRawPointer) -> Void) throws(ChannelError) {
        let frame = resources.sendSlot(slot)
        fill(frame.baseAddress! + DataPathLimits.headerSize)
        let sealed: SealedFrame
        do {
            sealed = try sender.seal(frame: frame, payloadLength: length, opcode: opcode,
                now: ChannelClock.monotonicNanoseconds())
        } catch {
            throw .dataPath(error)
        }
        try checkEpoch(sealed.epoch)
        try resources.postSend(slot: slot, length: sealed.frameLength, on: queuePair)
    }
}
