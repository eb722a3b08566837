import Verbs

// RDMA READ with the owner's tag (docs/protocol.md "RDMA WRITE and READ"),
// the channel executing the rendezvous machine's steps:
//
//   owner:  offerForRead -> bind window w over the data (remote read only),
//                           seal the data as a detached .rdmaRead message (the
//                           header names w's address and rkey), SEND a sealed
//                           offer {index, generation, tag, data header, data tag}
//   reader: iread        -> take the oldest offer with the tag, post the READ
//   reader: test         -> READ complete: verify header + fetched bytes + tag;
//                           only then report done, and SEND "read done"
//   owner:  read done    -> invalidate w; the offer completes
//
// The tag was computed by the data's owner before the READ, so bytes changed
// in between (by the owner's application, or injected as a forged READ
// response) fail verification at the reader.
extension AuthenticatedQueuePair {
    /// Offers `memory[range]` to the peer for one RDMA READ, matched by `tag`.
    /// Don't modify the bytes until the request completes (when the reader
    /// has verified them and the window is closed). With `expiresAfter`, an
    /// offer not read in time closes its window and fails with `.timedOut`.
    public func offerForRead(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10), expiresAfter: Duration? = nil) throws(ChannelError) -> ChannelRequest {
        guard !closed else { throw .closed }
        try check(memory, range)
        let h = try ChannelError.lowering {
            try rendezvous.openOffer(length: range.count, tag: tag, deadline: expiresAfter.map { ChannelClock.deadline(after: $0) })
        }
        let request = ChannelRequest(handle: .offer(h), size: range.count)
        do throws(ChannelError) {
            try grantAccess(.remoteRead)
            try sendOffer(h, memory, range: range, tag: tag, timeout: timeout)
        } catch {
            abandon(request)
            throw error
        }
        return request
    }

    /// Binds offer `h`'s window over the data and sends the offer.
    private func sendOffer(_ h: OfferHandle, _ memory: ChannelMemory, range: Range<Int>, tag: UInt32,
        timeout: Duration) throws(ChannelError) {
        let deadline = ChannelClock.deadline(after: timeout)
        let slot = try resources.acquireSendSlot(deadline: deadline)
        try resources.prepareWindowOperation(deadline: deadline)
        let window = try resources.window(at: WindowID.readOffer(h.index).position(targets: limits.targets))
        try tearingDownOnError {
            try queuePair.bind(window, to: memory.region, range: range, access: [.remoteRead],
                id: ChannelResources.sendTag | ChannelResources.windowTag, flags: [])
        }
        transfers.metrics.windowsBound += 1
        transfers.offerMemory[h.index] = memory
        let (index, generation) = rendezvous.offerBound(h, key: WindowKey(rkey: window.rkey, address: window.boundAddress))
        let offer = ControlMessage.ReadOffer(index: index, generation: generation, tag: tag)
        let payload = resources.sendSlot(slot).baseAddress! + DataPathLimits.headerSize
        offer.encodePrefix(to: payload)
        let data = payload + ControlMessage.ReadOffer.dataOffset
        let sealed = try ChannelError.lowering {
            try sender.sealDetached(payload: UnsafeRawBufferPointer(rebasing: memory.bytes[range]),
                opcode: .rdmaRead, remoteAddress: window.boundAddress, rkey: window.rkey,
                header: data, tag: data + DataPathLimits.headerSize, now: ChannelClock.monotonicNanoseconds())
        }
        try self.sealed(sealed)
        try sendControl(.readOffer, slot: slot, length: ControlMessage.ReadOffer.size) { _ in }
    }

    /// An authentic READ offer: where the data is, how long, and its record.
    func receiveReadOffer(_ payload: UnsafeRawBufferPointer) throws(RendezvousViolation) {
        guard let offer = ControlMessage.ReadOffer(payload) else { throw RendezvousViolation(what: "malformed READ offer") }
        let data = payload.baseAddress! + ControlMessage.ReadOffer.dataOffset
        // From the authenticated offer; the data's own MAC is checked after the READ.
        let key = WindowKey(
            rkey: UInt32(bigEndian: data.loadUnaligned(fromByteOffset: FrameHeader.Offset.rkey, as: UInt32.self)),
            address: UInt64(bigEndian: data.loadUnaligned(fromByteOffset: FrameHeader.Offset.remoteAddress, as: UInt64.self)))
        let length = Int(UInt32(bigEndian: data.loadUnaligned(fromByteOffset: FrameHeader.Offset.length, as: UInt32.self)))
        // The data's sequence is taken now, while the offer is fresh, and its
        // epoch key kept for the READ's completion, however late.
        let epochKey: EpochKey
        switch receiver.admitOfferedRead(header: data, now: ChannelClock.monotonicNanoseconds()) {
        case .admitted(let k): epochKey = k
        case .refused(let reason):
            _ = receiver.rejectOfferedRead(reason)
            throw RendezvousViolation(what: "READ offer for data the data path refuses (\(reason))")
        }
        let slot = try rendezvous.peerOffered(PeerOffer(index: offer.index, generation: offer.generation, tag: offer.tag,
            key: key, length: length))
        transfers.peerOfferRecord(slot).copyMemory(from: data, byteCount: DataPathLimits.frameOverhead)
        transfers.peerOfferKey[slot] = epochKey
    }

    /// Reads the peer's oldest offer with `tag` into `memory[range]` (which
    /// must hold it). Returns nil while the peer has offered none yet. The
    /// request completes, with the number of bytes read, once they verified.
    public func iread(into memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0) throws(ChannelError) -> ChannelRequest? {
        guard !closed else { throw .closed }
        try check(memory, range)
        try progressAll()
        let found = try ChannelError.lowering { try rendezvous.peekOffer(tag: tag, capacity: range.count) }
        guard let (o, offer) = found else { return nil }
        let read = SendRequest(id: ChannelResources.sendTag | ChannelResources.readTag,
            operation: .read(RemoteMemory(address: offer.key.address, rkey: offer.key.rkey, length: UInt32(offer.length))),
            element: memory.region.element(range.lowerBound..<(range.lowerBound + offer.length)))
        let ticket = try resources.postSignaled(read, on: queuePair)
        let h = rendezvous.startRead(peerSlot: o)
        transfers.readRecord(h.index).copyMemory(from: transfers.peerOfferRecord(o), byteCount: DataPathLimits.frameOverhead)
        transfers.readMemory[h.index] = memory
        transfers.readOffset[h.index] = range.lowerBound
        transfers.readTicket[h.index] = ticket
        transfers.readKey[h.index] = transfers.peerOfferKey[o]
        transfers.peerOfferKey[o] = nil
        return ChannelRequest(handle: .read(h), size: offer.length)
    }

    /// If read `h`'s READ has completed, verifies the fetched bytes and, when
    /// they are authentic, tells the owner it may close its window.
    func finishRead(_ h: ReadHandle) throws(ChannelError) {
        let reading = try ChannelError.lowering { try rendezvous.isReading(h) }
        guard reading else { return }
        guard try resources.isDone(ticket: transfers.readTicket[h.index]) else { return }
        rendezvous.readCompleted(h)
        let record = transfers.readRecord(h.index)
        let length = rendezvous.reads[h.index].length
        let payload = UnsafeRawBufferPointer(
            start: transfers.readMemory[h.index]!.bytes.baseAddress! + transfers.readOffset[h.index], count: length)
        guard let key = transfers.readKey[h.index] else { preconditionFailure("read \(h.index) without its admitted key") }
        switch receiver.verifyAdmittedRead(key: key, header: record, payload: payload, tag: record + DataPathLimits.headerSize) {
        case .delivered:
            opened()
            let done = rendezvous.readVerified(h)
            let slot = try resources.acquireSendSlot(deadline: ChannelClock.deadline(after: configuration.setupTimeout))
            try sendControl(.readDone, slot: slot, length: ControlMessage.ReadDone.size) { done.encode(to: $0) }
            transfers.metrics.readsCompleted += 1
        case .rejected(let reason, let action):
            rendezvous.readRejected(h, reason, tornDown: action == .tearDown)
            try handleRejection(reason, action)
        }
    }
}
