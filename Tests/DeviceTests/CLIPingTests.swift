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
            "-p", port, "-n", "20", "--wait", "60"]
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
}
