import Verbs

// RDMA READ with the owner's tag (docs/protocol.md "RDMA WRITE and READ"):
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
    /// has verified them and the window is closed).
    public func offerForRead(_ memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0,
        timeout: Duration = .seconds(10)) throws(ChannelError) -> ChannelRequest {
        guard !closed else { throw .closed }
        try check(memory, range)
        guard !range.isEmpty else { throw .invalidRequest("a READ offer needs at least one byte") }
        guard let i = remote.offers.firstIndex(where: { $0.state == .free }) else {
            throw .invalidRequest("all \(remote.depth) READ offers are outstanding; test() them first")
        }
        try grantAccess(.remoteRead)
        let slot = try resources.acquireSendSlot(deadline: ChannelClock.deadline(after: timeout))
        let window = resources.windows[remote.depth + i]
        do {
            try queuePair.bind(window, to: memory.region, range: range, access: [.remoteRead],
                id: ChannelResources.sendTag | ChannelResources.windowTag, flags: [])
        } catch {
            throw .verbs(error)
        }
        remote.metrics.windowsBound += 1
        let generation = remote.offers[i].generation
        remote.offers[i].state = .offered
        remote.offers[i].memory = memory
        remote.offers[i].length = range.count
        let offer = ControlMessage.ReadOffer(index: UInt32(i), generation: generation, tag: tag)
        let payload = resources.sendSlot(slot).baseAddress! + DataPathLimits.headerSize
        offer.encodePrefix(to: payload)
        let data = payload + ControlMessage.ReadOffer.dataOffset
        let sealed: SealedFrame
        do {
            sealed = try sender.sealDetached(payload: UnsafeRawBufferPointer(rebasing: memory.bytes[range]),
                opcode: .rdmaRead, remoteAddress: window.boundAddress, rkey: window.rkey,
                header: data, tag: data + DataPathLimits.headerSize, now: ChannelClock.monotonicNanoseconds())
        } catch {
            throw .dataPath(error)
        }
        try checkEpoch(sealed.epoch)
        try sendControl(.readOffer, slot: slot, length: ControlMessage.ReadOffer.size) { _ in }
        return ChannelRequest(kind: .offer, index: UInt32(i), value: UInt64(generation), size: range.count)
    }

    /// Reads the peer's oldest offer with `tag` into `memory[range]` (which
    /// must hold it). Returns nil while the peer has offered none yet. The
    /// request completes, with the number of bytes read, once they verified.
    public func iread(into memory: ChannelMemory, range: Range<Int>, tag: UInt32 = 0) throws(ChannelError) -> ChannelRequest? {
        guard !closed else { throw .closed }
        try check(memory, range)
        try progressAll()
        guard let o = remote.oldest(tag: tag, in: remote.peerOffers) else { return nil }
        let record = remote.offerRecord(o)
        // From the authenticated offer: where the data is and how long.
        let address = UInt64(bigEndian: record.loadUnaligned(fromByteOffset: MessageHeader.Offset.remoteAddress, as: UInt64.self))
        let rkey = UInt32(bigEndian: record.loadUnaligned(fromByteOffset: MessageHeader.Offset.rkey, as: UInt32.self))
        let length = Int(UInt32(bigEndian: record.loadUnaligned(fromByteOffset: MessageHeader.Offset.length, as: UInt32.self)))
        guard length <= range.count else { throw .receiveBufferTooSmall(needed: length, available: range.count) }
        guard let i = remote.reads.firstIndex(where: { $0.state == .free }) else {
            throw .invalidRequest("all \(remote.depth) READs are outstanding; test() them first")
        }
        let read = SendRequest(id: ChannelResources.sendTag | ChannelResources.readTag,
            operation: .read(RemoteMemory(address: address, rkey: rkey, length: UInt32(length))),
            element: memory.region.element(range.lowerBound..<(range.lowerBound + length)))
        let ticket = try resources.postSignaled(read, on: queuePair)
        remote.peerOffers[o].used = false
        remote.readRecord(i).copyMemory(from: record, byteCount: DataPathLimits.frameOverhead)
        let generation = remote.reads[i].generation
        remote.reads[i].state = .reading(ticket: ticket)
        remote.reads[i].memory = memory
        remote.reads[i].offset = range.lowerBound
        remote.reads[i].length = length
        remote.reads[i].offerIndex = remote.peerOffers[o].grant.index
        remote.reads[i].offerGeneration = remote.peerOffers[o].grant.generation
        return ChannelRequest(kind: .read, index: UInt32(i), value: UInt64(generation), size: length)
    }

    func testRead(_ request: ChannelRequest) throws(ChannelError) -> Int? {
        let i = Int(request.index)
        guard i < remote.reads.count, remote.reads[i].generation == UInt32(truncatingIfNeeded: request.value) else {
            throw .invalidRequest("\(request) is not outstanding")
        }
        switch remote.reads[i].state {
        case .free:
            throw .invalidRequest("\(request) is not outstanding")
        case .done(let n):
            releaseRead(i)
            return n
        case .failed(let reason, let down):
            releaseRead(i)
            throw .rejected(reason, tornDown: down)
        case .reading(let ticket):
            guard try resources.isDone(ticket: ticket) else { return nil }
            let r = remote.reads[i]
            let record = remote.readRecord(i)
            let payload = UnsafeRawBufferPointer(start: r.memory!.bytes.baseAddress! + r.offset, count: r.length)
            switch receiver.openDetached(header: record, payload: payload, tag: record + DataPathLimits.headerSize,
                now: ChannelClock.monotonicNanoseconds()) {
            case .delivered:
                let slot = try resources.acquireSendSlot(deadline: ChannelClock.deadline(after: configuration.setupTimeout))
                let done = ControlMessage.ReadDone(index: r.offerIndex, generation: r.offerGeneration)
                try sendControl(.readDone, slot: slot, length: ControlMessage.ReadDone.size) { done.encode(to: $0) }
                remote.metrics.readsCompleted += 1
                releaseRead(i)
                return r.length
            case .rejected(let reason, let action):
                releaseRead(i)
                try handleRejection(reason, action)
                throw .rejected(reason, tornDown: false)
            }
        }
    }

    func releaseRead(_ i: Int) {
        remote.reads[i].state = .free
        remote.reads[i].memory = nil
        remote.reads[i].generation &+= 1
    }

    /// The reader is done with offer `done`: close its window.
    func finishOffer(_ done: ControlMessage.ReadDone) throws(ChannelError) {
        let i = Int(done.index)
        guard i < remote.offers.count, remote.offers[i].generation == done.generation,
            remote.offers[i].state == .offered
        else { throw violation("READ done for an offer that is not outstanding") }
        let ticket = try invalidate(resources.windows[remote.depth + i])
        remote.offers[i].state = .closing(ticket: ticket)
    }
}
