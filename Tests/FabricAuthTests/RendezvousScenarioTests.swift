// The WRITE/READ rendezvous machine as named scenarios (nebula's
// handshake/machine tests): each drives the machine as the channel would and
// asserts the exact actions it asks for, in particular that a window is
// invalidated before anything is delivered or reported.
import Testing
@testable import FabricAuth

/// The machine behind a reference, so `#expect` can drive it.
final class Machine {
    var r: Rendezvous
    init(limits: Rendezvous.Limits) { r = Rendezvous(limits: limits) }
    // Non-mutating on the reference, which `#expect`'s expansion needs.
    func notice(key: WindowKey, length: Int) -> Bool { r.noticeArrived(key: key, length: length) != nil }
    func nextWindowToClose() -> WindowID? { r.nextWindowToClose() }
    func windowClosed(_ w: WindowID) -> WindowClosedAction { r.windowClosed(w) }
}

@Suite struct RendezvousScenarioTests {
    static let limits = Rendezvous.Limits(requests: 4, targets: 8, peerEntries: 4)

    func key(_ n: UInt32) -> WindowKey { WindowKey(rkey: 0x100 + n, address: 0x10_0000 * UInt64(n + 1)) }

    /// Opens a receive of `capacities` (tag = position) and binds its windows
    /// with keys 0, 1, ...; returns the handle and the grants sent.
    func grantedReceive(_ m: Machine, _ capacities: [Int], firstKey: UInt32 = 0,
        deadline: UInt64? = nil) throws -> (ReceiveHandle, [ControlMessage.WriteGrant]) {
        let specs = capacities.enumerated().map { ReceiveSlotSpec(capacity: $0.element, tag: UInt32($0.offset)) }
        let h = try m.r.openReceive(specs, deadline: deadline)
        var grants: [ControlMessage.WriteGrant] = []
        for (k, t) in m.r.targets(of: h).enumerated() { grants.append(m.r.bound(target: t, key: key(firstKey + UInt32(k)))) }
        return (h, grants)
    }

    /// Closes every window the machine asks for, in order; returns them and
    /// the verifications it asked for.
    func closeWindows(_ m: Machine) -> (closed: [WindowID], verify: [WindowClosedAction]) {
        var closed: [WindowID] = []
        var verify: [WindowClosedAction] = []
        while let w = m.r.nextWindowToClose() {
            closed.append(w)
            let action = m.r.windowClosed(w)
            if action != .none { verify.append(action) }
        }
        return (closed, verify)
    }

    @Test func writeIntoAGrant() throws {
        let m = Machine(limits: Self.limits)
        let (h, grants) = try grantedReceive(m, [4096])
        #expect(grants == [ControlMessage.WriteGrant(index: 0, generation: 0, tag: 0, rkey: 0x100, address: 0x10_0000, capacity: 4096)])
        #expect(try m.r.poll(h) == .pending)
        #expect(m.notice(key: key(0), length: 1000))
        // Nothing is verified or reported until the window is closed.
        #expect(try m.r.poll(h) == .pending)
        let (closed, verify) = closeWindows(m)
        #expect(closed == [.writeTarget(0)])
        #expect(verify == [.verifyWrite(target: 0, length: 1000)])
        m.r.writeVerified(target: 0, bytes: 1000)
        #expect(try m.r.poll(h) == .completed(ReceiveSizes(single: 1000)))
        #expect(throws: RendezvousRefusal.notOutstanding) { try m.r.poll(h) }
    }

    @Test func readOfAnOffer() throws {
        let owner = Machine(limits: Self.limits)
        let reader = Machine(limits: Self.limits)
        let o = try owner.r.openOffer(length: 3000, tag: 7, deadline: nil)
        let (index, generation) = owner.r.offerBound(o, key: key(9))
        let slot = try reader.r.peerOffered(PeerOffer(index: index, generation: generation, tag: 7, key: key(9), length: 3000))
        #expect(try reader.r.peekOffer(tag: 6, capacity: 4096) == nil)
        let (peer, offer) = try #require(try reader.r.peekOffer(tag: 7, capacity: 4096))
        #expect(peer == slot && offer.key == key(9))
        let r = reader.r.startRead(peerSlot: peer)
        #expect(try reader.r.isReading(r))
        #expect(try reader.r.poll(r) == .pending)
        reader.r.readCompleted(r)
        let done = reader.r.readVerified(r)
        #expect(done == ControlMessage.ReadDone(index: index, generation: generation))
        #expect(try reader.r.poll(r) == .completed(ReceiveSizes(single: 3000)))

        #expect(try owner.r.poll(o) == .pending)
        try owner.r.peerReadDone(index: done.index, generation: done.generation)
        #expect(try owner.r.poll(o) == .pending, "not served before its window is closed")
        #expect(closeWindows(owner).closed == [.readOffer(0)])
        #expect(try owner.r.poll(o) == .completed(ReceiveSizes(single: 3000)))
    }

    @Test func groupedReceiveWithEightBuffersAndTags() throws {
        let m = Machine(limits: Rendezvous.Limits(requests: 2, targets: 8))
        let capacities = (1...8).map { $0 * 100 }
        let (h, grants) = try grantedReceive(m, capacities)
        #expect(grants.map(\.tag) == Array(0..<8))
        #expect(grants.map(\.capacity) == capacities.map(UInt32.init))
        // The WRITEs arrive in any order; the request completes when all have verified.
        for k in [3, 0, 7, 1, 6, 2, 5, 4] {
            #expect(m.notice(key: key(UInt32(k)), length: k + 1))
            let (closed, verify) = closeWindows(m)
            let t = m.r.targets(of: h)[m.r.targets(of: h).startIndex + k]
            #expect(closed == [.writeTarget(t)])
            #expect(verify == [.verifyWrite(target: t, length: k + 1)])
            m.r.writeVerified(target: t, bytes: k + 1)
            #expect(try m.r.poll(h) == (k == 4 ? .completed(sizesOf(Array(1...8))) : .pending))
        }
        // All eight windows were in use; a second grouped receive had to wait.
        #expect(throws: RendezvousRefusal.bufferCount(9)) {
            try m.r.openReceive(Array(repeating: ReceiveSlotSpec(capacity: 1, tag: 0), count: 9), deadline: nil)
        }
    }

    func sizesOf(_ values: [Int]) -> ReceiveSizes {
        var s = ReceiveSizes()
        for v in values { s.append(v) }
        return s
    }

    @Test func receiveNeedsAFreeWindowPerBuffer() throws {
        let m = Machine(limits: Rendezvous.Limits(requests: 4, targets: 8))
        _ = try grantedReceive(m, Array(repeating: 10, count: 6))
        #expect(throws: RendezvousRefusal.tooManyOutstanding("WRITE target windows", limit: 8)) {
            try m.r.openReceive(Array(repeating: ReceiveSlotSpec(capacity: 1, tag: 0), count: 3), deadline: nil)
        }
        #expect(throws: RendezvousRefusal.emptyBuffer) { try m.r.openReceive([ReceiveSlotSpec(capacity: 0, tag: 0)], deadline: nil) }
    }

    // MARK: The depth limit (NCCL's 32 outstanding requests per direction)

    /// The default depth exactly: 32 receives accepted, the 33rd refused
    /// with `tooManyOutstanding` and nothing changed (no window reserved),
    /// accepted once one has completed; the channel reports the refusal as
    /// its own error, which NCCL's plug-in turns into a NULL request.
    @Test func thirtyTwoOutstandingReceivesThenTheThirtyThirdIsRefused() throws {
        let depth = ChannelConfiguration.defaultRemoteAccessDepth
        #expect(depth == 32)
        let m = Machine(limits: Rendezvous.Limits(requests: depth, targets: depth))
        var handles: [ReceiveHandle] = []
        for k in 0..<depth {
            let (h, grants) = try grantedReceive(m, [4096], firstKey: UInt32(k))
            #expect(grants.count == 1 && grants[0].index == UInt32(k))
            handles.append(h)
        }
        let one = [ReceiveSlotSpec(capacity: 4096, tag: 99)]
        #expect(throws: RendezvousRefusal.tooManyOutstanding("receives", limit: depth)) { try m.r.openReceive(one, deadline: nil) }
        #expect(m.r.targets.allSatisfy { $0.phase == .granted }, "the refused call reserved nothing")
        guard case .tooManyOutstanding(let what, let limit) = ChannelError(refusal: .tooManyOutstanding("receives", limit: depth)) else {
            Issue.record("the channel must report a full table as tooManyOutstanding")
            return
        }
        #expect(what == "receives" && limit == depth)

        // One completes (notice, window closed, bytes verified, tested): the 33rd fits.
        #expect(m.notice(key: key(5), length: 4096))
        #expect(closeWindows(m).verify == [.verifyWrite(target: 5, length: 4096)])
        m.r.writeVerified(target: 5, bytes: 4096)
        #expect(throws: RendezvousRefusal.tooManyOutstanding("receives", limit: depth), "not until it is tested") {
            try m.r.openReceive(one, deadline: nil)
        }
        #expect(try m.r.poll(handles[5]) == .completed(ReceiveSizes(single: 4096)))
        let extra = try m.r.openReceive(one, deadline: nil)
        #expect(extra.index == 5 && extra.generation == handles[5].generation + 1)
        #expect(throws: RendezvousRefusal.tooManyOutstanding("receives", limit: depth)) { try m.r.openReceive(one, deadline: nil) }
    }

    /// Offers and READs have the same limit: 32 each, the 33rd refused, accepted after one completes.
    @Test func thirtyTwoOutstandingOffersAndReads() throws {
        let depth = ChannelConfiguration.defaultRemoteAccessDepth
        let owner = Machine(limits: Rendezvous.Limits(requests: depth, targets: depth))
        let reader = Machine(limits: Rendezvous.Limits(requests: depth, targets: depth))
        var offers: [OfferHandle] = []
        for k in 0..<depth {
            let o = try owner.r.openOffer(length: 100, tag: 1, deadline: nil)
            let (index, generation) = owner.r.offerBound(o, key: key(UInt32(k)))
            _ = try reader.r.peerOffered(PeerOffer(index: index, generation: generation, tag: 1, key: key(UInt32(k)), length: 100))
            offers.append(o)
        }
        #expect(throws: RendezvousRefusal.tooManyOutstanding("READ offers", limit: depth)) {
            try owner.r.openOffer(length: 100, tag: 1, deadline: nil)
        }
        var reads: [ReadHandle] = []
        for _ in 0..<depth {
            let (slot, _) = try #require(try reader.r.peekOffer(tag: 1, capacity: 100))
            reads.append(reader.r.startRead(peerSlot: slot))
        }
        // A 33rd offer arrives (the owner freed one below); the reader has no read slot for it yet.
        reader.r.readCompleted(reads[0])
        let done = reader.r.readVerified(reads[0])
        try owner.r.peerReadDone(index: done.index, generation: done.generation)
        #expect(closeWindows(owner).closed == [.readOffer(0)])
        #expect(try owner.r.poll(offers[0]) == .completed(ReceiveSizes(single: 100)))
        let o = try owner.r.openOffer(length: 100, tag: 1, deadline: nil)
        let (index, generation) = owner.r.offerBound(o, key: key(40))
        _ = try reader.r.peerOffered(PeerOffer(index: index, generation: generation, tag: 1, key: key(40), length: 100))
        #expect(throws: RendezvousRefusal.tooManyOutstanding("READs", limit: depth)) { try reader.r.peekOffer(tag: 1, capacity: 100) }
        #expect(try reader.r.poll(reads[0]) == .completed(ReceiveSizes(single: 100)))
        #expect(try reader.r.peekOffer(tag: 1, capacity: 100) != nil)
    }

    /// NCCL's plug-in limits: 32 requests, each a grouped receive of 8
    /// buffers (256 WRITE target windows); the 33rd is refused as a request,
    /// not for want of windows.
    @Test func thirtyTwoGroupedReceivesOfEight() throws {
        let depth = ChannelConfiguration.defaultRemoteAccessDepth
        let m = Machine(limits: Rendezvous.Limits(requests: depth, targets: depth * Rendezvous.maxBuffersPerReceive))
        for k in 0..<depth { _ = try grantedReceive(m, Array(repeating: 64, count: 8), firstKey: UInt32(k * 8)) }
        #expect(throws: RendezvousRefusal.tooManyOutstanding("receives", limit: depth)) {
            try m.r.openReceive([ReceiveSlotSpec(capacity: 64, tag: 0)], deadline: nil)
        }
    }

    /// A SEND-only channel (remoteAccessDepth 0) refuses every request as outstanding past a limit of 0.
    @Test func aChannelWithoutDepthRefusesEveryRequest() throws {
        let m = Machine(limits: Rendezvous.Limits(requests: 0, targets: 0))
        #expect(throws: RendezvousRefusal.tooManyOutstanding("receives", limit: 0)) {
            try m.r.openReceive([ReceiveSlotSpec(capacity: 1, tag: 0)], deadline: nil)
        }
        #expect(throws: RendezvousRefusal.tooManyOutstanding("READ offers", limit: 0)) { try m.r.openOffer(length: 1, tag: 0, deadline: nil) }
        #expect(m.nextWindowToClose() == nil)
    }

    @Test func senderLargerThanGrant() throws {
        let m = Machine(limits: Self.limits)
        #expect(try m.r.takeGrant(tag: 1, size: 10) == nil, "no grant yet: the caller tries again later")
        let grant = PeerGrant(index: 0, generation: 0, tag: 1, key: key(0), capacity: 512)
        try m.r.peerGranted(grant)
        #expect(throws: RendezvousRefusal.messageLargerThanGrant(needed: 513, available: 512)) { try m.r.takeGrant(tag: 1, size: 513) }
        #expect(try m.r.takeGrant(tag: 1, size: 512) == grant, "the refused grant is still there")
        #expect(try m.r.takeGrant(tag: 1, size: 1) == nil)
    }

    @Test func grantsWithOneTagMatchInArrivalOrder() throws {
        let m = Machine(limits: Self.limits)
        for (n, tag) in [(0, 5), (1, 6), (2, 5)] {
            try m.r.peerGranted(PeerGrant(index: UInt32(n), generation: 0, tag: UInt32(tag), key: key(UInt32(n)), capacity: 64))
        }
        #expect(try m.r.takeGrant(tag: 5, size: 1)?.index == 0)
        #expect(try m.r.takeGrant(tag: 5, size: 1)?.index == 2)
        #expect(try m.r.takeGrant(tag: 6, size: 1)?.index == 1)
    }

    @Test func grantFloodPastTheLimit() throws {
        let m = Machine(limits: Self.limits)
        for n in 0..<4 { try m.r.peerGranted(PeerGrant(index: UInt32(n), generation: 0, tag: 0, key: key(0), capacity: 1)) }
        #expect(throws: RendezvousViolation(what: "more than 4 WRITE grants outstanding")) {
            try m.r.peerGranted(PeerGrant(index: 4, generation: 0, tag: 0, key: key(0), capacity: 1))
        }
        for n in 0..<4 { _ = try m.r.peerOffered(PeerOffer(index: UInt32(n), generation: 0, tag: 0, key: key(0), length: 1)) }
        #expect(throws: RendezvousViolation(what: "more than 4 READ offers outstanding")) {
            try m.r.peerOffered(PeerOffer(index: 4, generation: 0, tag: 0, key: key(0), length: 1))
        }
    }

    @Test func duplicateReadDone() throws {
        let m = Machine(limits: Self.limits)
        let o = try m.r.openOffer(length: 10, tag: 0, deadline: nil)
        _ = m.r.offerBound(o, key: key(1))
        try m.r.peerReadDone(index: 0, generation: 0)
        #expect(throws: RendezvousViolation(what: "READ done for offer 0.0, which is not outstanding")) {
            try m.r.peerReadDone(index: 0, generation: 0)
        }
        #expect(throws: RendezvousViolation(what: "READ done for offer 3.0, which is not outstanding")) {
            try m.r.peerReadDone(index: 3, generation: 0)
        }
        #expect(throws: RendezvousViolation(what: "READ done for offer 99, which does not exist")) {
            try m.r.peerReadDone(index: 99, generation: 0)
        }
    }

    @Test func noticeForAnUnknownOrStaleWindow() throws {
        let m = Machine(limits: Self.limits)
        #expect(!m.notice(key: key(0), length: 1), "nothing granted")
        let (h, _) = try grantedReceive(m, [100])
        #expect(!m.notice(key: WindowKey(rkey: key(0).rkey, address: key(0).address + 8), length: 1))
        #expect(m.notice(key: key(0), length: 100))
        #expect(!m.notice(key: key(0), length: 100), "a second notice for the same window finds it closing")
        _ = closeWindows(m)
        m.r.writeVerified(target: 0, bytes: 100)
        _ = try m.r.poll(h)
        #expect(!m.notice(key: key(0), length: 100), "the window's old key after it completed")
        #expect(m.nextWindowToClose() == nil)
    }

    @Test func staleGenerationHandles() throws {
        let m = Machine(limits: Self.limits)
        let (h, _) = try grantedReceive(m, [100])
        try m.r.cancel(h)
        _ = closeWindows(m)
        #expect(try m.r.poll(h) == .failed(.cancelled))
        let (again, _) = try grantedReceive(m, [100], firstKey: 1)
        #expect(again.index == h.index && again.generation == h.generation &+ 1)
        #expect(throws: RendezvousRefusal.notOutstanding) { try m.r.poll(h) }
        #expect(throws: RendezvousRefusal.notOutstanding) { try m.r.cancel(h) }
        #expect(throws: RendezvousRefusal.notOutstanding) { try m.r.poll(OfferHandle(index: 0, generation: 0)) }
        #expect(throws: RendezvousRefusal.notOutstanding) { try m.r.poll(ReadHandle(index: 7, generation: 0)) }
    }

    @Test func cancelClosesTheWindowsBeforeReporting() throws {
        let m = Machine(limits: Self.limits)
        let (h, _) = try grantedReceive(m, [100, 200])
        try m.r.cancel(h)
        #expect(try m.r.poll(h) == .pending, "reported only after both windows are closed")
        #expect(!m.notice(key: key(0), length: 100), "a cancelled window takes no notice")
        let first = try #require(m.nextWindowToClose())
        #expect(m.windowClosed(first) == .none)
        #expect(try m.r.poll(h) == .pending)
        #expect(closeWindows(m).closed.count == 1)
        #expect(try m.r.poll(h) == .failed(.cancelled))

        let o = try m.r.openOffer(length: 5, tag: 0, deadline: nil)
        _ = m.r.offerBound(o, key: key(4))
        try m.r.cancel(o)
        #expect(try m.r.poll(o) == .pending)
        #expect(closeWindows(m).closed == [.readOffer(0)])
        #expect(try m.r.poll(o) == .failed(.cancelled))
        // The reader's READ finished before it saw the window close: its READ
        // done is not a violation.
        try m.r.peerReadDone(index: 0, generation: 0)
        #expect(throws: RendezvousRefusal.readInFlight) {
            let reader = Machine(limits: Self.limits)
            let slot = try reader.r.peerOffered(PeerOffer(index: 0, generation: 0, tag: 0, key: key(0), length: 1))
            let read = reader.r.startRead(peerSlot: slot)
            try reader.r.cancel(read)
        }
    }

    /// A receive whose set-up failed half-way (the channel bound one of two
    /// windows, then ran out of send slots) is undone by cancelling it: the
    /// bound window closes, the unbound one is simply released.
    @Test func cancelAHalfBoundReceive() throws {
        let m = Machine(limits: Self.limits)
        let h = try m.r.openReceive([ReceiveSlotSpec(capacity: 10, tag: 0), ReceiveSlotSpec(capacity: 20, tag: 1)], deadline: nil)
        let first = m.r.targets(of: h).first!
        _ = m.r.bound(target: first, key: key(0))
        try m.r.cancel(h)
        #expect(closeWindows(m).closed == [.writeTarget(first)])
        #expect(try m.r.poll(h) == .failed(.cancelled))
        #expect(m.r.targets.allSatisfy { $0.phase == .free })
        let o = try m.r.openOffer(length: 5, tag: 0, deadline: nil)
        try m.r.cancel(o)
        #expect(m.nextWindowToClose() == nil, "an offer not yet bound has no window to close")
        #expect(try m.r.poll(o) == .failed(.cancelled))
    }

    @Test func timeoutClosesTheWindowsBeforeReporting() throws {
        let m = Machine(limits: Self.limits)
        let (h, _) = try grantedReceive(m, [100], deadline: 1_000)
        let (patient, _) = try grantedReceive(m, [100], firstKey: 1)
        let o = try m.r.openOffer(length: 5, tag: 0, deadline: 2_000)
        _ = m.r.offerBound(o, key: key(5))
        m.r.expire(now: 999)
        #expect(m.nextWindowToClose() == nil)
        m.r.expire(now: 1_000)
        #expect(closeWindows(m).closed == [.writeTarget(0)])
        #expect(try m.r.poll(h) == .failed(.timedOut))
        #expect(try m.r.poll(patient) == .pending, "no deadline, no expiry")
        m.r.expire(now: 5_000)
        #expect(try m.r.poll(o) == .pending)
        #expect(closeWindows(m).closed == [.readOffer(0)])
        #expect(try m.r.poll(o) == .failed(.timedOut))
    }

    @Test func aFailedBufferClosesItsSiblings() throws {
        let m = Machine(limits: Self.limits)
        let (h, _) = try grantedReceive(m, [10, 20, 30])
        #expect(m.notice(key: key(1), length: 20))
        #expect(closeWindows(m).verify == [.verifyWrite(target: 1, length: 20)])
        m.r.writeRejected(target: 1, .badTag, tornDown: false)
        #expect(try m.r.poll(h) == .pending, "the other two windows are still bound")
        #expect(Set(closeWindows(m).closed) == [.writeTarget(0), .writeTarget(2)])
        #expect(try m.r.poll(h) == .failed(.rejected(.badTag, tornDown: false)))
        #expect(m.r.targets.allSatisfy { $0.phase == .free })
    }

    @Test func closeInEveryState() throws {
        let m = Machine(limits: Self.limits)
        let (granted, _) = try grantedReceive(m, [10])
        let (closing, _) = try grantedReceive(m, [10], firstKey: 1)
        #expect(m.notice(key: key(1), length: 10))
        let reserved = try m.r.openReceive([ReceiveSlotSpec(capacity: 1, tag: 0)], deadline: nil)
        let offer = try m.r.openOffer(length: 1, tag: 0, deadline: nil)
        let slot = try m.r.peerOffered(PeerOffer(index: 0, generation: 0, tag: 0, key: key(0), length: 1))
        let read = m.r.startRead(peerSlot: slot)
        try m.r.peerGranted(PeerGrant(index: 0, generation: 0, tag: 0, key: key(0), capacity: 1))
        m.r.close()
        #expect(m.r.isClosed)
        for h in [granted, closing, reserved] { #expect(throws: RendezvousRefusal.closed) { try m.r.poll(h) } }
        #expect(throws: RendezvousRefusal.closed) { try m.r.poll(offer) }
        #expect(throws: RendezvousRefusal.closed) { try m.r.poll(read) }
        #expect(m.nextWindowToClose() == nil, "the QP is gone: nothing left to invalidate")
        #expect(!m.notice(key: key(0), length: 1))
        #expect(throws: RendezvousRefusal.closed) { try m.r.takeGrant(tag: 0, size: 1) }
        #expect(throws: RendezvousRefusal.closed) { try m.r.openReceive([ReceiveSlotSpec(capacity: 1, tag: 0)], deadline: nil) }
        #expect(throws: RendezvousRefusal.closed) { try m.r.openOffer(length: 1, tag: 0, deadline: nil) }
        #expect(throws: RendezvousRefusal.closed) { try m.r.peekOffer(tag: 0, capacity: 1) }
    }
}
