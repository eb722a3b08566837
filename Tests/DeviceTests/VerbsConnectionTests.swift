// Connection set-up on rxe: rdma_cm listen/connect/accept/disconnect with
// private data, and the out-of-band TCP exchange of QP endpoints.
import Bootstrap
import Foundation
import Verbs
import XCTest

final class VerbsConnectionTests: XCTestCase {
    /// Both sides in one thread: rdma_cm is asynchronous, so the steps interleave.
    func testRDMACMConnectAcceptExchangeDisconnect() throws {
        guard let ip = DeviceTestSupport.ipv4 else {
            return XCTFail("FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        }
        let listener = try ConnectionListener(address: ip, port: 0)
        XCTAssertNotEqual(listener.port, 0)

        let client = try OutgoingConnection(host: ip, port: listener.port, timeout: .seconds(5))
        let cctx = client.context
        let cpd = try cctx.makeProtectionDomain()
        let ccq = try CompletionQueue(context: cctx, capacity: 64)
        let cbuf = try cpd.allocateRegion(bytes: 4096)
        let clientConn = try client.connect(pd: cpd, sendCompletionQueue: ccq, receiveCompletionQueue: ccq,
            receives: [ReceiveRequest(id: 1, element: cbuf.element(0..<4096))], privateData: Array("hello-from-client".utf8))

        let request = try listener.nextRequest(timeout: .seconds(10))
        XCTAssertEqual(Array(request.privateData.prefix(17)), Array("hello-from-client".utf8))
        let sctx = request.context
        let spd = try sctx.makeProtectionDomain()
        let scq = try CompletionQueue(context: sctx, capacity: 64)
        let sbuf = try spd.allocateRegion(bytes: 4096)
        let serverConn = try request.accept(pd: spd, sendCompletionQueue: scq, receiveCompletionQueue: scq,
            receives: [ReceiveRequest(id: 2, element: sbuf.element(0..<4096))], privateData: Array("welcome".utf8))

        try clientConn.waitEstablished(timeout: .seconds(10))
        try serverConn.waitEstablished(timeout: .seconds(10))
        XCTAssertEqual(Array(clientConn.peerPrivateData.prefix(7)), Array("welcome".utf8))
        // Why the authenticated CM path clears rights before its handshake:
        // the kernel CM grants remote WRITE to every connected QP.
        XCTAssertTrue(try serverConn.queuePair.accessFlags().contains(.remoteWrite))
        XCTAssertTrue(try clientConn.queuePair.accessFlags().contains(.remoteWrite))

        cbuf.fill(seed: 11, count: 1500)
        try clientConn.queuePair.post(SendRequest(id: 3, operation: .send, element: cbuf.element(0..<1500)))
        try ccq.expectSuccess(1)
        let got = try scq.expectSuccess(1)[0]
        XCTAssertEqual(got.byteLength, 1500)
        XCTAssertTrue(sbuf.matches(seed: 11, count: 1500))

        // The client sends a DREQ; the server sees DISCONNECTED and answers
        // with its own rdma_disconnect (the DREP), which completes the client's.
        try clientConn.disconnect()
        try serverConn.waitDisconnected(timeout: .seconds(10))
        try serverConn.disconnect()
        try clientConn.waitDisconnected(timeout: .seconds(10))
        XCTAssertEqual(try serverConn.queuePair.state(), .error, "librdmacm moves a disconnected QP to ERR")
    }

    /// A request the server rejects surfaces as `.connectionRejected` at the client.
    func testRDMACMReject() throws {
        guard let ip = DeviceTestSupport.ipv4 else {
            return XCTFail("FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        }
        let listener = try ConnectionListener(address: ip, port: 0)
        let client = try OutgoingConnection(host: ip, port: listener.port)
        let pd = try client.context.makeProtectionDomain()
        let cq = try CompletionQueue(context: client.context, capacity: 16)
        let conn = try client.connect(pd: pd, sendCompletionQueue: cq, receiveCompletionQueue: cq)
        try listener.nextRequest().reject(privateData: Array("no".utf8))
        XCTAssertThrowsError(try conn.waitEstablished(timeout: .seconds(10))) { error in
            XCTAssertEqual((error as? VerbsError)?.code, .connectionRejected, "\(error)")
        }
    }

    /// The perftest-style path without rdma_cm: endpoints and a remote buffer
    /// descriptor swapped over TCP, then an RDMA WRITE through it.
    func testTCPExchangeThenWrite() throws {
        let context = try DeviceTestSupport.openContext()
        let pd = try context.makeProtectionDomain()
        let cqS = try CompletionQueue(context: context, capacity: 16)
        let cqC = try CompletionQueue(context: context, capacity: 16)
        let server = try pd.makeQueuePair(completionQueue: cqS, configuration: DeviceTestSupport.configuration())
        let client = try pd.makeQueuePair(completionQueue: cqC, configuration: DeviceTestSupport.configuration())
        let target = try pd.allocateRegion(bytes: 8192, access: .remoteReadWrite)

        // Plain verbs, as perftest: no client token required.
        var screening = EndpointExchangeListener.Configuration()
        screening.clientTokenSize = 0
        let listener = try EndpointExchangeListener(address: "127.0.0.1", port: 0, configuration: screening)
        let serverMessage = ExchangeMessage(endpoint: server.endpoint, payload: target.remote().encoded)
        let box = ResultBox()
        let thread = Thread { box.set(Result { try listener.exchange(local: serverMessage, timeout: .seconds(10)) }) }
        thread.start()
        let fromServer = try EndpointExchange.exchange(host: "127.0.0.1", port: listener.port,
            local: ExchangeMessage(endpoint: client.endpoint), timeout: .seconds(10))
        let fromClient = try box.wait().get()
        XCTAssertEqual(fromServer.endpoint, serverMessage.endpoint)
        XCTAssertEqual(fromClient.endpoint.queuePairNumber, client.queuePairNumber)

        let remote = try XCTUnwrap(RemoteMemory(encoded: fromServer.payload))
        let s = try server.connect(to: fromClient.endpoint)
        let c = try client.connect(to: fromServer.endpoint)
        XCTAssertEqual(try s.state(), .readyToSend)
        let src = try pd.allocateRegion(bytes: 8192)
        src.fill(seed: 12)
        try c.post(SendRequest(id: 1, operation: .write(remote), element: src.element(0..<8192)))
        try cqC.expectSuccess(1)
        XCTAssertTrue(target.matches(seed: 12, count: 8192))
    }
}

/// Hands one result from a helper thread to the test thread.
final class ResultBox: @unchecked Sendable {
    private let lock = NSCondition()
    private var value: Result<ExchangeMessage, any Error>?

    func set(_ v: Result<ExchangeMessage, any Error>) {
        lock.lock()
        value = v
        lock.signal()
        lock.unlock()
    }

    func wait() -> Result<ExchangeMessage, any Error> {
        lock.lock()
        defer { lock.unlock() }
        while value == nil { lock.wait() }
        return value!
    }
}
