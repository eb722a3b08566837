import Verbs

// RDMA WRITE with per-message MACs (docs/protocol.md "RDMA WRITE and READ"),
// the channel executing the rendezvous machine's steps:
//
//   receiver: irecv  -> per buffer: bind window w over it (new rkey); then
//                       per buffer SEND a sealed WRITE grant {index,
//                       generation, tag, rkey, address, capacity}
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
        return ChannelMemory(region: try ChannelError.lowering {
            try resources.pd.allocateRegion(bytes: bytes, access: ChannelMemory.access)
        })
    }

    /// Registers an application buffer with this channel (NCCL's `regMr`).
    /// The buffer stays alive as long as the returned memory does.
    public func registerMemory(_ buffer: RegisteredBuffer) throws(ChannelError) -> ChannelMemory {
        ChannelMemory(region: try ChannelError.lowering { try resources.pd.register(buffer, access: ChannelMemory.access) })
    }

    /// Grants the peer one RDMA WRITE of up to `range.count` bytes into
    /// `memory[range]`, matched by `tag` (NCCL's `irecv`). The request
    /// completes, with the number of bytes written, once the data has been
    /// verified; a forged or altered WRITE never completes it. `timeout`
    /// bounds the wait for a free send slot; with `expiresAfter`, a receive
    /// not filled in time closes its window and fails with `.timedOut`.
    public func irecv(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10), expiresAfter: Duration? = nil) throws(ChannelError) -> ChannelRequest {
        try openReceive(CollectionOfOne(ReceiveBuffer(memory, range: range, tag: tag)), timeout: timeout,
            expiresAfter: expiresAfter)
    }

    /// A grouped receive (NCCL's `irecv` with n buffers, n <= 8): one window
    /// and one grant per buffer, one request that completes when every
    /// buffer has been written and verified (``testSizes(_:)`` reports each
    /// size). If one buffer fails, the others' windows are closed before the
    /// request reports the failure.
    public func irecv(_ buffers: [ReceiveBuffer], timeout: Duration = .seconds(10),
        expiresAfter: Duration? = nil) throws(ChannelError) -> ChannelRequest {
        try openReceive(buffers, timeout: timeout, expiresAfter: expiresAfter)
    }

    /// Both `irecv`s, generic inside this module only: called from another
    /// module (the plug-in) a generic would run unspecialized, and its
    /// iteration allocates a coroutine frame per element (measured: seven
    /// heap allocations per NCCL `irecv`, Tests/NCCLPluginHarness/allocations.c).
    private func openReceive<C: Collection>(_ buffers: C, timeout: Duration,
        expiresAfter: Duration?) throws(ChannelError) -> ChannelRequest where C.Element == ReceiveBuffer {
        guard !closed else { throw .closed }
        for b in buffers {
            try check(b.memory, b.range)
            guard b.range.count <= configuration.dataPath.maxPayloadBytes else {
                throw .dataPath(.payloadTooLarge(b.range.count))
            }
        }
        let h = try ChannelError.lowering {
            try rendezvous.openReceive(buffers.lazy.map { ReceiveSlotSpec(capacity: $0.range.count, tag: $0.tag) },
                deadline: expiresAfter.map { ChannelClock.deadline(after: $0) })
        }
        let request = ChannelRequest(handle: .receive(h), size: buffers.reduce(0) { $0 + $1.range.count })
        do throws(ChannelError) {
            try grantAccess(.remoteWrite)
            let deadline = ChannelClock.deadline(after: timeout)
            // Every window first, then every grant: binds are local
            // operations, kept together ahead of the sends (see
            // `ChannelConfiguration.windowOperationsAwaitAcknowledgements`).
            try resources.prepareWindowOperation(deadline: deadline)
            for (b, t) in zip(buffers, rendezvous.targets(of: h)) {
                let window = try resources.window(at: WindowID.writeTarget(t).position(targets: limits.targets))
                try tearingDownOnError {
                    try queuePair.bind(window, to: b.memory.region, range: b.range, access: [.remoteWrite],
                        id: ChannelResources.sendTag | ChannelResources.windowTag, flags: [])
                }
                transfers.metrics.windowsBound += 1
                transfers.targetMemory[t] = b.memory
                transfers.targetOffset[t] = b.range.lowerBound
                rendezvous.bound(target: t, key: WindowKey(rkey: window.rkey, address: window.boundAddress))
            }
            for t in rendezvous.targets(of: h) {
                let slot = try resources.acquireSendSlot(deadline: deadline)
                let grant = rendezvous.grant(target: t)
                try sendControl(.writeGrant, slot: slot, length: ControlMessage.WriteGrant.size) { grant.encode(to: $0) }
            }
        } catch {
            abandon(request)
            throw error
        }
        return request
    }

    /// Writes `memory[range]` into the peer's oldest granted window with `tag`
    /// (NCCL's `isend`). Returns nil while the peer has granted none yet: call
    /// again later, as NCCL does. A message larger than the grant is refused
    /// with `.receiveBufferTooSmall`. The request completes when the WRITE and
    /// its notice have been acknowledged.
    public func isend(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10)) throws(ChannelError) -> ChannelRequest? {
        guard !closed else { throw .closed }
        try check(memory, range)
        try progressAll()
        let found = try ChannelError.lowering { try rendezvous.peekGrant(tag: tag, size: range.count) }
        guard let g = found else { return nil }
        let slot = try resources.acquireSendSlot(deadline: ChannelClock.deadline(after: timeout))
        let grant = rendezvous.useGrant(g)
        let notice = resources.sendSlot(slot).baseAddress!
        let source = UnsafeRawBufferPointer(rebasing: memory.bytes[range])
        let sealed = try ChannelError.lowering {
            try sender.sealDetached(payload: source, opcode: .rdmaWrite, remoteAddress: grant.key.address,
                rkey: grant.key.rkey, header: notice, tag: notice + DataPathLimits.headerSize,
                now: ChannelClock.monotonicNanoseconds())
        }
        try self.sealed(sealed)
        let ticket: UInt64
        if range.isEmpty {
            ticket = try resources.postSend(slot: slot, length: DataPathLimits.frameOverhead, on: queuePair)
        } else {
            let write = SendRequest(id: ChannelResources.sendTag | ChannelResources.writeTag,
                operation: .write(RemoteMemory(address: grant.key.address, rkey: grant.key.rkey, length: UInt32(range.count))),
                element: memory.region.element(range), flags: [])
            ticket = try resources.postChain(write, thenSlot: slot, length: DataPathLimits.frameOverhead, on: queuePair)
        }
        transfers.metrics.writesSent += 1
        return ChannelRequest(handle: .send(ticket: ticket), size: range.count)
    }

    /// A WRITE notice arrived: close the window, then verify what is in it.
    func receiveWriteNotice(_ frame: UnsafeRawBufferPointer) throws(ChannelError) {
        let h = frame.baseAddress!
        // Unauthenticated until the MAC: used only to find the window.
        let key = WindowKey(
            rkey: UInt32(bigEndian: h.loadUnaligned(fromByteOffset: FrameHeader.Offset.rkey, as: UInt32.self)),
            address: UInt64(bigEndian: h.loadUnaligned(fromByteOffset: FrameHeader.Offset.remoteAddress, as: UInt64.self)))
        let length = Int(UInt32(bigEndian: h.loadUnaligned(fromByteOffset: FrameHeader.Offset.length, as: UInt32.self)))
        guard let t = rendezvous.noticeArrived(key: key, length: length) else {
            if case .rejected(let reason, let action) = receiver.rejectUnverified(.unknownTarget) {
                try handleRejection(reason, action)
            }
            return
        }
        transfers.targetRecord(t).copyMemory(from: h, byteCount: DataPathLimits.frameOverhead)
        try closeWindows()
    }

    /// Target `t`'s window is closed: verify the bytes its notice claimed.
    func verifyWrite(target t: Int, length: Int) throws(ChannelError) {
        let record = transfers.targetRecord(t)
        let base = transfers.targetMemory[t]!.bytes.baseAddress! + transfers.targetOffset[t]
        // A length beyond the window is reported by the receiver as truncated.
        let payload = UnsafeRawBufferPointer(start: base, count: min(length, rendezvous.targets[t].capacity))
        switch receiver.openDetached(header: record, payload: payload, tag: record + DataPathLimits.headerSize,
            now: ChannelClock.monotonicNanoseconds()) {
        case .delivered(let message):
            rendezvous.writeVerified(target: t, bytes: message.payload.count)
            transfers.metrics.writesReceived += 1
            opened()
        case .rejected(let reason, let action):
            rendezvous.writeRejected(target: t, reason, tornDown: action == .tearDown)
            try handleRejection(reason, action)
        }
    }

    /// Seals a control message of `length` bytes (written by `fill` at the
    /// payload position of send slot `slot`) and posts it.
    func sendControl(_ opcode: DataPathOpcode, slot: Int, length: Int,
        _ fill: (UnsafeMutableRawPointer) -> Void) throws(ChannelError) {
        let frame = resources.sendSlot(slot)
        fill(frame.baseAddress! + DataPathLimits.headerSize)
        let sealed = try ChannelError.lowering {
            try sender.seal(frame: frame, payloadLength: length, opcode: opcode, now: ChannelClock.monotonicNanoseconds())
        }
        try self.sealed(sealed)
        try resources.postSend(slot: slot, length: sealed.frameLength, on: queuePair)
    }
}
