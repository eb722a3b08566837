// The request model NCCL needs, on a real rxe device: grouped receives of
// eight tagged buffers, a message larger than the grant refused, and
// cancelled or expired receives whose windows are closed before anything is
// reported (a WRITE with the window's old rkey then fails at the NIC).
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
import Verbs
import XCTest

final class RendezvousRequestTests: XCTestCase {
    typealias Remote = AuthenticatedRemoteAccessTests

    /// One grouped irecv of 8 buffers with tags 0...7 and 8 sizes; the
    /// sender's isends arrive in reverse tag order; the request completes
    /// once, with each buffer's size, and every byte is the sender's.
    func testGroupedReceiveOfEightTaggedBuffers() throws {
        let context = try DeviceTestSupport.openContext()
        let (receiver, sender) = try AuthenticatedChannelTests.connectedPair(context: context)
        let sizes = [1, 100, 4096, 5000, 65_536, 7, 12_345, 200_000]
        let slice = 256 * 1024
        let target = try receiver.allocateMemory(bytes: 8 * slice)
        let buffers = (0..<8).map { ReceiveBuffer(target, range: ($0 * slice)..<($0 * slice + slice), tag: UInt32($0)) }
        let recv = try receiver.irecv(buffers)
        XCTAssertEqual(recv.kind, .receive)

        var sends: [(AuthenticatedQueuePair, ChannelRequest)] = []
        var sources: [ChannelMemory] = []
        for tag in (0..<8).reversed() {
            let source = try sender.allocateMemory(bytes: sizes[tag])
            Remote.fill(source, count: sizes[tag], seed: tag)
            sources.append(source)
            sends.append((sender, try Remote.isend(sender, source, 0..<sizes[tag], tag: UInt32(tag))))
        }
        XCTAssertEqual(try Remote.complete(sends), sizes.reversed())
        var got: ReceiveSizes?
        let deadline = ContinuousClock.now + .seconds(60)
        while got == nil, ContinuousClock.now < deadline { got = try receiver.testSizes(recv) }
        XCTAssertEqual(got.map(Array.init), sizes)
        for tag in 0..<8 {
            XCTAssertTrue(Remote.matches(target, offset: tag * slice, count: sizes[tag], seed: tag), "buffer \(tag)")
        }
        XCTAssertThrowsError(try receiver.test(recv), "a completed request is finished")
        XCTAssertEqual(receiver.remoteAccessMetrics.writesReceived, 8)
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsInvalidated, 8)
    }

    /// Windows are allocated at first use, not with the channel: a fresh
    /// channel holds none; a grouped receive of 3 allocates 3, which later
    /// receives reuse (the rendezvous takes the lowest free window); an offer
    /// allocates its own. A writer allocates none.
    func testWindowsAreAllocatedAtFirstUseAndReused() throws {
        let context = try DeviceTestSupport.openContext()
        let (receiver, sender) = try AuthenticatedChannelTests.connectedPair(context: context)
        XCTAssertEqual(receiver.resources.allocatedWindowCount, 0)
        XCTAssertEqual(sender.resources.allocatedWindowCount, 0)
        let size = 4096
        let target = try receiver.allocateMemory(bytes: 3 * size)
        let source = try sender.allocateMemory(bytes: size)
        for (round, count) in [3, 1, 3].enumerated() {
            let recv = try receiver.irecv((0..<count).map {
                ReceiveBuffer(target, range: ($0 * size)..<(($0 + 1) * size), tag: UInt32($0))
            })
            XCTAssertEqual(receiver.resources.allocatedWindowCount, 3, "round \(round)")
            var requests = [(receiver, recv)]
            for tag in 0..<count {
                Remote.fill(source, count: size, seed: round * 10 + tag)
                requests.append((sender, try Remote.isend(sender, source, 0..<size, tag: UInt32(tag))))
                _ = try Remote.complete([requests.removeLast()])
            }
            XCTAssertEqual(try Remote.complete(requests), [count * size])
            XCTAssertTrue(Remote.matches(target, offset: (count - 1) * size, count: size, seed: round * 10 + count - 1))
        }
        let offer = try receiver.offerForRead(target, range: 0..<size, tag: 7)
        XCTAssertEqual(receiver.resources.allocatedWindowCount, 4)
        let copy = try sender.allocateMemory(bytes: size)
        let read = try Remote.iread(sender, copy, 0..<size, tag: 7)
        XCTAssertEqual(try Remote.complete([(sender, read), (receiver, offer)]), [size, size])
        XCTAssertEqual(sender.resources.allocatedWindowCount, 0)
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsBound, 8)
    }

    /// NCCL's 32 outstanding requests per direction, the default depth: each
    /// side grants 32 receives and writes 32 messages into the other's at
    /// once; a 33rd irecv is refused with `.tooManyOutstanding` and changes
    /// nothing; once one receive has completed, the 33rd is accepted and
    /// filled. Slots of 4 KiB: the handshake ran through the handshake buffers.
    func testThirtyTwoOutstandingRequestsPerDirection() throws {
        let context = try DeviceTestSupport.openContext()
        let depth = ChannelConfiguration.defaultRemoteAccessDepth
        XCTAssertEqual(depth, 32)
        let (a, b) = try AuthenticatedChannelTests.connectedPair(context: context, configureBoth: {
            $0.maxMessageSize = 4096
            $0.remoteAccessDepth = depth
            $0.receiveDepth = $0.minimumReceiveDepth
            $0.sendDepth = 2 * depth
        })
        let size = 4096
        var requests: [(AuthenticatedQueuePair, ChannelRequest)] = []
        var targets: [ChannelMemory] = []
        for receiver in [a, b] {
            let target = try receiver.allocateMemory(bytes: (depth + 1) * size)
            targets.append(target)
            for k in 0..<depth {
                requests.append((receiver, try receiver.irecv(target, range: (k * size)..<((k + 1) * size), tag: UInt32(k))))
            }
            XCTAssertThrowsError(try receiver.irecv(target, range: (depth * size)..<((depth + 1) * size), tag: UInt32(depth))) {
                guard case ChannelError.tooManyOutstanding(let what, let limit) = $0 else { return XCTFail("\($0)") }
                XCTAssertEqual(what, "receives")
                XCTAssertEqual(limit, depth)
            }
        }
        var sources: [ChannelMemory] = []
        for (n, sender) in [b, a].enumerated() {
            for k in 0..<depth {
                let source = try sender.allocateMemory(bytes: size)
                Remote.fill(source, count: size, seed: n * 100 + k)
                sources.append(source)
                requests.append((sender, try Remote.isend(sender, source, 0..<size, tag: UInt32(k))))
            }
        }
        // One receive completes; then the 33rd is accepted.
        XCTAssertEqual(try Remote.complete([requests[0]]), [size])
        let extra = try a.irecv(targets[0], range: (depth * size)..<((depth + 1) * size), tag: UInt32(depth))
        let last = try b.allocateMemory(bytes: size)
        Remote.fill(last, count: size, seed: 99)
        sources.append(last)
        let rest = Array(requests[1...]) + [(a, extra), (b, try Remote.isend(b, last, 0..<size, tag: UInt32(depth)))]
        XCTAssertEqual(try Remote.complete(rest), [Int](repeating: size, count: rest.count))
        for (n, target) in targets.enumerated() {
            for k in 0..<depth {
                XCTAssertTrue(Remote.matches(target, offset: k * size, count: size, seed: n * 100 + k), "side \(n) buffer \(k)")
            }
        }
        XCTAssertTrue(Remote.matches(targets[0], offset: depth * size, count: size, seed: 99))
        XCTAssertEqual(a.receiveMetrics.failures.total + b.receiveMetrics.failures.total, 0)
    }

    /// A sender whose message is larger than the peer's granted buffer gets
    /// a clear error, and the grant stays for a message that fits.
    func testMessageLargerThanTheGrantIsRefused() throws {
        let context = try DeviceTestSupport.openContext()
        let (receiver, sender) = try AuthenticatedChannelTests.connectedPair(context: context)
        let target = try receiver.allocateMemory(bytes: 4096)
        let source = try sender.allocateMemory(bytes: 4096)
        let recv = try receiver.irecv(target, range: 0..<100, tag: 3)
        let deadline = ContinuousClock.now + .seconds(30)
        var refused: ChannelError?
        while refused == nil, ContinuousClock.now < deadline {
            do throws(ChannelError) {
                let request = try sender.isend(source, range: 0..<101, tag: 3)
                XCTAssertNil(request, "no grant yet, or refused")
            } catch {
                refused = error
            }
        }
        guard case .receiveBufferTooSmall(needed: 101, available: 100)? = refused else {
            return XCTFail("expected receiveBufferTooSmall(101, 100), got \(String(describing: refused))")
        }
        Remote.fill(source, count: 100, seed: 9)
        let send = try Remote.isend(sender, source, 0..<100, tag: 3)
        XCTAssertEqual(try Remote.complete([(sender, send), (receiver, recv)]), [100, 100])
        XCTAssertTrue(Remote.matches(target, count: 100, seed: 9))
    }

    /// Cancelling a receive closes its window before `cancel` returns: a
    /// WRITE with the leaked rkey fails at the NIC and the memory stays
    /// untouched; the request is finished.
    func testCancelledReceiveClosesItsWindow() throws {
        let context = try DeviceTestSupport.openContext()
        // The peer stays: its NIC must acknowledge the grant before the
        // window's invalidation can complete (work requests run in order).
        let (victim, peer) = try AuthenticatedChannelTests.connectedPair(context: context)
        defer { withExtendedLifetime(peer) {} }
        let target = try victim.allocateMemory(bytes: 4096)
        let recv = try victim.irecv(target, range: 0..<4096)
        let window = try XCTUnwrap(victim.window(of: recv))
        let key = RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: 64)
        try victim.cancel(recv)
        XCTAssertEqual(victim.remoteAccessMetrics.windowsInvalidated, 1)
        XCTAssertThrowsError(try victim.test(recv)) { error in
            guard case ChannelError.invalidRequest(let why) = error, why.contains("not outstanding") else {
                return XCTFail("\(error)")
            }
        }
        try assertWriteFails(context: context, into: victim, key)
        XCTAssertTrue(target.bytes.allSatisfy { $0 == 0 }, "nothing reached the cancelled buffer")
    }

    /// A receive with `expiresAfter` that nobody fills fails with
    /// `.timedOut`, and its window is already closed when it does.
    func testExpiredReceiveClosesItsWindowBeforeReporting() throws {
        let context = try DeviceTestSupport.openContext()
        // The peer stays: its NIC must acknowledge the grant before the
        // window's invalidation can complete (work requests run in order).
        let (victim, peer) = try AuthenticatedChannelTests.connectedPair(context: context)
        defer { withExtendedLifetime(peer) {} }
        let target = try victim.allocateMemory(bytes: 4096)
        let recv = try victim.irecv(target, range: 0..<4096, expiresAfter: .milliseconds(300))
        let window = try XCTUnwrap(victim.window(of: recv))
        let key = RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: 64)
        XCTAssertNil(try victim.test(recv))
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertThrowsError(try victim.test(recv)) { error in
            guard case ChannelError.timedOut = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(victim.remoteAccessMetrics.windowsInvalidated, 1)
        try assertWriteFails(context: context, into: victim, key)
        XCTAssertTrue(target.bytes.allSatisfy { $0 == 0 })
    }

    /// A cancelled offer closes its READ window; a READ with its rkey fails.
    func testCancelledOfferClosesItsWindow() throws {
        let context = try DeviceTestSupport.openContext()
        let (owner, peer) = try AuthenticatedChannelTests.connectedPair(context: context)
        defer { withExtendedLifetime(peer) {} }
        let data = try owner.allocateMemory(bytes: 4096)
        let offer = try owner.offerForRead(data, range: 0..<4096)
        let window = try XCTUnwrap(owner.window(of: offer))
        try owner.cancel(offer)
        XCTAssertEqual(owner.remoteAccessMetrics.windowsInvalidated, 1)
        XCTAssertThrowsError(try owner.test(offer))
        let attacker = try AttackerQueuePair(context: context, aimedAt: owner.queuePair)
        try attacker.queuePair.post(SendRequest(id: 1,
            operation: .read(RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: 64)),
            element: attacker.region.element(0..<64)))
        let wc = try attacker.completionQueue.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertNotEqual(wc.status, .success, "a READ of a cancelled offer's window must fail")
    }

    /// A genuine offer read late -- after more frames than the replay window
    /// holds, and after the owner rekeyed and the old epoch's grace ended --
    /// is delivered (issue 12 item 6: it used to be refused as too old or
    /// retired and the channel torn down).
    func testLateReadOfAGenuineOfferIsDelivered() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try AuthenticatedChannelTests.Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        server.dataPath.rekeyAfterMessages = 512
        server.dataPath.previousEpochGraceNanoseconds = 50_000_000
        client.dataPath.rekeyAfterMessages = 512
        client.dataPath.previousEpochGraceNanoseconds = 50_000_000
        let (s, c) = try AuthenticatedChannelTests.establish(context: context, server: server, client: client)
        let owner = try c.get(), reader = try s.get()
        let data = try owner.allocateMemory(bytes: 8192)
        Remote.fill(data, count: 8192, seed: 3)
        let offer = try owner.offerForRead(data, range: 0..<8192, tag: 1)
        // The reader sees the offer, then 2,100 more frames (4 rekeys) before it reads.
        for i in 0..<2100 {
            try owner.send([UInt8(truncatingIfNeeded: i)])
            XCTAssertEqual(try reader.receive(), [UInt8(truncatingIfNeeded: i)])
        }
        XCTAssertGreaterThanOrEqual(owner.sendEpoch, 4)
        Thread.sleep(forTimeInterval: 0.2)  // the previous epoch's grace ends
        let target = try reader.allocateMemory(bytes: 8192)
        let read = try Remote.iread(reader, target, 0..<8192, tag: 1)
        XCTAssertEqual(try Remote.complete([(reader, read), (owner, offer)]), [8192, 8192])
        XCTAssertTrue(Remote.matches(target, count: 8192, seed: 3))
        XCTAssertEqual(reader.receiveMetrics.failures.total, 0)
    }

    /// An attacker QP aimed at `victim` RDMA-writes with `key`: must fail.
    func assertWriteFails(context: Context, into victim: AuthenticatedQueuePair, _ key: RemoteMemory,
        file: StaticString = #filePath, line: UInt = #line) throws {
        let attacker = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
        memset(attacker.region.bytes.baseAddress!, 0xEE, 64)
        try attacker.queuePair.post(SendRequest(id: 1, operation: .write(key), element: attacker.region.element(0..<64)))
        let wc = try attacker.completionQueue.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertNotEqual(wc.status, .success, "a WRITE into a closed window must fail", file: file, line: line)
    }
}
