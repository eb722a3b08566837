// Host tests of the listener's screening over real loopback TCP (issue 12,
// item 4): each kind of bad client is refused with its own code, counted,
// sees nothing of the listener's endpoint, and does not disturb a good
// client connecting at the same time.
#if canImport(Glibc)
import Glibc
#endif
import Bootstrap
import Foundation
import Verbs
import XCTest

final class ExchangeListenerTests: XCTestCase {
    let server = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint, payload: [1, 2, 3])

    private func makeListener(_ tweak: (inout EndpointExchangeListener.Configuration) -> Void = { _ in })
        throws -> EndpointExchangeListener
    {
        var configuration = EndpointExchangeListener.Configuration()
        tweak(&configuration)
        return try EndpointExchangeListener(address: "127.0.0.1", port: 0, configuration: configuration)
    }

    /// A bad client connects and sends `bytes` first; a good client connects
    /// after it and completes its round trip; then the bad one is refused
    /// with `expected`, counted once, and has received nothing but a close.
    private func assertRefused(
        _ expected: BootstrapError.Code, sending bytes: [UInt8], stopSending: Bool = false,
        configuration: (inout EndpointExchangeListener.Configuration) -> Void = { _ in },
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let listener = try makeListener(configuration)
        let bad = try RawClient(port: listener.port)
        bad.send(bytes)
        if stopSending { bad.finishSending() }
        let good = try GoodClient(port: listener.port)
        good.start()
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertEqual(client.firstMessage, good.hello, file: file, line: line)
        XCTAssertEqual(try good.answer?.get(), server, "the good client got the listener's answer", file: file, line: line)
        if listener.metrics.snapshot()[expected] == 0 { listener.screen(for: .seconds(2)) }
        let metrics = listener.metrics.snapshot()
        XCTAssertEqual(metrics[expected], 1, "\(metrics)", file: file, line: line)
        XCTAssertEqual(metrics.totalRefused, 1, "\(metrics)", file: file, line: line)
        XCTAssertEqual(metrics.connectionsAccepted, 2, file: file, line: line)
        XCTAssertEqual(metrics.clientsHandedOver, 1, file: file, line: line)
        let seen = bad.drain()
        XCTAssertEqual(seen.bytes, [], "a refused connection learns nothing", file: file, line: line)
        XCTAssertTrue(seen.closed, "a refused connection is closed", file: file, line: line)
    }

    func testRoundTripOverLoopback() throws {
        let listener = try makeListener()
        let good = try GoodClient(port: listener.port)
        good.start()
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertEqual(client.firstMessage, good.hello)
        XCTAssertEqual(try good.answer?.get(), server)
        XCTAssertEqual(listener.metrics.snapshot().clientsHandedOver, 1)
        XCTAssertTrue(client.connection.peerAddress.hasPrefix("127.0.0.1:"), client.connection.peerAddress)
    }

    func testGarbageFirstFrameIsRefusedAsBadMagic() throws {
        try assertRefused(.badMagic, sending: Array("GET / HTTP/1.1\r\nHost: fabric\r\nAccept: */*\r\n\r\n".utf8))
    }

    func testTruncatedFirstMessageIsRefused() throws {
        let hello = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint, payload: ExchangeMessage.randomClientToken())
        try assertRefused(.truncated, sending: Array(hello.encoded.prefix(20)), stopSending: true)
    }

    func testTruncatedAndSilentFirstMessageIsRefusedAtItsDeadline() throws {
        let hello = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint, payload: ExchangeMessage.randomClientToken())
        try assertRefused(.truncated, sending: Array(hello.encoded.dropLast(5))) { $0.firstMessageTimeout = .milliseconds(500) }
    }

    func testOversizedPayloadIsRefusedBeforeItIsRead() throws {
        var header = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint).encoded
        header[ExchangeMessage.headerSize - 2] = 0xFF
        header[ExchangeMessage.headerSize - 1] = 0xFF  // 65535, the example
        try assertRefused(.oversized, sending: header + [UInt8](repeating: 7, count: 2000))
    }

    func testFirstMessageWithoutATokenIsRefused() throws {
        try assertRefused(.missingClientToken, sending: ExchangeMessage(endpoint: ExchangeMessageTests.endpoint).encoded)
    }

    func testMalformedEndpointIsRefused() throws {
        var bytes = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint, payload: ExchangeMessage.randomClientToken()).encoded
        bytes[4 + 10] = 9  // no such MTU
        try assertRefused(.malformedEndpoint, sending: bytes)
    }

    func testConnectionClosedWithoutSpeakingIsRefused() throws {
        try assertRefused(.connectionClosed, sending: [], stopSending: true)
    }

    /// The idle connection came first; the good client is served while it
    /// still waits, and it is closed at its own deadline.
    func testIdleConnectionTimesOutWithoutDelayingAGoodClient() throws {
        let listener = try makeListener { $0.firstMessageTimeout = .seconds(1) }
        let idle = try RawClient(port: listener.port)
        let good = try GoodClient(port: listener.port)
        let clock = ContinuousClock()
        let start = clock.now
        good.start()
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertLessThan(start.duration(to: clock.now), .milliseconds(900), "served before the idle one's deadline")
        XCTAssertEqual(client.firstMessage, good.hello)
        XCTAssertEqual(try good.answer?.get(), server)
        XCTAssertEqual(listener.pendingConnections, 1, "the idle one is still pending")
        listener.screen(for: .seconds(2))
        XCTAssertEqual(listener.metrics.snapshot()[.timedOut], 1)
        XCTAssertEqual(listener.pendingConnections, 0)
        let seen = idle.drain()
        XCTAssertEqual(seen.bytes, [], "an idle connection learns nothing")
        XCTAssertTrue(seen.closed)
    }

    /// With room for two, an idle connection and a good client fill the
    /// bound; two more are closed at once, and the good client completes.
    func testConnectionsBeyondTheBoundAreClosedAtOnce() throws {
        let listener = try makeListener { $0.maxPendingConnections = 2 }
        let idle = try RawClient(port: listener.port)
        let good = try GoodClient(port: listener.port)
        let excess = [try RawClient(port: listener.port), try RawClient(port: listener.port)]
        good.start()
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertEqual(client.firstMessage, good.hello)
        XCTAssertEqual(try good.answer?.get(), server)
        let metrics = listener.metrics.snapshot()
        XCTAssertEqual(metrics[.tooManyPending], 2, "\(metrics)")
        XCTAssertEqual(metrics.connectionsAccepted, 4)
        for e in excess {
            let seen = e.drain(timeout: .seconds(1))
            XCTAssertEqual(seen.bytes, [])
            XCTAssertTrue(seen.closed, "closed at once, not at a deadline")
        }
        XCTAssertEqual(listener.pendingConnections, 1, "the idle one keeps its slot until its deadline")
        withExtendedLifetime(idle) {}
    }

    /// Today's failure of issue 12: a connection that arrives between a
    /// client's two round trips aborted its setup. Both now run on the
    /// client's own connection; the stray one waits for the screening.
    func testStrayConnectionBetweenTheRoundTripsDoesNotDisturbTheSetup() throws {
        let listener = try makeListener()
        let good = try GoodClient(port: listener.port)
        good.start(barrier: true)
        let client = try listener.serveOne(local: server)
        let stray = try RawClient(port: listener.port)
        stray.send(Array("SSH-2.0-OpenSSH_9.2\r\n".utf8))
        let barrier = try client.connection.receive(deadline: ContinuousClock.now + .seconds(10))
        XCTAssertEqual(barrier, client.firstMessage, "the barrier repeats the first message")
        try client.connection.send(server, deadline: ContinuousClock.now + .seconds(10))
        good.wait()
        XCTAssertEqual(try good.barrierAnswer?.get(), server)
        listener.screen(for: .milliseconds(300))
        XCTAssertEqual(listener.metrics.snapshot()[.badMagic], 1)
        XCTAssertEqual(stray.drain().bytes, [])
    }

    /// Every kind of bad client at once, then a good one: the good one is the
    /// only client handed over, and every other connection is counted.
    func testAScanBurstLeavesTheListenerServing() throws {
        let listener = try makeListener { $0.firstMessageTimeout = .milliseconds(500) }
        let tokenless = ExchangeMessage(endpoint: ExchangeMessageTests.endpoint).encoded
        var oversized = tokenless
        oversized[ExchangeMessage.headerSize - 2] = 0x10
        let bursts: [[UInt8]] = [Array("garbage!".utf8) + [UInt8](repeating: 0, count: 40), oversized, tokenless, Array(tokenless.prefix(7)), []]
        let bad = try bursts.map { bytes in
            let c = try RawClient(port: listener.port)
            c.send(bytes)
            return c
        }
        let good = try GoodClient(port: listener.port)
        good.start()
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertEqual(client.firstMessage, good.hello)
        listener.screen(for: .seconds(1))
        let metrics = listener.metrics.snapshot()
        XCTAssertEqual(metrics[.badMagic], 1, "\(metrics)")
        XCTAssertEqual(metrics[.oversized], 1, "\(metrics)")
        XCTAssertEqual(metrics[.missingClientToken], 1, "\(metrics)")
        XCTAssertEqual(metrics[.truncated], 1, "\(metrics)")
        XCTAssertEqual(metrics[.timedOut], 1, "\(metrics)")
        XCTAssertEqual(metrics.clientsHandedOver, 1)
        for c in bad { XCTAssertEqual(c.drain().bytes, []) }
    }

    func testNoClientEndsTheWaitWithItsOwnCode() throws {
        let listener = try makeListener()
        listener.screen(for: .milliseconds(100))
        XCTAssertEqual(listener.metrics.snapshot().totalRefused, 0)
    }

    func testClientGivesUpOnASilentAddress() throws {
        // A listening socket nobody serves: the client's round trip ends at its deadline.
        let listener = try makeListener()
        let connection = try BootstrapConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(2))
        XCTAssertThrowsError(try connection.exchange(server, timeout: .milliseconds(200))) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .timedOut)
        }
    }

    /// Out of descriptors (EMFILE), accept(2) fails while the listening
    /// socket stays readable: the listener pauses instead of failing its
    /// caller or spinning, and serves the queued client once descriptors are back.
    func testRunningOutOfDescriptorsPausesAcceptInsteadOfFailing() throws {
        let listener = try makeListener()
        let good = try GoodClient(port: listener.port)
        good.start()
        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved), 0)
        var hogs: [Int32] = []
        var low = saved
        low.rlim_cur = rlim_t(min(Int(saved.rlim_cur), 4096))
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &low), 0)
        while true {
            let fd = open("/dev/null", O_RDONLY)
            if fd < 0 { break }
            hogs.append(fd)
        }
        XCTAssertEqual(errno, EMFILE)
        let clock = ContinuousClock()
        let start = clock.now
        XCTAssertThrowsError(try listener.nextClient(timeout: .milliseconds(500))) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .acceptTimedOut, "\(error)")
        }
        XCTAssertGreaterThanOrEqual(start.duration(to: clock.now), .milliseconds(450), "waited, did not fail at once")
        for fd in hogs { close(fd) }
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved), 0)
        XCTAssertEqual(listener.metrics.snapshot().connectionsAccepted, 0)
        let client = try listener.serveOne(local: server)
        good.wait()
        XCTAssertEqual(client.firstMessage, good.hello)
        XCTAssertEqual(try good.answer?.get(), server)
    }

    /// Two threads wait on one listener: each is handed a different client,
    /// and while the first holds its client (a setup in progress, stalled
    /// here on purpose) the second screens and serves the other.
    func testTwoThreadsServeTwoClientsWhileOneSetupStalls() throws {
        let listener = try makeListener()
        let first = try GoodClient(port: listener.port, queuePairNumber: 0x31)
        first.start(barrier: true)
        let held = try listener.serveOne(local: server)  // its barrier is never answered while the second is served
        XCTAssertEqual(held.firstMessage, first.hello)
        let second = try GoodClient(port: listener.port, queuePairNumber: 0x32)
        second.start()
        let other = ServedBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [server] in
            other.client = try? listener.serveOne(local: server)
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        second.wait()
        XCTAssertEqual(other.client?.firstMessage, second.hello)
        XCTAssertEqual(try second.answer?.get(), server)
        // The stalled setup goes on undisturbed.
        XCTAssertEqual(try held.connection.receive(deadline: .now + .seconds(10)), first.hello)
        try held.connection.send(server, deadline: .now + .seconds(10))
        first.wait()
        XCTAssertEqual(try first.barrierAnswer?.get(), server)
    }

    /// A caller that waits while another thread screens still returns at its own deadline.
    func testAWaitingCallerKeepsItsOwnDeadline() throws {
        let listener = try makeListener()
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            started.signal()
            listener.screen(for: .seconds(2))
            done.signal()
        }
        started.wait()
        Thread.sleep(forTimeInterval: 0.2)  // let it take the screening
        let clock = ContinuousClock()
        let start = clock.now
        XCTAssertThrowsError(try listener.nextClient(timeout: .milliseconds(300))) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .acceptTimedOut, "\(error)")
        }
        XCTAssertLessThan(start.duration(to: clock.now), .seconds(1))
        done.wait()
    }
}

/// A client handed over on a helper thread.
final class ServedBox: @unchecked Sendable {
    var client: BootstrapClient?
}
