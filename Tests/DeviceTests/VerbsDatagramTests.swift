// UD on rxe: two UD QPs, the receiver drawing buffers from a shared receive
// queue, an address handle built from the peer's endpoint.
import Verbs
import XCTest

final class VerbsDatagramTests: XCTestCase {
    func testUDSendThroughSharedReceiveQueue() throws {
        let context = try DeviceTestSupport.openContext()
        let pd = try context.makeProtectionDomain()
        let cqS = try CompletionQueue(context: context, capacity: 32)
        let cqR = try CompletionQueue(context: context, capacity: 32)
        let srq = try SharedReceiveQueue(pd: pd, maxRequests: 16)
        let config = DeviceTestSupport.configuration(.unreliableDatagram)
        let sender = try pd.makeQueuePair(completionQueue: cqS, configuration: config).activateDatagram()
        let preparedReceiver = try pd.makeQueuePair(sendCompletionQueue: cqR, receiveCompletionQueue: cqR,
            sharedReceiveQueue: srq, configuration: config)
        let receiverEndpoint = preparedReceiver.endpoint
        let gidIndex = preparedReceiver.gidIndex
        let receiver = try preparedReceiver.activateDatagram()
        XCTAssertEqual(try receiver.state(), .readyToSend)

        // UD receives start with the 40-byte GRH (IB spec 11.4.1.2).
        let grh = 40
        let inbox = try pd.allocateRegion(bytes: 4 * 1024)
        for i in 0..<4 { try srq.post(ReceiveRequest(id: UInt64(i), element: inbox.element((i * 1024)..<((i + 1) * 1024)))) }

        let ah = try AddressHandle(pd: pd, remote: receiverEndpoint, gidIndex: gidIndex)
        let destination = DatagramDestination(addressHandle: ah, queuePairNumber: receiver.number, qkey: config.qkey)
        let outbox = try pd.allocateRegion(bytes: 512)
        outbox.fill(seed: 21, count: 512)
        try sender.post(SendRequest(id: 99, operation: .sendTo(destination), element: outbox.element(0..<512)))
        XCTAssertEqual(try cqS.expectSuccess(1)[0].id, 99)
        let wc = try cqR.expectSuccess(1)[0]
        XCTAssertEqual(wc.opcode, .receive)
        XCTAssertEqual(Int(wc.byteLength), grh + 512)
        XCTAssertEqual(wc.sourceQueuePairNumber, sender.number)
        XCTAssertTrue(inbox.matches(seed: 21, count: 512, offset: Int(wc.id) * 1024 + grh))
    }

    /// An asynchronous event delivered to the user: the SRQ limit event,
    /// raised by rxe when an armed SRQ runs low (IB spec 10.2.9.4).
    func testSharedReceiveQueueLimitEventIsDelivered() throws {
        let context = try DeviceTestSupport.openContext()
        let pd = try context.makeProtectionDomain()
        let cq = try CompletionQueue(context: context, capacity: 32)
        let srq = try SharedReceiveQueue(pd: pd, maxRequests: 16)
        let config = DeviceTestSupport.configuration(.unreliableDatagram)
        let sender = try pd.makeQueuePair(completionQueue: cq, configuration: config).activateDatagram()
        let prepared = try pd.makeQueuePair(sendCompletionQueue: cq, receiveCompletionQueue: cq,
            sharedReceiveQueue: srq, configuration: config)
        let endpoint = prepared.endpoint
        let gidIndex = prepared.gidIndex
        let receiver = try prepared.activateDatagram()
        let inbox = try pd.allocateRegion(bytes: 4 * 256)
        for i in 0..<4 { try srq.post(ReceiveRequest(id: UInt64(i), element: inbox.element((i * 256)..<((i + 1) * 256)))) }
        try srq.armLimit(2)
        XCTAssertNil(try context.nextAsyncEvent(timeout: .milliseconds(100)), "no event before the SRQ runs low")

        let ah = try AddressHandle(pd: pd, remote: endpoint, gidIndex: gidIndex)
        let to = DatagramDestination(addressHandle: ah, queuePairNumber: receiver.number, qkey: config.qkey)
        let outbox = try pd.allocateRegion(bytes: 64)
        for i in 0..<3 { try sender.post(SendRequest(id: UInt64(i), operation: .sendTo(to), element: outbox.element(0..<64))) }
        try cq.expectSuccess(6)
        let event = try XCTUnwrap(try context.nextAsyncEvent(timeout: .seconds(5)), "no asynchronous event within 5 s")
        XCTAssertEqual(event.kind, .sharedReceiveQueueLimitReached, "\(event)")
    }
}
