// `fabricauth ping` end to end on the device: certificates made with the CLI
// itself (ca init, cert issue), a responder and an initiator as two processes.
import Foundation
import XCTest

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

    func testPingBetweenTwoProcesses() throws {
        _ = try DeviceTestSupport.openContext()  // fail clearly without a device
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build fabricauth first: \(Self.binary.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fabricauth-ping-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        XCTAssertEqual(try Self.run(["ca", "init", "--trust-domain", "ping.test"], in: dir).status, 0)
        XCTAssertEqual(try Self.run(["cert", "issue", "--id", "spiffe://ping.test/a", "--out", "a.pem", "--key-out", "a.key"], in: dir).status, 0)
        XCTAssertEqual(try Self.run(["cert", "issue", "--id", "spiffe://ping.test/b", "--out", "b.pem", "--key-out", "b.key"], in: dir).status, 0)

        let port = String(20000 + Int(getpid() % 20000))
        let responder = Process()
        responder.executableURL = Self.binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/b",
            "-p", port, "-n", "20", "--wait", "60"]
        let responderOutput = Pipe()
        responder.standardOutput = responderOutput
        responder.standardError = responderOutput
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }

        // The responder needs a moment to listen; the initiator retries its connect.
        var client: (status: Int32, output: String) = (1, "")
        for _ in 0..<20 {
            client = try Self.run(["ping", "127.0.0.1", "--cert", "b.pem", "--key", "b.key", "--bundle", "ca.pem",
                "--allow", "id spiffe://ping.test/a", "-p", port, "-n", "20", "-s", "256"], in: dir)
            if client.status == 0 || !client.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        responder.waitUntilExit()
        let server = String(decoding: responderOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(client.status, 0, client.output)
        XCTAssertEqual(responder.terminationStatus, 0, server)
        XCTAssertTrue(client.output.contains("peer spiffe://ping.test/a verified"), client.output)
        XCTAssertTrue(client.output.contains("20 round trips of 256 bytes"), client.output)
        XCTAssertTrue(server.contains("peer spiffe://ping.test/b verified"), server)
        XCTAssertTrue(client.output.contains("rejected 0"), client.output)
    }

    func testPingRefusesAPeerThePolicyDoesNotAllow() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fabricauth-deny-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try Self.run(["ca", "init", "--trust-domain", "ping.test"], in: dir).status, 0)
        XCTAssertEqual(try Self.run(["cert", "issue", "--id", "spiffe://ping.test/a", "--out", "a.pem", "--key-out", "a.key"], in: dir).status, 0)
        XCTAssertEqual(try Self.run(["cert", "issue", "--id", "spiffe://ping.test/c", "--out", "c.pem", "--key-out", "c.key"], in: dir).status, 0)
        let port = String(20001 + Int(getpid() % 20000))
        let responder = Process()
        responder.executableURL = Self.binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/b",
            "-p", port, "-n", "5", "--wait", "60"]
        let out = Pipe()
        responder.standardOutput = out
        responder.standardError = out
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }
        var client: (status: Int32, output: String) = (1, "")
        for _ in 0..<20 {
            client = try Self.run(["ping", "127.0.0.1", "--cert", "c.pem", "--key", "c.key", "--bundle", "ca.pem",
                "--allow", "domain ping.test", "-p", port, "-n", "5"], in: dir)
            if !client.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        responder.waitUntilExit()
        let server = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(client.status, 0, client.output)
        XCTAssertNotEqual(responder.terminationStatus, 0, server)
        XCTAssertTrue(server.contains("policyDenied"), server)
        XCTAssertTrue(client.output.contains("policyDenied"), client.output)
    }
}
