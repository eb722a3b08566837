// RDMA WRITE: this side's receives (targets it grants) and the peer's grants
// (targets this side writes into).
extension Rendezvous {
    // MARK: Receives

    /// Reserves a receive of `buffers` (1 to 8, NCCL's grouped `irecv`) and
    /// one target window per buffer. The channel then binds each window of
    /// ``targets(of:)`` and reports it with ``bound(target:key:)``.
    mutating func openReceive<C: Collection>(_ buffers: C, deadline: UInt64?) throws(RendezvousRefusal) -> ReceiveHandle
    where C.Element == ReceiveSlotSpec {
        guard !isClosed else { throw .closed }
        guard (1...Self.maxBuffersPerReceive).contains(buffers.count) else { throw .bufferCount(buffers.count) }
        guard buffers.allSatisfy({ $0.capacity > 0 }) else { throw .emptyBuffer }
        guard let r = receives.firstIndex(where: { $0.phase == .free }) else {
            throw .tooManyOutstanding("receives", limit: receives.count)
        }
        let free = targets.lazy.filter { $0.phase == .free }.count
        guard free >= buffers.count else { throw .tooManyOutstanding("WRITE target windows", limit: targets.count) }
        var k = 0
        var t = 0
        for spec in buffers {
            while targets[t].phase != .free { t += 1 }
            targets[t].phase = .reserved
            targets[t].request = r
            targets[t].capacity = spec.capacity
            targets[t].tag = spec.tag
            targetList[r * Self.maxBuffersPerReceive + k] = t
            k += 1
        }
        receives[r].phase = .open
        receives[r].count = buffers.count
        receives[r].deadline = deadline
        return ReceiveHandle(index: r, generation: receives[r].generation)
    }

    /// The target windows of receive `h`, in buffer order.
    func targets(of h: ReceiveHandle) -> ArraySlice<Int> {
        let start = h.index * Self.maxBuffersPerReceive
        return targetList[start..<(start + receives[h.index].count)]
    }

    /// Target `t`'s window is bound at `key`: the grant to send the peer.
    @discardableResult
    mutating func bound(target t: Int, key: WindowKey) -> ControlMessage.WriteGrant {
        precondition(targets[t].phase == .reserved, "target \(t) bound in phase \(targets[t].phase)")
        targets[t].phase = .granted
        targets[t].key = key
        return grant(target: t)
    }

    /// The grant for target `t`, bound earlier (``bound(target:key:)``).
    func grant(target t: Int) -> ControlMessage.WriteGrant {
        ControlMessage.WriteGrant(index: UInt32(t), generation: targets[t].generation, tag: targets[t].tag,
            rkey: targets[t].key.rkey, address: targets[t].key.address, capacity: UInt32(targets[t].capacity))
    }

    /// A WRITE notice names `key` and claims `length` bytes. Unverified: it
    /// only picks the window, which must now be closed before the bytes are
    /// verified. Returns the target, or nil when no granted window has that
    /// key (the channel rejects the notice as `unknownTarget`).
    mutating func noticeArrived(key: WindowKey, length: Int) -> Int? {
        guard !isClosed,
            let t = targets.firstIndex(where: { $0.phase == .granted && $0.key == key })
        else { return nil }
        mustClose(target: t, .notice(length: length))
        return t
    }

    /// The bytes in target `t` verified: `bytes` were written.
    mutating func writeVerified(target t: Int, bytes: Int) {
        guard !isClosed else { return }
        precondition(targets[t].phase == .verifying, "target \(t) verified in phase \(targets[t].phase)")
        targets[t].phase = .written(bytes)
    }

    /// The bytes in target `t` did not verify: its receive fails and the
    /// other windows of the receive close.
    mutating func writeRejected(target t: Int, _ reason: RejectReason, tornDown: Bool) {
        guard !isClosed else { return }
        precondition(targets[t].phase == .verifying, "target \(t) rejected in phase \(targets[t].phase)")
        targets[t].phase = .rejected
        fail(receive: targets[t].request, .rejected(reason, tornDown: tornDown))
    }

    /// Fails receive `r` (unless it already failed) and closes its bound windows.
    mutating func fail(receive r: Int, _ failure: RequestFailure) {
        guard receives[r].phase == .open else { return }
        receives[r].phase = .failing(failure)
        for t in targets(of: ReceiveHandle(index: r, generation: receives[r].generation)) {
            switch targets[t].phase {
            case .granted: mustClose(target: t, .abort)
            case .reserved: targets[t].phase = .aborted
            default: break
            }
        }
    }

    /// Cancels receive `h`: its bound windows close; it then reports `.cancelled`.
    mutating func cancel(_ h: ReceiveHandle) throws(RendezvousRefusal) {
        try checkOutstanding(h)
        fail(receive: h.index, .cancelled)
    }

    /// Where receive `h` stands. A final answer (completed or failed) frees
    /// it: the handle is not outstanding any more.
    mutating func poll(_ h: ReceiveHandle) throws(RendezvousRefusal) -> RequestProgress {
        try checkOutstanding(h)
        var sizes = ReceiveSizes()
        var settled = true
        for t in targets(of: h) {
            switch targets[t].phase {
            case .written(let n): sizes.append(n)
            case .rejected, .aborted: break
            default: settled = false
            }
        }
        switch receives[h.index].phase {
        case .open:
            guard settled else { return .pending }
            release(receive: h.index)
            return .completed(sizes)
        case .failing(let failure):
            guard settled else { return .pending }
            release(receive: h.index)
            return .failed(failure)
        case .free:
            throw .notOutstanding
        }
    }

    func checkOutstanding(_ h: ReceiveHandle) throws(RendezvousRefusal) {
        guard !isClosed else { throw .closed }
        guard h.index >= 0, h.index < receives.count, receives[h.index].generation == h.generation,
            receives[h.index].phase != .free
        else { throw .notOutstanding }
    }

    mutating func release(receive r: Int) {
        for t in targets(of: ReceiveHandle(index: r, generation: receives[r].generation)) {
            targets[t].phase = .free
            targets[t].generation &+= 1
        }
        receives[r].phase = .free
        receives[r].generation &+= 1
    }

    // MARK: The peer's grants

    /// A verified WRITE grant arrived.
    mutating func peerGranted(_ grant: PeerGrant) throws(RendezvousViolation) {
        guard !isClosed else { return }
        guard peerGrants.store(grant) != nil else {
            throw RendezvousViolation(what: "more than \(peerGrants.capacity) WRITE grants outstanding")
        }
    }

    /// The slot of the peer's oldest grant with `tag`, checked against a
    /// message of `size` bytes; nil while the peer has granted none. A grant
    /// smaller than the message is refused and stays.
    func peekGrant(tag: UInt32, size: Int) throws(RendezvousRefusal) -> Int? {
        guard !isClosed else { throw .closed }
        guard let slot = peerGrants.oldest(tag: tag), let grant = peerGrants[slot] else { return nil }
        guard size <= grant.capacity else { throw .messageLargerThanGrant(needed: size, available: grant.capacity) }
        return slot
    }

    /// Uses the grant ``peekGrant(tag:size:)`` found.
    mutating func useGrant(_ slot: Int) -> PeerGrant {
        guard let grant = peerGrants[slot] else { preconditionFailure("useGrant without peekGrant") }
        peerGrants.remove(slot)
        return grant
    }

    /// ``peekGrant(tag:size:)`` and ``useGrant(_:)`` in one step.
    mutating func takeGrant(tag: UInt32, size: Int) throws(RendezvousRefusal) -> PeerGrant? {
        guard let slot = try peekGrant(tag: tag, size: size) else { return nil }
        return useGrant(slot)
    }
}
