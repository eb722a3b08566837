// Resumption between two processes' worth of connections, as NCCL opens them
// (channels x peers at once): concurrent first connections to one listener
// wait for one full handshake and resume; a session the listener no longer
// holds costs a full handshake, not the connection; and a listener shared by
// several consumers tells their connections apart by an authenticated route.
import Dispatch
@testable import FabricAuth
import Foundation
import Handshake
import Verbs
import XCTest

final class SessionResumptionDeviceTests: XCTestCase {
    private func pair() throws -> (server: ChannelConfiguration, client: ChannelConfiguration) {
        let cluster = try AuthenticatedChannelTests.Cluster()
        return (try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test"),
            try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test"))
    }

    /// Accepts `count` clients on `threads` threads at once (acceptClient, as the plug-in does).
    private func acceptInBackground(_ listener: AuthenticatedListener, count: Int, threads: Int)
        -> (wait: () -> [AuthenticatedListener.AcceptedClient], box: AcceptedBox)
    {
        let box = AcceptedBox(listener, remaining: count)
        let done = DispatchGroup()
        for _ in 0..<threads {
            done.enter()
            Thread.detachNewThread {
                while box.claim() {
                    let accepted = try? box.listener.acceptClient(timeout: .seconds(60))
                    box.add(accepted)
                }
                done.leave()
            }
        }
        return ({
            XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "accepts did not finish")
            return box.accepted
        }, box)
    }

    func testConcurrentFirstConnectionsWaitForOneFullHandshakeAndResume() throws {
        let context = try DeviceTestSupport.openContext()
        let (server, client) = try pair()
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        let n = 4
        let (wait, _) = acceptInBackground(listener, count: n, threads: n)
        let sessions = SessionCache()
        let results = ResultsBox(n)
        DispatchQueue.concurrentPerform(iterations: n) { i in
            results.set(i, Result { () throws(ChannelError) in
                try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.port,
                    configuration: client, sessions: sessions)
            })
        }
        let accepted = wait()
        let clients = try results.values.map { try $0!.get() }
        XCTAssertEqual(clients.filter { !$0.resumed }.count, 1, "one full handshake: \(clients.map(\.resumed))")
        XCTAssertEqual(clients.filter(\.resumed).count, n - 1)
        let servers = try accepted.map { try $0.outcome.get() }
        XCTAssertEqual(servers.filter(\.resumed).count, n - 1)
        XCTAssertEqual(listener.cachedSessions, 1, "resumptions add no session")
        XCTAssertEqual(sessions.count, 1)
        // Each resumed channel carries traffic under keys of its own.
        for (i, c) in clients.enumerated() { try c.send(Array("channel \(i)".utf8)) }
        let received = try Set(servers.map { String(decoding: try $0.receive(), as: UTF8.self) })
        XCTAssertEqual(received, Set((0..<n).map { "channel \($0)" }))
    }

    func testSessionTheListenerNoLongerHoldsCostsAFullHandshakeNotTheConnection() throws {
        let context = try DeviceTestSupport.openContext()
        let (server, client) = try pair()
        let sessions = SessionCache()
        var listener: AuthenticatedListener? = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        let port = listener!.port
        let (s1, c1) = try AuthenticatedChannelTests.establish(context: context, listener: listener!, client: client, sessions: sessions)
        XCTAssertFalse(try c1.get().resumed)
        _ = try s1.get()
        XCTAssertEqual(sessions.count, 1)
        // The listener restarts on the same port, without the session.
        listener = nil
        // The first listener's accept thread may still hold it for a moment.
        var restarted: AuthenticatedListener!
        for attempt in 1...50 {
            do {
                restarted = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1", port: port)
                break
            } catch {
                if attempt == 50 { throw error }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        let (wait, _) = acceptInBackground(restarted, count: 2, threads: 1)
        let second = try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: port,
            configuration: client, sessions: sessions)
        XCTAssertFalse(second.resumed, "the refused resumption was followed by a full handshake")
        let accepted = wait()
        XCTAssertEqual(accepted.count, 2)
        guard case .failure(.handshake(let refusal))? = accepted.first?.outcome else {
            return XCTFail("the listener first refuses the resumption: \(accepted)")
        }
        XCTAssertEqual(refusal.code, .unknownSession, "\(refusal)")
        let server2 = try XCTUnwrap(accepted.last).outcome.get()
        XCTAssertFalse(server2.resumed)
        XCTAssertEqual(restarted.cachedSessions, 1)
        XCTAssertEqual(sessions.count, 1, "the stale session was replaced")
        try second.send(Array("after the restart".utf8))
        XCTAssertEqual(String(decoding: try server2.receive(), as: UTF8.self), "after the restart")
    }

    func testSharedListenerRoutesByTheAuthenticatedRouteAndAttributesFailures() throws {
        let context = try DeviceTestSupport.openContext()
        let (server, client) = try pair()
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        let (wait, _) = acceptInBackground(listener, count: 2, threads: 1)
        let route: [UInt8] = [7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        var routed = client
        routed.handshakePayload = route
        let channel = try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.port,
            configuration: routed, sessions: nil, route: route)
        // A client from another CA, which the server refuses, naming another route.
        let outsider = try AuthenticatedChannelTests.Cluster().configuration(
            id: "spiffe://cluster.test/trainer/rank9", policy: "allow domain cluster.test")
        XCTAssertThrowsError(try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.port,
            configuration: outsider, route: [9, 9]))
        let accepted = wait()
        XCTAssertEqual(accepted.count, 2)
        let good = try XCTUnwrap(accepted.first { (try? $0.outcome.get()) != nil })
        XCTAssertEqual(good.route, route)
        XCTAssertEqual(try good.outcome.get().peerPayload, route, "the route inside the handshake")
        let refused = try XCTUnwrap(accepted.first { (try? $0.outcome.get()) == nil })
        XCTAssertEqual(refused.route, [9, 9], "a failed setup keeps the route its client named")
        // The outsider trusts only its own CA, so it refuses the server's certificate first.
        guard case .failure(.handshake(let e)) = refused.outcome else { return XCTFail("\(refused.outcome)") }
        XCTAssertEqual(e.code, .peerAborted, "\(e)")
        XCTAssertEqual(e.remoteCode, .peerRejected, "\(e)")
        XCTAssertThrowsError(try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.port,
            configuration: client, route: [UInt8](repeating: 0, count: AuthenticatedConnector.maxRouteBytes + 1))) { error in
            guard case ChannelError.invalidRequest = error else { return XCTFail("\(error)") }
        }
        channel.close()
    }
}

/// Accepted clients gathered from several threads.
final class AcceptedBox: @unchecked Sendable {
    let listener: AuthenticatedListener
    private let lock = NSLock()
    private var remaining: Int
    private(set) var accepted: [AuthenticatedListener.AcceptedClient] = []

    init(_ listener: AuthenticatedListener, remaining: Int) {
        self.listener = listener
        self.remaining = remaining
    }

    func claim() -> Bool { lock.withLock { remaining -= 1; return remaining >= 0 } }
    func add(_ a: AuthenticatedListener.AcceptedClient?) { if let a { lock.withLock { accepted.append(a) } } }
}

/// Results written by concurrentPerform's iterations.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Result<AuthenticatedQueuePair, ChannelError>?]
    init(_ n: Int) { stored = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ r: Result<AuthenticatedQueuePair, ChannelError>) { lock.withLock { stored[i] = r } }
    var values: [Result<AuthenticatedQueuePair, ChannelError>?] { lock.withLock { stored } }
}
