// `fabricauth ping` end to end on the device: certificates made with the CLI
// itself (ca init, cert issue), a responder and an initiator as two processes.
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class CLIPingTests: XCTestCase {
    /// The `fabricauth` binary built next to this test executable (or FABRICAUTH_BINARY).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["FABRICAUTH_BINARY"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("fabricauth")
    }

    @discardableResult
    static func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A scratch directory with a CA and one certificate per name, made by the CLI.
    static func makeIdentities(_ names: [String], in tag: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fabricauth-\(tag)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertEqual(try run(["ca", "init", "--trust-domain", "ping.test"], in: dir).status, 0)
        for name in names {
            let issued = try run(["cert", "issue", "--id", "spiffe://ping.test/\(name)", "--out", "\(name).pem", "--key-out", "\(name).key"], in: dir)
            XCTAssertEqual(issued.status, 0, issued.output)
        }
        return dir
    }

    /// Runs a responder (`a`, allowing `allow`) and an initiator (`client`) and
    /// returns both exit statuses and outputs.
    static func ping(in dir: URL, allow: String, client: String, clientArguments: [String])
        throws -> (responder: (status: Int32, output: String), initiator: (status: Int32, output: String))
    {
        let port = String(20000 + Int(getpid() % 20000) + Int.random(in: 0..<1000))
        let responder = Process()
        responder.executableURL = binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", allow,
            "-p", port, "-n", "20", "--wait", "60", "--once"]
        let output = Pipe()
        responder.standardOutput = output
        responder.standardError = output
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }
        // The responder needs a moment to listen; the initiator retries its connect.
        var initiator: (status: Int32, output: String) = (1, "")
        for _ in 0..<20 {
            initiator = try run(["ping", "127.0.0.1", "--cert", "\(client).pem", "--key", "\(client).key", "--bundle", "ca.pem",
                "--allow", "id spiffe://ping.test/a", "-p", port] + clientArguments, in: dir)
            if !initiator.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        responder.waitUntilExit()
        let served = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return ((responder.terminationStatus, served), initiator)
    }

    func testPingBetweenTwoProcesses() throws {
        _ = try DeviceTestSupport.openContext()  // fail clearly without a device
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build fabricauth first: \(Self.binary.path)")
        let dir = try Self.makeIdentities(["a", "b"], in: "ping")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (server, client) = try Self.ping(in: dir, allow: "id spiffe://ping.test/b", client: "b", clientArguments: ["-n", "20", "-s", "256"])
        XCTAssertEqual(client.status, 0, client.output)
        XCTAssertEqual(server.status, 0, server.output)
        XCTAssertTrue(client.output.contains("peer spiffe://ping.test/a verified"), client.output)
        XCTAssertTrue(client.output.contains("20 round trips of 256 bytes"), client.output)
        XCTAssertTrue(server.output.contains("peer spiffe://ping.test/b verified"), server.output)
        XCTAssertTrue(client.output.contains("rejected 0"), client.output)
    }

    func testPingRefusesAPeerThePolicyDoesNotAllow() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try Self.makeIdentities(["a", "c"], in: "deny")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (server, client) = try Self.ping(in: dir, allow: "id spiffe://ping.test/b", client: "c", clientArguments: ["-n", "5"])
        XCTAssertNotEqual(client.status, 0, client.output)
        XCTAssertNotEqual(server.status, 0, server.output)
        XCTAssertTrue(server.output.contains("policyDenied"), server.output)
        XCTAssertTrue(client.output.contains("policyDenied"), client.output)
    }

    /// Issue 12, item 4, tried as from outside: a responder (without --once)
    /// gets a garbage first frame and an idle connection, serves a real ping
    /// while the idle one is still open, closes both without answering them,
    /// logs each once with its code, and serves a second ping afterwards.
    func testResponderOutlastsAGarbageAndAnIdleConnection() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try Self.makeIdentities(["a", "b"], in: "scan")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = UInt16(20000 + Int(getpid() % 20000) + Int.random(in: 0..<1000))
        let responder = Process()
        responder.executableURL = Self.binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/b",
            "-p", String(port), "-n", "5"]
        let output = Pipe()
        responder.standardOutput = output
        responder.standardError = output
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }

        let idle = try ScanningConnection(port: port, within: .seconds(20))
        let garbage = try ScanningConnection(port: port, within: .seconds(5))
        garbage.send(Array("GET / HTTP/1.1\r\nHost: fabric\r\nUser-Agent: scanner\r\n\r\n".utf8))
        let refused = garbage.drain(for: .seconds(10))
        XCTAssertEqual(refused.bytes, [], "no endpoint for a garbage frame")
        XCTAssertTrue(refused.closed)

        let ping = ["ping", "127.0.0.1", "--cert", "b.pem", "--key", "b.key", "--bundle", "ca.pem",
            "--allow", "id spiffe://ping.test/a", "-p", String(port), "-n", "5"]
        let first = try Self.run(ping, in: dir)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("5 round trips"), first.output)

        let timedOut = idle.drain(for: .seconds(10))
        XCTAssertEqual(timedOut.bytes, [], "no endpoint for a connection that never spoke")
        XCTAssertTrue(timedOut.closed, "closed at its deadline (3 s by default)")

        let second = try Self.run(ping, in: dir)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(responder.isRunning, "the responder keeps serving until Ctrl-C")
        responder.terminate()
        responder.waitUntilExit()
        let served = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(served.components(separatedBy: "answered 5 pings").count - 1, 2, served)
        XCTAssertEqual(served.components(separatedBy: ": badMagic").count - 1, 1, "logged once: \(served)")
        XCTAssertEqual(served.components(separatedBy: ": timedOut").count - 1, 1, "logged once: \(served)")
    }
}

/// A plain TCP client, as a port scanner or a confused service would connect.
final class ScanningConnection {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`, retrying while nothing listens yet.
    init(port: UInt16, within timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc == 0 {
                self.fd = fd
                return
            }
            close(fd)
            guard ContinuousClock.now < deadline else { throw POSIXError(.ECONNREFUSED) }
            usleep(100_000)
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What arrives until the peer closes or `for` passes.
    func drain(for timeout: Duration) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 2048)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return (bytes, true) }
            bytes += chunk[0..<n]
        }
        return (bytes, false)
    }
}
