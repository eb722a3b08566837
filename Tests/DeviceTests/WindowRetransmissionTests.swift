// A window bind while earlier sends are unacknowledged. rdma_rxe (Linux 6.1,
// rxe_req.c) re-executes the local operations behind the request a
// retransmission rewinds to, so a bind posted behind an unacknowledged SEND
// can run twice; across two VMs, where TCG delays ACKs past the 67 ms local
// ACK timeout dozens of times a run, grouped receives failed with
// IBV_WC_MW_BIND_ERR or a stuck send queue (Hardware/two-host-test). On rxe
// the channel therefore binds only once every earlier send is acknowledged
// (`ChannelConfiguration.windowOperationsAwaitAcknowledgements`). Here the
// sends ahead of the bind are held back by RNR NAKs (the peer's receive ring
// is full of messages its application has not read), so the irecv must wait
// for the peer, and the receive must still complete.
@testable import FabricAuth
import Foundation
import Synchronization
import Verbs
import XCTest

final class WindowRetransmissionTests: XCTestCase {
    typealias Remote = AuthenticatedRemoteAccessTests

    /// The peer's receive slots: the least two requests allow.
    static let ringDepth = 6

    /// The workaround on (rxe's default): the irecv waits for the peer to
    /// read its messages (its ring frees, the RNR'd sends are acknowledged),
    /// then binds and grants; the WRITE into the window is verified.
    func testBindWaitsForAnRNRRetriedSendAndTheReceiveCompletes() throws {
        let context = try DeviceTestSupport.openContext()
        XCTAssertTrue(try context.queryDevice().isSoftRoCE, "rxe reports vendor ID 0xFFFFFF")
        let (receiver, peer) = try pair(context: context, awaitAcknowledgements: nil)
        XCTAssertTrue(receiver.resources.windowOperationsAwaitAcknowledgements, "on by default on rxe")
        let count = try fillPeerRing(of: peer, from: receiver)
        let reader = readPeerMessages(peer, count: count, after: .milliseconds(500))

        let target = try receiver.allocateMemory(bytes: 4096)
        let recv = try receiver.irecv(target, range: 0..<4096, tag: 7, timeout: .seconds(30))
        // The RNR'd sends are acknowledged only once the peer reposts its
        // slots, so the bind (and irecv's return) came after the reader began.
        XCTAssertTrue(reader.started.load(ordering: .acquiring), "irecv bound before the sends ahead were acknowledged")
        XCTAssertEqual(reader.wait(timeout: .now() + 60), .success, "the peer's reader did not finish")
        XCTAssertEqual(reader.received, (0..<count).map(Self.message), "every message, in order")

        let source = try peer.allocateMemory(bytes: 3000)
        Remote.fill(source, count: 3000, seed: 7)
        let send = try Remote.isend(peer, source, 0..<3000, tag: 7)
        XCTAssertEqual(try Remote.complete([(peer, send), (receiver, recv)]), [3000, 3000])
        XCTAssertTrue(Remote.matches(target, count: 3000, seed: 7))
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsBound, 1)
    }

    /// The wait has the irecv's timeout: while the peer reads nothing, the
    /// irecv fails with `.timedOut` naming what it waited for, allocates and
    /// binds no window and frees its request; once the peer reads, both of
    /// the channel's receives are accepted again and a WRITE completes.
    func testBindWaitPastTheTimeoutFailsAndBindsNothing() throws {
        let context = try DeviceTestSupport.openContext()
        let (receiver, peer) = try pair(context: context, awaitAcknowledgements: nil)
        let count = try fillPeerRing(of: peer, from: receiver)
        // What a caller that must not block asks first (the plug-in): not ready
        // while sends are unacknowledged; a send slot is free all the same.
        XCTAssertFalse(try receiver.isReadyToReceive(buffers: 1))
        XCTAssertTrue(try receiver.isReadyToSend())
        let target = try receiver.allocateMemory(bytes: 8192)
        let started = ContinuousClock.now
        XCTAssertThrowsError(try receiver.irecv(target, range: 0..<4096, tag: 7, timeout: .milliseconds(400))) {
            guard case ChannelError.timedOut(let what) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(what.contains("acknowledgement of earlier sends"), what)
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(400))
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsBound, 0)
        XCTAssertEqual(receiver.resources.allocatedWindowCount, 0)

        let reader = readPeerMessages(peer, count: count, after: .zero)
        XCTAssertEqual(reader.wait(timeout: .now() + 60), .success, "the peer's reader did not finish")
        XCTAssertEqual(reader.received, (0..<count).map(Self.message))
        let readyBy = ContinuousClock.now + .seconds(30)
        while try !receiver.isReadyToReceive(buffers: 2), ContinuousClock.now < readyBy { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(try receiver.isReadyToReceive(buffers: 2), "every send acknowledged once the peer read")
        // remoteAccessDepth 2: both are accepted only if the failed one was freed.
        let recvs = try (0..<2).map { try receiver.irecv(target, range: ($0 * 4096)..<(($0 + 1) * 4096), tag: UInt32($0)) }
        let source = try peer.allocateMemory(bytes: 2 * 4096)
        Remote.fill(source, count: 2 * 4096, seed: 11)
        var requests = recvs.map { (receiver, $0) }
        for tag in 0..<2 {
            requests.append((peer, try Remote.isend(peer, source, (tag * 4096)..<((tag + 1) * 4096), tag: UInt32(tag))))
        }
        XCTAssertEqual(try Remote.complete(requests), [4096, 4096, 4096, 4096])
        XCTAssertTrue(Remote.matches(target, count: 2 * 4096, seed: 11))
        XCTAssertEqual(receiver.remoteAccessMetrics.windowsBound, 2)
    }

    /// The send ring's readiness: with every slot but the two RNR'd sends
    /// completed, the next 14 of 16 slots are free and the 15th (the oldest
    /// unacknowledged) is not, until the peer reads.
    func testSendSlotsFreeCountsUpToTheOldestUnacknowledgedSend() throws {
        let context = try DeviceTestSupport.openContext()
        let (receiver, peer) = try pair(context: context, awaitAcknowledgements: false)
        XCTAssertTrue(try receiver.resources.sendSlotsFree(16), "a fresh ring is free")
        let count = try fillPeerRing(of: peer, from: receiver)
        XCTAssertEqual(count, 10, "8 receives posted at the peer, 2 sends RNR'd")
        // Slots 0-7 complete (the peer's receives took them); 8 and 9 wait; the next slot is 10.
        let settled = ContinuousClock.now + .seconds(30)
        while try !receiver.resources.sendSlotsFree(14), ContinuousClock.now < settled { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(try receiver.resources.sendSlotsFree(14), "slots 10-15 and 0-7")
        XCTAssertFalse(try receiver.resources.sendSlotsFree(15), "slot 8 is an RNR'd send")
        XCTAssertTrue(try receiver.isReadyToReceive(buffers: 8), "window operations do not wait here (switched off)")
        let reader = readPeerMessages(peer, count: count, after: .zero)
        XCTAssertEqual(reader.wait(timeout: .now() + 60), .success)
        let freed = ContinuousClock.now + .seconds(30)
        while try !receiver.resources.sendSlotsFree(16), ContinuousClock.now < freed { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(try receiver.resources.sendSlotsFree(16))
    }

    // MARK: Support

    static func message(_ i: Int) -> [UInt8] { (0..<100).map { UInt8(truncatingIfNeeded: $0 &+ i &* 31) } }

    /// `receiver` posts the window and sends the messages; `peer` keeps a
    /// ring of `ringDepth` slots (and the two handshake buffers, reposted).
    func pair(context: Context, awaitAcknowledgements: Bool?) throws
        -> (receiver: AuthenticatedQueuePair, peer: AuthenticatedQueuePair) {
        let (peer, receiver) = try AuthenticatedChannelTests.connectedPair(context: context, configure: {
            $0.receiveDepth = Self.ringDepth
        }, configureBoth: {
            $0.maxMessageSize = 4096
            $0.remoteAccessDepth = 2
            $0.sendDepth = 16
            $0.windowOperationsAwaitAcknowledgements = awaitAcknowledgements
        })
        return (receiver, peer)
    }

    /// Sends one message more than `peer` has receives posted, and one more
    /// again, none of which its application reads yet: the last two meet RNR
    /// NAKs and stay unacknowledged, retried by rxe. Returns how many were sent.
    func fillPeerRing(of peer: AuthenticatedQueuePair, from sender: AuthenticatedQueuePair) throws -> Int {
        let count = peer.resources.receiveCount + 2
        for i in 0..<count { try sender.send(Self.message(i)) }
        return count
    }

    final class Reader: @unchecked Sendable {  // written by the thread before `done` is signaled
        let done = DispatchSemaphore(value: 0)
        let started = Atomic<Bool>(false)
        var received: [[UInt8]] = []
        @discardableResult
        func wait(timeout: DispatchTime) -> DispatchTimeoutResult { done.wait(timeout: timeout) }
    }

    /// Reads the peer's messages on another thread after `delay`.
    func readPeerMessages(_ peer: AuthenticatedQueuePair, count: Int, after delay: Duration) -> Reader {
        let reader = Reader()
        nonisolated(unsafe) let channel = peer
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds))
            reader.started.store(true, ordering: .releasing)
            for _ in 0..<count {
                guard let m = try? channel.receive(timeout: .seconds(30)) else { break }
                reader.received.append(m)
            }
            reader.done.signal()
        }
        return reader
    }
}
