// Clients for the listener tests: a raw socket that sends exactly the bytes
// a test gives it (the misbehaving ones), and FabricAuth's own client run on
// a thread (the good one). Both over real loopback TCP.
#if canImport(Glibc)
import Glibc
#endif
import Bootstrap
import Foundation
import Verbs
import XCTest

/// A plain TCP connection under the test's control.
final class RawClient {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`; returns once the kernel has queued the
    /// connection on the listener (loopback connects complete at once).
    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        XCTAssertEqual(n, bytes.count)
    }

    /// Half-closes the sending direction, as a peer that stopped mid-message.
    func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// What the listener sent before closing (or before `timeout`), and
    /// whether it closed: a refused connection must see nothing and a close.
    func drain(timeout: Duration = .seconds(5)) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 2048)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return (bytes, true) }  // EOF, or a reset: closed either way
            bytes += chunk[0..<n]
        }
        return (bytes, false)
    }
}

/// FabricAuth's client, connected on the test's thread (so the order of
/// connections is known) and exchanging on another.
final class GoodClient: @unchecked Sendable {
    let hello: ExchangeMessage
    private let connection: BootstrapConnection
    private let done = DispatchSemaphore(value: 0)
    private(set) var answer: Result<ExchangeMessage, BootstrapError>?
    private(set) var barrierAnswer: Result<ExchangeMessage, BootstrapError>?

    init(port: UInt16, queuePairNumber: UInt32 = 0x22) throws {
        var endpoint = ExchangeMessageTests.endpoint
        endpoint.queuePairNumber = queuePairNumber
        hello = ExchangeMessage(endpoint: endpoint, payload: ExchangeMessage.randomClientToken())
        connection = try BootstrapConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
    }

    /// Starts the first round trip, and with `barrier` the second, as the
    /// connector does.
    func start(barrier: Bool = false) {
        Thread.detachNewThread { [self] in
            answer = Result { () throws(BootstrapError) in try connection.exchange(hello, timeout: .seconds(10)) }
            if barrier, case .success = answer {
                barrierAnswer = Result { () throws(BootstrapError) in try connection.exchange(hello, timeout: .seconds(10)) }
            }
            done.signal()
        }
    }

    func wait() { done.wait() }
}

extension EndpointExchangeListener {
    /// The next client, answered with `local`, as the listener's caller does.
    func serveOne(local: ExchangeMessage, timeout: Duration = .seconds(10)) throws -> BootstrapClient {
        let client = try nextClient(timeout: timeout)
        try client.connection.send(local, deadline: ContinuousClock.now + timeout)
        return client
    }

    /// Runs the screening until `timeout` with no good client to come, so
    /// pending connections meet their deadlines.
    func screen(for timeout: Duration) {
        XCTAssertThrowsError(try nextClient(timeout: timeout)) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .acceptTimedOut, "\(error)")
        }
    }
}
