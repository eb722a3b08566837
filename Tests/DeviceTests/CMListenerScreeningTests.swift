// The rdma_cm listener's screening on a real verbs device (issue 12 item 4):
// connection requests are set up concurrently under a short deadline, a
// silent or garbage-sending client is torn down (counted, logged) without
// blocking anyone, and requests over the pending bound are rejected.
import Dispatch
@testable import FabricAuth
import Foundation
import Verbs
import XCTest

extension AuthenticatedChannelTests {
    /// A client that connects while another holds a connection open in
    /// silence is authenticated at once, not after the silent one's deadline;
    /// the silent one is then torn down (its peer sees the disconnect),
    /// counted as timed out and logged once.
    func testCMListenerServesAClientPastASilentOne() throws {
        let ip = try XCTUnwrap(DeviceTestSupport.ipv4, "FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        let lines = LogLines()
        server.log = { lines.append($0) }
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        var screening = AuthenticatedCMListener.Screening()
        screening.handshakeTimeout = .seconds(5)
        let box = CMAcceptBox(try AuthenticatedCMListener(address: ip, configuration: server, screening: screening))
        let done = box.acceptInBackground(timeout: .seconds(30))

        let silent = try RawCMClient(host: ip, port: box.listener.port)
        try silent.connection.waitEstablished(timeout: .seconds(5))
        try silent.expectM1()  // the listener spoke first (M1 discloses no identity); we never answer

        let connected = try AuthenticatedCMConnection.connect(host: ip, port: box.listener.port, configuration: client)
        done.wait()
        let accepted = try XCTUnwrap(box.result).get()
        XCTAssertEqual(accepted.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(connected.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        XCTAssertEqual(box.listener.metrics.snapshot().timedOut, 0, "served while the silent connection was still pending")
        XCTAssertEqual(box.listener.pendingConnections, 1, "the silent connection")

        // The silent connection's own thread tears it down at its deadline.
        XCTAssertTrue(try silent.waitDisconnected(within: .seconds(10)), "the listener tore the silent connection down")
        let m = box.listener.metrics.snapshot()
        XCTAssertEqual(m.timedOut, 1, "\(m)")
        XCTAssertEqual(m.authenticated, 1, "\(m)")
        XCTAssertEqual(box.listener.pendingConnections, 0)
        XCTAssertEqual(lines.all.filter { $0.contains("torn down (timed out)") }.count, 1, "logged once: \(lines.all)")
    }

    /// A client that answers M1 with garbage is torn down (counted as failed,
    /// disconnected), and the listener authenticates the next client.
    func testCMListenerTearsDownGarbageAndKeepsServing() throws {
        let ip = try XCTUnwrap(DeviceTestSupport.ipv4, "FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        let lines = LogLines()
        server.log = { lines.append($0) }
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        let box = CMAcceptBox(try AuthenticatedCMListener(address: ip, configuration: server))
        let done = box.acceptInBackground(timeout: .seconds(30))

        let garbage = try RawCMClient(host: ip, port: box.listener.port)
        try garbage.connection.waitEstablished(timeout: .seconds(5))
        try garbage.expectM1()
        try garbage.send([UInt8](repeating: 0xEE, count: 64))
        XCTAssertTrue(try garbage.waitDisconnected(within: .seconds(10)), "the listener tore the garbage connection down")
        XCTAssertEqual(box.listener.metrics.snapshot().failed, 1)

        let connected = try AuthenticatedCMConnection.connect(host: ip, port: box.listener.port, configuration: client)
        done.wait()
        let accepted = try XCTUnwrap(box.result).get()
        XCTAssertEqual(accepted.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        try connected.send([1, 2, 3])
        XCTAssertEqual(try accepted.receive(), [1, 2, 3])
        let m = box.listener.metrics.snapshot()
        XCTAssertEqual(m.failed, 1, "\(m)")
        XCTAssertEqual(m.authenticated, 1, "\(m)")
        XCTAssertEqual(lines.all.filter { $0.contains("torn down (failed)") }.count, 1, "logged once: \(lines.all)")
    }

    /// With two connections pending (silent), a third request is rejected
    /// with rdma_reject and counted; once the silent ones are torn down at
    /// their deadline, a real client is authenticated.
    func testCMListenerRejectsRequestsOverThePendingBound() throws {
        let ip = try XCTUnwrap(DeviceTestSupport.ipv4, "FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        let cluster = try Cluster()
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        var screening = AuthenticatedCMListener.Screening()
        screening.handshakeTimeout = .seconds(3)
        screening.maxPendingConnections = 2
        let box = CMAcceptBox(try AuthenticatedCMListener(address: ip, configuration: server, screening: screening))
        let done = box.acceptInBackground(timeout: .seconds(30))

        let silent = try (0..<2).map { _ in
            let c = try RawCMClient(host: ip, port: box.listener.port)
            try c.connection.waitEstablished(timeout: .seconds(5))
            return c
        }
        XCTAssertEqual(box.listener.pendingConnections, 2)
        let third = try RawCMClient(host: ip, port: box.listener.port)
        XCTAssertThrowsError(try third.connection.waitEstablished(timeout: .seconds(5))) { error in
            XCTAssertEqual((error as? VerbsError)?.code, .connectionRejected, "\(error)")
        }
        XCTAssertEqual(box.listener.metrics.snapshot().rejectedOverBound, 1)

        for c in silent { XCTAssertTrue(try c.waitDisconnected(within: .seconds(10))) }
        let connected = try AuthenticatedCMConnection.connect(host: ip, port: box.listener.port, configuration: client)
        done.wait()
        let accepted = try XCTUnwrap(box.result).get()
        XCTAssertEqual(accepted.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(connected.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        let m = box.listener.metrics.snapshot()
        XCTAssertEqual(m.requests, 4, "\(m)")
        XCTAssertEqual(m.rejectedOverBound, 1, "\(m)")
        XCTAssertEqual(m.timedOut, 2, "\(m)")
        XCTAssertEqual(m.authenticated, 1, "\(m)")
    }
}

/// The listener and what its background `accept` returned.
final class CMAcceptBox: @unchecked Sendable {
    let listener: AuthenticatedCMListener
    var result: Result<AuthenticatedQueuePair, ChannelError>?
    init(_ listener: AuthenticatedCMListener) { self.listener = listener }

    /// Runs `accept(timeout:)` on a thread; the semaphore is signalled when it returns.
    func acceptInBackground(timeout: Duration) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = Result { () throws(ChannelError) in try self.listener.accept(timeout: timeout) }
            if case .success = r { self.result = r } else if self.result == nil { self.result = r }
            done.signal()
        }
        return done
    }
}

/// A plain rdma_cm client with receives posted: it connects and then does
/// only what the test tells it (nothing, or garbage).
final class RawCMClient {
    let outgoing: OutgoingConnection
    let pd: ProtectionDomain
    let cq: CompletionQueue
    let region: MemoryRegion
    let connection: RDMAConnection

    init(host: String, port: UInt16) throws {
        outgoing = try OutgoingConnection(host: host, port: port, timeout: .seconds(5))
        pd = try outgoing.context.makeProtectionDomain()
        cq = try CompletionQueue(context: outgoing.context, capacity: 16)
        let region = try pd.allocateRegion(bytes: 8 * 4096)
        self.region = region
        let receives = (0..<4).map { i in ReceiveRequest(id: UInt64(i), element: region.element((i * 4096)..<((i + 1) * 4096))) }
        connection = try outgoing.connect(pd: pd, sendCompletionQueue: cq, receiveCompletionQueue: cq, receives: receives)
    }

    /// The listener's first in-band message arrives (a receive completion).
    func expectM1() throws {
        let wc = try cq.expectSuccess(1)[0]
        XCTAssertGreaterThan(wc.byteLength, 0)
    }

    /// Sends `bytes` from the region's last slot and waits for its completion.
    func send(_ bytes: [UInt8]) throws {
        let offset = 7 * 4096
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: region.bytes[offset..<(offset + $0.count)]).copyMemory(from: $0) }
        try connection.queuePair.post(SendRequest(id: 99, operation: .send, element: region.element(offset..<(offset + bytes.count))))
        try cq.expectSuccess(1)
    }

    /// True when the peer disconnected (or the connection left TIME_WAIT) within `within`.
    func waitDisconnected(within: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            guard let event = try connection.nextEvent(timeout: deadline - ContinuousClock.now) else { return false }
            if event.kind == .disconnected || event.kind == .timeWaitExit { return true }
        }
        return false
    }
}
