// QP state handling on rxe: forced error and recovery through RESET, a full
// send queue, and a peer that disappears.
import Verbs
import XCTest

final class VerbsQueuePairStateTests: XCTestCase {
    /// ERR flushes posted receives; reset() returns a prepared QP that can be
    /// connected again and carries traffic.
    func testForcedErrorThenResetAndReconnect() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        let buf = try pair.pd.allocateRegion(bytes: 4096)
        try pair.b.post(ReceiveRequest(id: 42, element: buf.element(0..<4096)))
        try pair.b.moveToError()
        XCTAssertEqual(try pair.b.state(), .error)
        let flushed = try pair.cqB.poll(count: 1)[0]
        XCTAssertEqual(flushed.id, 42)
        XCTAssertEqual(flushed.status, .workRequestFlushed)

        // Both sides go back to RESET and reconnect with fresh PSNs.
        let preparedB = try pair.b.reset()
        let preparedA = try pair.a.reset()
        XCTAssertThrowsError(try pair.b.post(ReceiveRequest(id: 1))) { error in
            XCTAssertEqual((error as? VerbsError)?.code, .queuePairRetired)
        }
        let ea = preparedA.endpoint
        let eb = preparedB.endpoint
        XCTAssertEqual(eb.queuePairNumber, pair.b.number, "reset keeps the QPN")
        let b2 = try preparedB.connect(to: ea, receives: [ReceiveRequest(id: 43, element: buf.element(0..<4096))])
        let a2 = try preparedA.connect(to: eb)
        XCTAssertEqual(try b2.state(), .readyToSend)
        let src = try pair.pd.allocateRegion(bytes: 64)
        src.fill(seed: 8)
        try a2.post(SendRequest(id: 44, operation: .send, element: src.element(0..<64)))
        try pair.cqA.expectSuccess(1)
        XCTAssertEqual(try pair.cqB.expectSuccess(1)[0].id, 43)
        XCTAssertTrue(buf.matches(seed: 8, count: 64))
    }

    /// A peer that never acknowledges (its QP stays in RESET, so rxe drops
    /// the packets) keeps every request outstanding: the send queue fills and
    /// the next post throws `.sendQueueFull` naming ibv_post_send. Forcing
    /// the QP to ERR then flushes what was posted; nothing crashes or leaks.
    func testFullSendQueueIsATypedError() throws {
        let context = try DeviceTestSupport.openContext()
        let pd = try context.makeProtectionDomain()
        let cq = try CompletionQueue(context: context, capacity: 256)
        var config = DeviceTestSupport.configuration()
        config.maxSendRequests = 8
        let silent = try pd.makeQueuePair(completionQueue: cq, configuration: config)
        let prepared = try pd.makeQueuePair(completionQueue: cq, configuration: config)
        let a = try prepared.connect(to: silent.endpoint)
        let local = try pd.allocateRegion(bytes: 64)
        var posted = 0
        var failure: VerbsError?
        while posted < 4096 {
            do {
                try a.post(SendRequest(id: UInt64(posted), operation: .send, element: local.element(0..<8)))
                posted += 1
            } catch {
                failure = error
                break
            }
        }
        let error = try XCTUnwrap(failure, "4096 posts into an 8-entry send queue all succeeded")
        XCTAssertEqual(error.code, .sendQueueFull, "\(error)")
        XCTAssertEqual(error.function, "ibv_post_send")
        XCTAssertGreaterThanOrEqual(posted, 8)
        XCTAssertLessThan(posted, 4096)
        try a.moveToError()
        let flushed = try cq.poll(count: posted, timeout: .seconds(20))
        XCTAssertTrue(flushed.allSatisfy { !$0.status.isSuccess }, "no request reached a silent peer")
        XCTAssertEqual(Set(flushed.map(\.id)).count, posted)
    }

    /// The peer's QP is destroyed: sends exhaust their retries and surface as
    /// IBV_WC_RETRY_EXC_ERR, a typed error, with the QP in ERR.
    func testPeerThatDisappears() throws {
        let context = try DeviceTestSupport.openContext()
        let pd = try context.makeProtectionDomain()
        let cqA = try CompletionQueue(context: context, capacity: 16)
        let pa = try pd.makeQueuePair(completionQueue: cqA, configuration: DeviceTestSupport.configuration())
        let pb = try pd.makeQueuePair(completionQueue: try CompletionQueue(context: context, capacity: 16),
            configuration: DeviceTestSupport.configuration())
        let eb = pb.endpoint
        // b is the only owner of its QP and (through it) its CQ.
        var b: QueuePair? = try pb.connect(to: pa.endpoint, parameters: .shortRetry)
        let a = try pa.connect(to: eb, parameters: .shortRetry)
        XCTAssertEqual(try b?.state(), .readyToSend)
        b = nil
        XCTAssertNil(b)
        let buf = try pd.allocateRegion(bytes: 64)
        try a.post(SendRequest(id: 1, operation: .send, element: buf.element(0..<64)))
        let wc = try cqA.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertTrue(wc.status == .retryExceeded || wc.status == .remoteOperationError || wc.status == .remoteInvalidRequest,
            "unexpected status \(wc.status)")
        XCTAssertThrowsError(try wc.check()) { error in
            XCTAssertEqual((error as? VerbsError)?.code, .completionFailed)
        }
        XCTAssertEqual(try a.state(), .error)
    }
}
