// `fabricauth bench` end to end on the device: server and client as two
// processes of the built binary (as perftest runs), every test against
// itself, perftest's rows parsed, JSON, Ctrl-C and a vanished peer, and the
// refusals of bad command lines. The refusals need no device but live here
// because the CLI has no host test target; they run in the test bed anyway.
import Foundation
import XCTest

final class CLIBenchTests: XCTestCase {
    struct Outcome { var status: Int32; var output: String }

    // XCTest runs one test at a time; the directory is made once for the class.
    nonisolated(unsafe) static var identities: URL?

    /// One CA and two identities for the whole class, made by the CLI.
    static func identityDirectory() throws -> URL {
        if let dir = identities { return dir }
        let dir = try CLIPingTests.makeIdentities(["a", "b"], in: "bench")
        identities = dir
        return dir
    }

    override class func tearDown() {
        // Other classes (CLIMetricsTests) borrow this directory: forget it so the
        // next one makes a fresh one instead of running in a deleted directory.
        if let dir = identities { try? FileManager.default.removeItem(at: dir) }
        identities = nil
        super.tearDown()
    }

    static func identity(_ name: String) -> [String] {
        ["--cert", "\(name).pem", "--key", "\(name).key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/\(name == "a" ? "b" : "a")"]
    }

    static func freePort() -> String { String(30000 + Int(getpid() % 10000) + Int.random(in: 0..<20000)) }

    static func start(_ arguments: [String], in dir: URL) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = CLIPingTests.binary
        process.arguments = arguments
        process.currentDirectoryURL = dir
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, pipe)
    }

    /// What a running process has written to its pipe so far.
    final class Collected: @unchecked Sendable {  // every access holds the lock
        private let lock = NSLock()
        private var data = Data()
        func append(_ more: Data) { lock.withLock { data.append(more) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    /// Collects what `process` says until its first progress line ("…, N
    /// messages"), it exits, or two minutes pass; the caller then acts on a run
    /// that is under way and hands the collection to `finish(_:_:after:)`.
    static func waitForProgress(_ process: Process, _ pipe: Pipe) -> Collected {
        let said = Collected()
        pipe.fileHandleForReading.readabilityHandler = { said.append($0.availableData) }
        let limit = Date().addingTimeInterval(120)
        while !said.text.contains(" messages\n"), process.isRunning, Date() < limit { Thread.sleep(forTimeInterval: 0.2) }
        XCTAssertTrue(said.text.contains(" messages\n"), "no progress line from the bench: \(said.text)")
        return said
    }

    /// `finish` for a process whose first words `waitForProgress` collected.
    static func finish(_ process: Process, _ pipe: Pipe, after said: Collected) -> Outcome {
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = finish(process, pipe)
        said.append(Data(rest.output.utf8))
        return Outcome(status: rest.status, output: said.text)
    }

    /// Waits for `process` and reads what it said. A process still running
    /// after `limit` seconds is killed, so a hung bench fails its test (status
    /// 9, "killed" in the output) instead of stalling the whole device run.
    static func finish(_ process: Process, _ pipe: Pipe, limit: TimeInterval = 300) -> Outcome {
        final class Fired: @unchecked Sendable { var value = false }  // set before the kill it reports
        let pid = process.processIdentifier
        let fired = Fired()
        let watchdog = DispatchWorkItem {
            if kill(pid, 0) == 0 { fired.value = true; kill(pid, SIGKILL) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        var output = String(decoding: data, as: UTF8.self)
        if fired.value {
            output += "\n(killed: still running after \(Int(limit)) s)"
        }
        return Outcome(status: process.terminationStatus, output: output)
    }

    /// Runs `bench TEST` as server and `bench TEST 127.0.0.1` as client.
    func pair(_ test: String, _ common: [String], client extra: [String] = [], host: String = "127.0.0.1",
              auth: Bool = true) throws -> (server: Outcome, client: Outcome) {
        let dir = try Self.identityDirectory()
        let port = Self.freePort()
        let (server, serverPipe) = try Self.start(["bench", test, "-p", port, "--once"] + (auth ? Self.identity("a") : []) + common, in: dir)
        defer { if server.isRunning { server.terminate() } }
        let (client, clientPipe) = try Self.start(["bench", test, host, "-p", port] + (auth ? Self.identity("b") : []) + common + extra, in: dir)
        let c = Self.finish(client, clientPipe)
        if c.status != 0 && server.isRunning { server.terminate() }
        return (Self.finish(server, serverPipe), c)
    }

    /// perftest's result rows: lines whose first field is a number.
    static func rows(_ output: String) -> [[String]] {
        output.split(separator: "\n").map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
            .filter { ($0.first.flatMap { Int($0) }) != nil }
    }

    /// Checks the rows of one size: perftest's numeric columns all positive
    /// (stdev may be 0), the mode column, and auth/plain on the auth row.
    func checkRows(_ output: String, latency: Bool, modes: [String], file: StaticString = #filePath, line: UInt = #line) {
        let rows = Self.rows(output)
        XCTAssertEqual(rows.count, modes.count, output, file: file, line: line)
        let numeric = latency ? 9 : 5
        for (row, mode) in zip(rows, modes) {
            XCTAssertGreaterThanOrEqual(row.count, numeric + 1, "\(row)", file: file, line: line)
            let values = row.prefix(numeric).compactMap(Double.init)
            XCTAssertEqual(values.count, numeric, "\(row)", file: file, line: line)
            for (i, v) in values.enumerated() where !(latency && i == 6) {
                XCTAssertGreaterThan(v, 0, "column \(i) of \(row)", file: file, line: line)
            }
            XCTAssertEqual(row[numeric], mode, "\(row)", file: file, line: line)
            if mode == "auth" && modes.contains("plain") {
                XCTAssertGreaterThan(Double(row[numeric + 1]) ?? 0, 0, "auth/plain in \(row)", file: file, line: line)
            }
        }
    }

    /// Every test against itself with --auth both: plain verbs and the
    /// authenticated path (SEND/RECV, or WRITE/READ through memory windows)
    /// side by side, each with its row and the auth/plain ratio.
    func testEveryTestAgainstItself() throws {
        _ = try DeviceTestSupport.openContext()
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLIPingTests.binary.path), "build fabricauth first")
        for test in ["send_lat", "send_bw", "write_lat", "write_bw", "read_lat", "read_bw"] {
            let latency = test.hasSuffix("_lat")
            let (server, client) = try pair(test, ["-n", "10", "-s", "4096"])
            XCTAssertEqual(client.status, 0, "\(test) client: \(client.output)")
            XCTAssertEqual(server.status, 0, "\(test) server: \(server.output)")
            checkRows(client.output, latency: latency, modes: ["plain", "auth"])
            checkRows(server.output, latency: latency, modes: ["plain", "auth"])
            XCTAssertTrue(server.output.contains("peer spiffe://ping.test/b verified"), server.output)
        }
    }

    func testJSONAndReportGbitsAndTwoQueuePairs() throws {
        _ = try DeviceTestSupport.openContext()
        let (server, client) = try pair("send_bw", ["-n", "8", "-s", "2048", "-q", "2", "--report_gbits"], client: ["--json"])
        XCTAssertEqual(client.status, 0, client.output)
        XCTAssertEqual(server.status, 0, server.output)
        XCTAssertTrue(server.output.contains("BW average[Gb/sec]"), server.output)
        // The JSON document is the last thing on stdout; stderr lines come before it.
        guard let start = client.output.firstIndex(of: "{") else { return XCTFail(client.output) }
        let object = try JSONSerialization.jsonObject(with: Data(client.output[start...].utf8)) as? [String: Any]
        XCTAssertEqual(object?["test"] as? String, "send_bw")
        XCTAssertEqual(object?["units"] as? String, "Gb/sec")
        XCTAssertEqual(object?["queue_pairs"] as? Int, 2)
        let results = object?["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.map { $0["mode"] as? String }, ["plain", "auth"])
        for r in results {
            XCTAssertGreaterThan(r["bw_average"] as? Double ?? 0, 0, "\(r)")
            XCTAssertEqual(r["iterations"] as? Int, 8)
        }
        let ratios = object?["ratios"] as? [[String: Any]] ?? []
        XCTAssertEqual(ratios.count, 1)
        XCTAssertGreaterThan(ratios.first?["auth_over_plain"] as? Double ?? 0, 0)
    }

    /// -a runs perftest's sizes; kept short with -a's first sizes via the plain
    /// path only (2 B to 8 MiB, 23 sizes, -n 5).
    func testAllSizesPlainWrite() throws {
        _ = try DeviceTestSupport.openContext()
        let (server, client) = try pair("write_bw", ["-a", "-n", "5", "--auth", "off"], auth: false)
        XCTAssertEqual(client.status, 0, client.output)
        XCTAssertEqual(server.status, 0, server.output)
        XCTAssertEqual(Self.rows(client.output).map { Int($0[0])! }, (1...23).map { 1 << $0 })
    }

    func testRDMACM() throws {
        _ = try DeviceTestSupport.openContext()
        guard let ip = DeviceTestSupport.ipv4 else { return XCTFail("FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)") }
        let (server, client) = try pair("send_lat", ["-n", "10", "-R"], host: ip)
        XCTAssertEqual(client.status, 0, client.output)
        XCTAssertEqual(server.status, 0, server.output)
        checkRows(client.output, latency: true, modes: ["plain", "auth"])
        XCTAssertTrue(client.output.contains("rdma_cm"), client.output)
    }

    /// Ctrl-C on the client: it exits 130 and the server ends at once with the reason.
    func testInterruptStopsBothSides() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try Self.identityDirectory()
        let port = Self.freePort()
        let (server, serverPipe) = try Self.start(["bench", "write_bw", "-p", port, "--auth", "off", "--once"], in: dir)
        defer { if server.isRunning { server.terminate() } }
        let (client, clientPipe) = try Self.start(["bench", "write_bw", "127.0.0.1", "-p", port, "--auth", "off", "-D", "30", "-s", "4096"], in: dir)
        // Ctrl-C once the run is under way, not during set-up: a client interrupted
        // before it connected leaves a --once server waiting for a client.
        let said = Self.waitForProgress(client, clientPipe)
        kill(client.processIdentifier, SIGINT)
        let started = Date()
        let c = Self.finish(client, clientPipe, after: said)
        let s = Self.finish(server, serverPipe)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(c.status, 130, c.output)
        XCTAssertTrue(c.output.contains("interrupted"), c.output)
        XCTAssertNotEqual(s.status, 0, s.output)
        XCTAssertTrue(s.output.contains("interrupted (Ctrl-C) on the peer"), s.output)
    }

    /// A server killed mid-run: the client ends with a clear error within seconds.
    func testVanishedPeerEndsTheOtherSide() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try Self.identityDirectory()
        let port = Self.freePort()
        let (server, serverPipe) = try Self.start(["bench", "send_bw", "-p", port, "--auth", "off", "--once"], in: dir)
        let (client, clientPipe) = try Self.start(["bench", "send_bw", "127.0.0.1", "-p", port, "--auth", "off", "-D", "30", "-s", "4096"], in: dir)
        // Killed once the run is under way: a server killed before it listened
        // (a fixed sleep on a loaded test bed) leaves a client retrying its connect.
        let said = Self.waitForProgress(client, clientPipe)
        kill(server.processIdentifier, SIGKILL)
        let started = Date()
        let c = Self.finish(client, clientPipe, after: said)
        _ = Self.finish(server, serverPipe)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, c.output)
        XCTAssertEqual(c.status, 1, c.output)
        XCTAssertTrue(c.output.contains("peer") || c.output.contains("retry exceeded"), c.output)
    }

    /// Bad command lines are refused before anything starts, with the reason
    /// (ArgumentParser's validation exit status, 64).
    func testBadArgumentsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory
        let cases: [([String], String)] = [
            (["bench", "write_latency"], "unknown test 'write_latency'"),
            (["bench", "write_bw", "-s", "0", "--auth", "off"], "-s must be between 1 and 8388608"),
            (["bench", "write_bw", "-s", "8388609", "--auth", "off"], "-s must be between 1 and 8388608"),
            (["bench", "write_bw", "-a", "-s", "64", "--auth", "off"], "give -a or -s, not both"),
            (["bench", "send_bw", "--auth", "maybe"], "--auth must be on, off or both"),
            (["bench", "send_bw", "-n", "2", "--auth", "off"], "-n must be between 5"),
            (["bench", "send_bw", "-n", "10", "-D", "2", "--auth", "off"], "not both"),
            (["bench", "send_lat", "-q", "2", "--auth", "off"], "uses one QP"),
            (["bench", "send_bw", "-m", "1500", "--auth", "off"], "-m must be one of"),
            (["bench", "send_bw", "-t", "0", "--auth", "off"], "-t must be between"),
            (["bench", "send_bw"], "needs this endpoint's identity"),
        ]
        for (arguments, message) in cases {
            let result = try CLIPingTests.run(arguments, in: dir)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.output)")
            XCTAssertTrue(result.output.contains(message), "\(arguments): expected \"\(message)\" in \(result.output)")
        }
        // Authenticated READs are offered one by one: a timed run has no count.
        let timedRead = try CLIPingTests.run(["bench", "read_bw", "-D", "2"] + Self.identity("a"), in: try Self.identityDirectory())
        XCTAssertEqual(timedRead.status, 64, timedRead.output)
        XCTAssertTrue(timedRead.output.contains("use -n, not -D"), timedRead.output)
    }

    /// A server with --once is not used up by connections that never become
    /// a bench client (garbage, an idle one past the 5 s HELLO wait): it
    /// logs each, serves the real client after them, and then exits 0.
    func testServerWithOnceOutlastsNonClients() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try Self.identityDirectory()
        let port = Self.freePort()
        let (server, serverPipe) = try Self.start(["bench", "write_bw", "-p", port, "--auth", "off", "--once"], in: dir)
        defer { if server.isRunning { server.terminate() } }
        let garbage = try ScanningConnection(port: UInt16(port)!, within: .seconds(20))
        garbage.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        XCTAssertTrue(garbage.drain(for: .seconds(10)).closed)
        let idle = try ScanningConnection(port: UInt16(port)!, within: .seconds(5))
        XCTAssertTrue(idle.drain(for: .seconds(10)).closed, "dropped after the HELLO wait")
        let (client, clientPipe) = try Self.start(["bench", "write_bw", "127.0.0.1", "-p", port, "--auth", "off", "-n", "10", "-s", "4096"], in: dir)
        let c = Self.finish(client, clientPipe)
        let s = Self.finish(server, serverPipe)
        XCTAssertEqual(c.status, 0, c.output)
        XCTAssertEqual(s.status, 0, s.output)
        XCTAssertTrue(s.output.contains("expected HELLO from the peer"), s.output)
        XCTAssertTrue(s.output.contains("while waiting for HELLO"), s.output)
        XCTAssertEqual(Self.rows(c.output).count, 1, c.output)
    }
}
