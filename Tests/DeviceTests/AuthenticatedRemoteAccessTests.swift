// RDMA WRITE and READ on an authenticated channel, on a real rxe device:
// every transfer through a type 2 memory window bound for it, verified before
// it is reported done, and an attacker who can put packets on the victim's QP
// (ReDMArk) detected before delivery.
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
import Verbs
import XCTest

final class AuthenticatedRemoteAccessTests: XCTestCase {
    /// Polls `test` on each (channel, request) until all complete; returns sizes.
    static func complete(_ requests: [(AuthenticatedQueuePair, ChannelRequest)],
                         timeout: Duration = .seconds(60)) throws -> [Int] {
        var sizes = [Int?](repeating: nil, count: requests.count)
        let deadline = ContinuousClock.now + timeout
        while sizes.contains(where: { $0 == nil }) {
            for (i, (channel, request)) in requests.enumerated() where sizes[i] == nil {
                sizes[i] = try channel.test(request)
            }
            if ContinuousClock.now > deadline { throw ChannelError.timedOut("requests \(requests.map(\.1))") }
        }
        return sizes.map { $0! }
    }

    /// `isend`, retried until the peer's grant has arrived.
    static func isend(_ sender: AuthenticatedQueuePair, _ memory: ChannelMemory, _ range: Range<Int>, tag: UInt32 = 0) throws -> ChannelRequest {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let r = try sender.isend(memory, range: range, tag: tag) { return r }
        }
        throw ChannelError.timedOut("no WRITE grant arrived")
    }

    static func iread(_ reader: AuthenticatedQueuePair, _ memory: ChannelMemory, _ range: Range<Int>, tag: UInt32 = 0) throws -> ChannelRequest {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let r = try reader.iread(into: memory, range: range, tag: tag) { return r }
        }
        throw ChannelError.timedOut("no READ offer arrived")
    }

    static func fill(_ m: ChannelMemory, count: Int, seed: Int) {
        for j in 0..<count { m.bytes[j] = UInt8(truncatingIfNeeded: j &* 131 &+ seed &+ (j >> 9)) }
    }

    static func matches(_ m: ChannelMemory, offset: Int = 0, count: Int, seed: Int) -> Bool {
        for j in 0..<count where m.bytes[offset + j] != UInt8(truncatingIfNeeded: j &* 131 &+ seed &+ (j >> 9)) { return false }
        return true
    }

    /// WRITEs of 1 B to 4 MiB, each into its own window, with a rekey every
    /// 3 messages on the sending side; two tags interleaved and matched in order.
    func testWritesFromOneByteToFourMiBWithRekeys() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try AuthenticatedChannelTests.Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        server.dataPath.rekeyAfterMessages = 3
        client.dataPath.rekeyAfterMessages = 3
        let (s, c) = try AuthenticatedChannelTests.establish(context: context, server: server, client: client)
        let receiver = try s.get(), sender = try c.get()
        let size = 4 << 20
        let source = try sender.allocateMemory(bytes: size)
        let target = try receiver.allocateMemory(bytes: size + 4096)
        let sizes = [1, 2, 255, 1024, 4097, 65_537, 1 << 20, 4 << 20]
        for (i, n) in sizes.enumerated() {
            Self.fill(source, count: n, seed: i)
            memset(target.bytes.baseAddress!, 0, target.count)
            // Granted with room to spare, at an offset: the sender writes n.
            let recv = try receiver.irecv(target, range: 100..<(100 + n + 3), tag: UInt32(i % 2))
            let send = try Self.isend(sender, source, 0..<n, tag: UInt32(i % 2))
            let got = try Self.complete([(sender, send), (receiver, recv)])
            XCTAssertEqual(got, [n, n])
            XCTAssertTrue(Self.matches(target, offset: 100, count: n, seed: i), "bytes of the \(n)-byte WRITE differ")
            XCTAssertEqual(target.bytes[99], 0)
            XCTAssertEqual(target.bytes[100 + n], 0, "nothing beyond the message")
            XCTAssertThrowsError(try receiver.test(recv), "a completed request is finished")
        }
        XCTAssertEqual(receiver.remoteAccessMetrics.writesReceived, UInt64(sizes.count))
        XCTAssertEqual(sender.remoteAccessMetrics.writesSent, UInt64(sizes.count))
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsBound, UInt64(sizes.count))
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsInvalidated, UInt64(sizes.count))
        XCTAssertGreaterThanOrEqual(sender.sendMetrics.rekeys, 2, "the writer rekeyed mid-stream")
        XCTAssertEqual(receiver.receiveMetrics.rekeys, sender.sendMetrics.rekeys, "the receiver followed")
        XCTAssertEqual(receiver.receiveMetrics.failures.total, 0)
        // A message bigger than the granted window is refused at the sender.
        _ = try receiver.irecv(target, range: 0..<16)
        let deadline = ContinuousClock.now + .seconds(20)
        var refused = false
        while !refused, ContinuousClock.now < deadline {
            do {
                _ = try sender.isend(source, range: 0..<17)
            } catch {
                guard case .receiveBufferTooSmall(let needed, let available) = error else { throw error }
                XCTAssertEqual([needed, available], [17, 16])
                refused = true
            }
        }
        XCTAssertTrue(refused, "a 17-byte message into a 16-byte window must be refused")
    }

    /// READs of 1 B to 4 MiB: the owner's tag travels with its offer, the
    /// reader verifies the fetched bytes, and the owner's window closes.
    func testReadsFromOneByteToFourMiB() throws {
        let context = try DeviceTestSupport.openContext()
        let (owner, reader) = try AuthenticatedChannelTests.connectedPair(context: context)
        let size = 4 << 20
        let data = try owner.allocateMemory(bytes: size)
        let into = try reader.allocateMemory(bytes: size)
        for (i, n) in [1, 3, 4096, 65_537, 1 << 20, 4 << 20].enumerated() {
            Self.fill(data, count: n, seed: 7 + i)
            let offer = try owner.offerForRead(data, range: 0..<n, tag: 9)
            let read = try Self.iread(reader, into, 0..<size, tag: 9)
            XCTAssertEqual(try Self.complete([(reader, read), (owner, offer)]), [n, n])
            XCTAssertTrue(Self.matches(into, count: n, seed: 7 + i), "bytes of the \(n)-byte READ differ")
        }
        XCTAssertEqual(reader.remoteAccessMetrics.readsCompleted, 6)
        XCTAssertEqual(owner.remoteAccessMetrics.readsServed, 6)
        XCTAssertEqual(owner.remoteAccessMetrics.windowsInvalidated, 6)
        XCTAssertEqual(reader.receiveMetrics.failures.total, 0)
    }

    /// Data changed after it was offered (by the owner's application here;
    /// a forged READ response looks the same to the reader) fails the
    /// reader's check: never reported ready, counted, channel torn down.
    func testReadOfChangedDataIsRejected() throws {
        let context = try DeviceTestSupport.openContext()
        let (owner, reader) = try AuthenticatedChannelTests.connectedPair(context: context)
        let data = try owner.allocateMemory(bytes: 4096)
        let into = try reader.allocateMemory(bytes: 4096)
        Self.fill(data, count: 4096, seed: 1)
        _ = try owner.offerForRead(data, range: 0..<4096)
        data.bytes[2048] ^= 0x01
        let read = try Self.iread(reader, into, 0..<4096)
        XCTAssertThrowsError(try Self.complete([(reader, read)])) { error in
            guard case ChannelError.rejected(.badTag, tornDown: true) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(reader.receiveMetrics.failures[.badTag], 1)
        XCTAssertEqual(reader.remoteAccessMetrics.readsCompleted, 0)
        XCTAssertFalse(reader.isOpen)
    }

    /// ReDMArk's attacker on the receiving QP (its QPN and next PSN known):
    /// a replayed WRITE notice finds no open window; a WRITE into a granted
    /// window (its rkey leaked) followed by a forged notice is caught by the
    /// MAC; neither is reported ready, both are counted.
    func testAttackerWriteAndForgedNoticeAreDetectedBeforeDelivery() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, sender) = try AuthenticatedChannelTests.connectedPair(context: context) {
            $0.dataPath.failurePolicy = .dropAndCount
        }
        let source = try sender.allocateMemory(bytes: 4096)
        let target = try victim.allocateMemory(bytes: 4096)

        // A genuine WRITE, and its notice as the attacker saw it on the wire.
        Self.fill(source, count: 512, seed: 3)
        let recv = try victim.irecv(target, range: 0..<512)
        let send = try Self.isend(sender, source, 0..<512)
        XCTAssertEqual(try Self.complete([(sender, send), (victim, recv)]), [512, 512])
        let notice = Array(UnsafeRawBufferPointer(rebasing:
            sender.resources.sendSlot(sender.resources.lastPostedSendSlot)[0..<DataPathLimits.frameOverhead]))

        // 1. Replay of the notice: its window is closed, nothing matches.
        let replay = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
        notice.withUnsafeBytes { replay.region.bytes.copyMemory(from: $0) }
        try replay.queuePair.post(SendRequest(id: 1, operation: .send, element: replay.region.element(0..<notice.count)))
        _ = try replay.completionQueue.poll(count: 1, timeout: .seconds(20))
        let deadline = ContinuousClock.now + .seconds(10)
        while victim.receiveMetrics.failures[.unknownTarget] == 0, ContinuousClock.now < deadline {
            try victim.progressAll()
        }
        XCTAssertEqual(victim.receiveMetrics.failures[.unknownTarget], 1, "\(victim.receiveMetrics.failures)")

        // 2. A new grant; the attacker overwrites the window and forges a notice.
        memset(target.bytes.baseAddress!, 0, 4096)
        let victimRecv = try victim.irecv(target, range: 0..<512)
        let window = try XCTUnwrap(victim.window(of: victimRecv))
        try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
            .overwrite(window, of: victim, length: 512, byte: 0xEE, sequence: 1000)
        XCTAssertThrowsError(try Self.complete([(victim, victimRecv)], timeout: .seconds(20))) { error in
            guard case ChannelError.rejected(.badTag, tornDown: false) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(target.bytes[0], 0xEE, "the attacker's bytes did land: the MAC is what caught them")
        XCTAssertEqual(victim.receiveMetrics.failures[.badTag], 1)
        XCTAssertEqual(victim.receiveMetrics.failures.total, 2)
        XCTAssertEqual(victim.remoteAccessMetrics.writesReceived, 1, "only the genuine WRITE was delivered")

        // 3. The window was closed before the check: a further write is refused.
        let late = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
        try late.queuePair.post(SendRequest(id: 4, operation: .write(RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: 64)),
                                            element: late.region.element(0..<64)))
        let wc = try late.completionQueue.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertNotEqual(wc.status, .success)
    }

    /// Issue 12 item 7: an on-fabric observer who reads the WRITE grant off
    /// the wire and forges a notice for the window it names (sent on the
    /// sender's QP, with the PSN the victim expects) must not be able to close
    /// that window before the honest WRITE -- which would make the honest
    /// sender's WRITE fail with a remote access error and its QP go to ERROR.
    /// The grant is encrypted, so neither the window's rkey nor its address
    /// is on the wire; the notice the observer can build names no window: it
    /// is dropped and counted (drop-and-count), and the honest WRITE, its
    /// notice and both channels carry on. (With the grant in clear, as before,
    /// the bytes at the grant's rkey and address offsets were the live window.)
    func testForgedNoticeFromAnObservedGrantLeavesTheHonestWriteRunning() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, sender) = try AuthenticatedChannelTests.connectedPair(context: context) {
            $0.dataPath.failurePolicy = .dropAndCount
        }
        let source = try sender.allocateMemory(bytes: 4096)
        let target = try victim.allocateMemory(bytes: 4096)
        Self.fill(source, count: 512, seed: 5)
        let recv = try victim.irecv(target, range: 0..<512)
        let window = try XCTUnwrap(victim.window(of: recv))

        // The grant as it crossed the wire, read back from the victim's ring.
        let grantLength = DataPathLimits.frameOverhead + ControlMessage.WriteGrant.size
        let wire = Array(UnsafeRawBufferPointer(rebasing:
            victim.resources.sendSlot(victim.resources.lastPostedSendSlot)[0..<grantLength]))
        XCTAssertEqual(wire[FrameHeader.Offset.opcode], DataPathOpcode.writeGrant.rawValue)
        func occurs(_ needle: [UInt8]) -> Bool {
            (0...(wire.count - needle.count)).contains { Array(wire[$0..<($0 + needle.count)]) == needle }
        }
        let rkeyBytes = withUnsafeBytes(of: window.rkey.bigEndian, Array.init)
        let addressBytes = Array(withUnsafeBytes(of: window.boundAddress.bigEndian, Array.init).drop { $0 == 0 })
        XCTAssertFalse(occurs(rkeyBytes) || occurs(Array(rkeyBytes.reversed())), "the window's rkey is on the wire")
        XCTAssertFalse(occurs(addressBytes) || occurs(Array(addressBytes.reversed())), "the window's address is on the wire")

        // The observer's notice: rkey and address from where a grant carries them.
        let p = DataPathLimits.headerSize
        let seenRkey = UInt32(bigEndian: wire.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p + 12, as: UInt32.self) })
        let seenAddress = UInt64(bigEndian: wire.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p + 16, as: UInt64.self) })
        var notice = [UInt8](repeating: 0xA5, count: DataPathLimits.frameOverhead)
        notice.withUnsafeMutableBytes { n in
            FrameHeader(suite: victim.suite, opcode: .rdmaWrite, direction: .initiatorToResponder, epoch: 0,
                qpn: victim.queuePair.number, length: 512, sequence: 1000, remoteAddress: seenAddress, rkey: seenRkey)
                .encode(to: n.baseAddress!)
        }
        try sender.flush()  // the injector takes the next send completion as its own
        try FrameInjector(queuePair: sender.queuePair).inject(notice)
        let deadline = ContinuousClock.now + .seconds(10)
        while victim.receiveMetrics.failures[.unknownTarget] == 0, ContinuousClock.now < deadline {
            try victim.progressAll()
        }
        XCTAssertEqual(victim.receiveMetrics.failures[.unknownTarget], 1, "\(victim.receiveMetrics.failures)")

        // The honest WRITE still lands in the open window and verifies.
        let send = try Self.isend(sender, source, 0..<512)
        XCTAssertEqual(try Self.complete([(sender, send), (victim, recv)], timeout: .seconds(30)), [512, 512])
        XCTAssertTrue(Self.matches(target, count: 512, seed: 5))
        XCTAssertTrue(sender.isOpen && victim.isOpen)
        XCTAssertEqual(try sender.queuePair.state(), .readyToSend)
        XCTAssertEqual(victim.receiveMetrics.failures.total, 1, "only the forged notice: \(victim.receiveMetrics.failures)")
        XCTAssertEqual(victim.remoteAccessMetrics.writesReceived, 1)
    }

    /// Under the default (fatal) policy a WRITE that fails its MAC tears the
    /// channel down: the request throws, the QP is in ERROR, nothing more is
    /// delivered, and the receiver's counters name the reason.
    func testForgedWriteTearsDownUnderFatalPolicy() throws {
        let context = try DeviceTestSupport.openContext()
        // The genuine peer stays alive: the victim's grant must be acknowledged.
        let (victim, peer) = try AuthenticatedChannelTests.connectedPair(context: context)
        defer { withExtendedLifetime(peer) {} }
        let target = try victim.allocateMemory(bytes: 4096)
        let recv = try victim.irecv(target, range: 0..<256)
        let window = try XCTUnwrap(victim.window(of: recv))
        try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
            .overwrite(window, of: victim, length: 256, byte: 0x3C, sequence: 0)
        XCTAssertThrowsError(try Self.complete([(victim, recv)], timeout: .seconds(20))) { error in
            guard case ChannelError.rejected(.badTag, tornDown: true) = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(victim.isOpen)
        XCTAssertEqual(try victim.queuePair.state(), .error)
        XCTAssertEqual(victim.receiveMetrics.failures[.badTag], 1)
        XCTAssertEqual(victim.remoteAccessMetrics.writesReceived, 0)
        XCTAssertThrowsError(try victim.test(recv)) { error in
            guard case ChannelError.closed = error else { return XCTFail("\(error)") }
        }
    }

    /// An authenticated peer that breaks the rendezvous -- a malformed WRITE
    /// grant, a READ done for an offer never made, a WRITE notice's opcode in
    /// an ordinary SEND frame -- gets the channel closed with a protocol
    /// violation, counted; the frames themselves verified, so the MAC counters
    /// show no rejection.
    func testProtocolViolationsByAnAuthenticPeerCloseTheChannel() throws {
        let context = try DeviceTestSupport.openContext()
        let cases: [(DataPathOpcode, [UInt8], String)] = [
            (.writeGrant, [UInt8](repeating: 0, count: 8), "malformed WRITE grant"),
            (.readDone, [0, 0, 0, 3, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8), "not outstanding"),
            (.rdmaWrite, [1, 2, 3], "detached opcode"),
        ]
        for (opcode, payload, expected) in cases {
            let (victim, peer) = try AuthenticatedChannelTests.connectedPair(context: context)
            let slot = try peer.resources.acquireSendSlot(deadline: .max)
            try peer.sendControl(opcode, slot: slot, length: payload.count) { p in
                payload.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            XCTAssertThrowsError(try victim.receive(timeout: .seconds(10))) { error in
                guard case ChannelError.protocolViolation(let what) = error, what.contains(expected) else {
                    return XCTFail("\(opcode): \(error)")
                }
            }
            XCTAssertEqual(victim.remoteAccessMetrics.protocolViolations, 1, "\(opcode)")
            XCTAssertEqual(victim.receiveMetrics.failures.total, 0, "\(opcode): the frame itself was authentic")
            XCTAssertFalse(victim.isOpen)
            XCTAssertEqual(try victim.queuePair.state(), .error)
        }
    }

    /// A QP of the attacker's own (not aimed at the victim's) can't use a
    /// granted window at all: type 2 windows are bound to the victim's QP.
    func testWindowRefusesAnotherQueuePair() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, _) = try AuthenticatedChannelTests.connectedPair(context: context)
        let target = try victim.allocateMemory(bytes: 4096)
        let recv = try victim.irecv(target, range: 0..<4096)
        let window = try XCTUnwrap(victim.window(of: recv))
        let outsider = try LoopbackPair(context: context, parameters: .shortRetry)
        let source = try outsider.pd.allocateRegion(bytes: 64)
        try outsider.a.post(SendRequest(id: 1, operation: .write(RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: 64)),
                                        element: source.element(0..<64)))
        let wc = try outsider.cqA.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertNotEqual(wc.status, .success, "a window bound to the victim's QP must refuse another QP")
        XCTAssertTrue(target.bytes.allSatisfy { $0 == 0 })
    }
}

extension AttackerQueuePair {
    /// ReDMArk's overwrite: `length` bytes of `byte` RDMA-written into the
    /// victim's granted `window` (its rkey leaked), then a forged WRITE notice
    /// for them -- a well-formed header for `sequence`, a tag of junk. The
    /// attacker is blind to the victim's ACKs; its own request ends however.
    func overwrite(_ window: MemoryWindow, of victim: AuthenticatedQueuePair, length: Int, byte: UInt8,
                   sequence: UInt64) throws {
        memset(region.bytes.baseAddress!, Int32(byte), length)
        let notice = region.bytes.baseAddress! + 2048
        memset(notice, 0xA5, DataPathLimits.frameOverhead)
        FrameHeader(suite: victim.suite, opcode: .rdmaWrite, direction: .initiatorToResponder, epoch: 0,
            qpn: victim.queuePair.number, length: UInt32(length), sequence: sequence, remoteAddress: window.boundAddress,
            rkey: window.rkey).encode(to: notice)
        try queuePair.post(chain: [
            SendRequest(id: 1, operation: .write(RemoteMemory(address: window.boundAddress, rkey: window.rkey, length: UInt32(length))),
                        element: region.element(0..<length), flags: []),
            SendRequest(id: 2, operation: .send, element: region.element(2048..<(2048 + DataPathLimits.frameOverhead))),
        ])
        _ = try completionQueue.poll(count: 1, timeout: .seconds(20))
    }
}
