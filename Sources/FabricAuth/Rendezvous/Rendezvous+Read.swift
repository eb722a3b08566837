// RDMA READ: this side's offers (windows the peer reads) and reads of the
// peer's offers.
extension Rendezvous {
    // MARK: Offers

    /// Reserves an offer of `length` bytes with `tag`; the channel binds
    /// window `.readOffer(h.index)` and reports it with ``offerBound(_:key:)``.
    mutating func openOffer(length: Int, tag: UInt32, deadline: UInt64?) throws(RendezvousRefusal) -> OfferHandle {
        guard !isClosed else { throw .closed }
        guard length > 0 else { throw .emptyBuffer }
        guard let o = offers.firstIndex(where: { $0.phase == .free }) else {
            throw .tooManyOutstanding("READ offers", limit: offers.count)
        }
        offers[o].phase = .reserved
        offers[o].length = length
        offers[o].deadline = deadline
        offers[o].failure = nil
        return OfferHandle(index: o, generation: offers[o].generation)
    }

    /// Offer `h`'s window is bound: the offer's index and generation for the
    /// control message (the channel seals the data header with the key).
    mutating func offerBound(_ h: OfferHandle, key: WindowKey) -> (index: UInt32, generation: UInt32) {
        precondition(offers[h.index].phase == .reserved, "offer \(h.index) bound in phase \(offers[h.index].phase)")
        offers[h.index].phase = .offered
        return (UInt32(h.index), h.generation)
    }

    /// The peer's verified READ done for offer (index, generation).
    mutating func peerReadDone(index: UInt32, generation: UInt32) throws(RendezvousViolation) {
        guard !isClosed else { return }
        let o = Int(index)
        guard o < offers.count else { throw RendezvousViolation(what: "READ done for offer \(index), which does not exist") }
        if offers[o].generation == generation, offers[o].phase == .offered {
            mustClose(offer: o, .readDone)
            return
        }
        // The reader finished a READ this side had already given up on
        // (cancelled or expired): not the peer's fault, nothing to close.
        if offers[o].generation == generation, offers[o].failure != nil { return }
        if offers[o].abandoned == generation {
            offers[o].abandoned = nil
            return
        }
        throw RendezvousViolation(what: "READ done for offer \(index).\(generation), which is not outstanding")
    }

    /// Cancels offer `h`: its window closes; it then reports `.cancelled`.
    mutating func cancel(_ h: OfferHandle) throws(RendezvousRefusal) {
        try checkOutstanding(h)
        switch offers[h.index].phase {
        case .offered:
            offers[h.index].failure = .cancelled
            mustClose(offer: h.index, .abort)
        case .reserved:
            offers[h.index].failure = .cancelled
            offers[h.index].phase = .aborted
        default:
            break  // already closing or closed: its result stands
        }
    }

    /// Where offer `h` stands; a final answer frees it.
    mutating func poll(_ h: OfferHandle) throws(RendezvousRefusal) -> RequestProgress {
        try checkOutstanding(h)
        switch offers[h.index].phase {
        case .served:
            let length = offers[h.index].length
            release(offer: h.index)
            return .completed(ReceiveSizes(single: length))
        case .aborted:
            let failure = offers[h.index].failure ?? .cancelled
            offers[h.index].abandoned = h.generation
            release(offer: h.index)
            return .failed(failure)
        default:
            return .pending
        }
    }

    func checkOutstanding(_ h: OfferHandle) throws(RendezvousRefusal) {
        guard !isClosed else { throw .closed }
        guard h.index >= 0, h.index < offers.count, offers[h.index].generation == h.generation,
            offers[h.index].phase != .free
        else { throw .notOutstanding }
    }

    mutating func release(offer o: Int) {
        offers[o].phase = .free
        offers[o].failure = nil
        offers[o].generation &+= 1
    }

    // MARK: Reads of the peer's offers

    /// A verified READ offer arrived: the slot where the channel keeps its
    /// data header and tag.
    mutating func peerOffered(_ offer: PeerOffer) throws(RendezvousViolation) -> Int {
        guard !isClosed else { return 0 }
        guard let slot = peerOffers.store(offer) else {
            throw RendezvousViolation(what: "more than \(peerOffers.capacity) READ offers outstanding")
        }
        return slot
    }

    /// The peer's oldest offer with `tag`, if any, checked against a buffer
    /// of `capacity` bytes and a free read slot; nothing changes until
    /// ``startRead(peerSlot:)``.
    func peekOffer(tag: UInt32, capacity: Int) throws(RendezvousRefusal) -> (slot: Int, offer: PeerOffer)? {
        guard !isClosed else { throw .closed }
        guard let slot = peerOffers.oldest(tag: tag), let offer = peerOffers[slot] else { return nil }
        guard offer.length <= capacity else { throw .offerLargerThanBuffer(needed: offer.length, available: capacity) }
        guard reads.contains(where: { $0.phase == .free }) else {
            throw .tooManyOutstanding("READs", limit: reads.count)
        }
        return (slot, offer)
    }

    /// The READ of the offer in `peerSlot` is posted: the offer is used.
    mutating func startRead(peerSlot: Int) -> ReadHandle {
        guard let offer = peerOffers[peerSlot], let r = reads.firstIndex(where: { $0.phase == .free }) else {
            preconditionFailure("startRead without peekOffer")
        }
        peerOffers.remove(peerSlot)
        reads[r].phase = .reading
        reads[r].offerIndex = offer.index
        reads[r].offerGeneration = offer.generation
        reads[r].length = offer.length
        return ReadHandle(index: r, generation: reads[r].generation)
    }

    /// Read `h`'s READ completed: the channel verifies the fetched bytes.
    mutating func readCompleted(_ h: ReadHandle) {
        guard !isClosed else { return }
        precondition(reads[h.index].phase == .reading, "read \(h.index) completed in phase \(reads[h.index].phase)")
        reads[h.index].phase = .verifying
    }

    /// The fetched bytes verified: the READ done to send the owner.
    mutating func readVerified(_ h: ReadHandle) -> ControlMessage.ReadDone {
        precondition(reads[h.index].phase == .verifying, "read \(h.index) verified in phase \(reads[h.index].phase)")
        reads[h.index].phase = .done
        return ControlMessage.ReadDone(index: reads[h.index].offerIndex, generation: reads[h.index].offerGeneration)
    }

    mutating func readRejected(_ h: ReadHandle, _ reason: RejectReason, tornDown: Bool) {
        guard !isClosed else { return }
        precondition(reads[h.index].phase == .verifying, "read \(h.index) rejected in phase \(reads[h.index].phase)")
        reads[h.index].phase = .failed(.rejected(reason, tornDown: tornDown))
    }

    /// Whether read `h` is waiting for its READ to complete (the channel
    /// checks the completion, then calls ``readCompleted(_:)``).
    func isReading(_ h: ReadHandle) throws(RendezvousRefusal) -> Bool {
        try checkOutstanding(h)
        return reads[h.index].phase == .reading
    }

    /// Where read `h` stands; a final answer frees it.
    mutating func poll(_ h: ReadHandle) throws(RendezvousRefusal) -> RequestProgress {
        try checkOutstanding(h)
        switch reads[h.index].phase {
        case .done:
            let length = reads[h.index].length
            release(read: h.index)
            return .completed(ReceiveSizes(single: length))
        case .failed(let failure):
            release(read: h.index)
            return .failed(failure)
        default:
            return .pending
        }
    }

    /// A posted READ can't be recalled: refused while it is in flight.
    func cancel(_ h: ReadHandle) throws(RendezvousRefusal) {
        try checkOutstanding(h)
        throw .readInFlight
    }

    func checkOutstanding(_ h: ReadHandle) throws(RendezvousRefusal) {
        guard !isClosed else { throw .closed }
        guard h.index >= 0, h.index < reads.count, reads[h.index].generation == h.generation,
            reads[h.index].phase != .free
        else { throw .notOutstanding }
    }

    mutating func release(read r: Int) {
        reads[r].phase = .free
        reads[r].generation &+= 1
    }
}
