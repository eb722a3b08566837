// Prometheus metrics end to end on the device: a `fabricauth bench` server
// with --metrics-listen and --metrics-file, a client run against it, the
// endpoint and the textfile checked by promtool, and a real Prometheus server
// (Debian's prometheus package) scraping the server until its query API
// returns what the run did.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

final class CLIMetricsTests: XCTestCase {
    static let iterations = 200
    static let size = 4096

    static func tool(_ name: String) -> String? {
        (["/usr/bin", "/usr/local/bin"] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init))
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func freePort() -> Int { 40000 + Int(getpid() % 5000) + Int.random(in: 0..<10000) }

    /// GET `url`; nil when nothing answers.
    static func get(_ url: String) -> (status: Int, body: String)? {
        final class Answer: @unchecked Sendable { var value: (Int, String)? }  // written before `done` is signalled
        let done = DispatchSemaphore(value: 0)
        let answer = Answer()
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 5
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                answer.value = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self))
            }
            done.signal()
        }.resume()
        done.wait()
        return answer.value
    }

    /// `promtool check metrics` on `text`: its exit status and what it said.
    static func promtool(_ text: String) throws -> (Int32, String) {
        guard let promtool = tool("promtool") else { return (-1, "promtool not found: install Debian's prometheus package") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, said)
    }

    /// The value of an unlabelled sample `name` in an exposition.
    static func sample(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    /// The one value Prometheus' instant query `query` returns, or nil.
    static func query(_ port: Int, _ query: String) -> Double? {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        guard let (status, body) = get("http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)"), status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
              let first = result.first, let value = first["value"] as? [Any], value.count == 2,
              let text = value[1] as? String
        else { return nil }
        return Double(text)
    }

    func testPrometheusScrapesABenchServer() throws {
        _ = try DeviceTestSupport.openContext()
        guard let prometheus = Self.tool("prometheus"), Self.tool("promtool") != nil else {
            return XCTFail("prometheus and promtool not found: install Debian's prometheus package (Hardware/install)")
        }
        let dir = try CLIBenchTests.identityDirectory()
        let benchPort = CLIBenchTests.freePort()
        let metricsPort = Self.freePort()
        let prometheusPort = metricsPort + 1
        let textfile = dir.appendingPathComponent("fabricauth.prom").path

        // The server runs until terminated (no --once), as a responder in service.
        let (server, serverPipe) = try CLIBenchTests.start(["bench", "send_bw", "-p", benchPort, "--auth", "on",
            "--metrics-listen", "127.0.0.1:\(metricsPort)", "--metrics-file", textfile, "--metrics-interval", "1"]
            + CLIBenchTests.identity("a"), in: dir)
        defer { if server.isRunning { server.terminate() } }

        let data = dir.appendingPathComponent("prometheus-data-\(getpid())")
        let config = dir.appendingPathComponent("prometheus-\(getpid()).yml")
        try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: fabricauth
                static_configs:
                  - targets: ['127.0.0.1:\(metricsPort)']
            """.write(to: config, atomically: true, encoding: .utf8)
        let scraper = Process()
        scraper.executableURL = URL(fileURLWithPath: prometheus)
        scraper.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(data.path)",
            "--web.listen-address=127.0.0.1:\(prometheusPort)"]
        let scraperLog = dir.appendingPathComponent("prometheus-\(getpid()).log")
        XCTAssertTrue(FileManager.default.createFile(atPath: scraperLog.path, contents: nil))
        let log = try FileHandle(forWritingTo: scraperLog)
        scraper.standardOutput = log
        scraper.standardError = log
        try scraper.run()
        defer {
            if scraper.isRunning { scraper.terminate(); scraper.waitUntilExit() }
            try? FileManager.default.removeItem(at: data)
        }

        // The endpoint answers before any client came (the responder is waiting).
        var first: (status: Int, body: String)?
        for _ in 0..<60 where first == nil {
            first = Self.get("http://127.0.0.1:\(metricsPort)/metrics")
            if first == nil { Thread.sleep(forTimeInterval: 0.5) }
        }
        XCTAssertEqual(first?.status, 200)
        XCTAssertEqual(Self.get("http://127.0.0.1:\(metricsPort)/other")?.status, 404)

        // One authenticated send_bw run against it.
        var client = CLIBenchTests.Outcome(status: 1, output: "")
        for _ in 0..<20 {
            let (process, pipe) = try CLIBenchTests.start(["bench", "send_bw", "127.0.0.1", "-p", benchPort, "--auth", "on",
                "-n", String(Self.iterations), "-s", String(Self.size)] + CLIBenchTests.identity("b"), in: dir)
            client = CLIBenchTests.finish(process, pipe)
            if !client.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTAssertEqual(client.status, 0, client.output)
        let minimumBytes = Double(Self.iterations * Self.size)

        // The endpoint once the server has closed the run's channel (it may
        // still be finishing the session when the client exits), checked by promtool.
        var scraped = try XCTUnwrap(Self.get("http://127.0.0.1:\(metricsPort)/metrics"))
        let settled = Date().addingTimeInterval(30)
        while Self.sample("fabricauth_channels_closed_total", in: scraped.body) != 1, Date() < settled {
            Thread.sleep(forTimeInterval: 0.5)
            scraped = try XCTUnwrap(Self.get("http://127.0.0.1:\(metricsPort)/metrics"))
        }
        let (status, said) = try Self.promtool(scraped.body)
        XCTAssertEqual(status, 0, "promtool: \(said)\n\(scraped.body)")
        XCTAssertEqual(said, "")
        XCTAssertGreaterThanOrEqual(Self.sample("fabricauth_opened_payload_bytes_total", in: scraped.body) ?? 0, minimumBytes,
            scraped.body)
        XCTAssertTrue(scraped.body.contains("fabricauth_handshakes_accepted_total{mode=\"full\"} 1"), scraped.body)
        XCTAssertTrue(scraped.body.contains("fabricauth_frames_rejected_total{reason=\"bad_tag\"} 0"), scraped.body)
        XCTAssertEqual(Self.sample("fabricauth_channels_closed_total", in: scraped.body), 1, scraped.body)

        // Prometheus' own view, once it has scraped after the run (bounded: the VM is slow).
        let deadline = Date().addingTimeInterval(90)
        var bytes: Double?
        var handshakes: Double?
        var up: Double?
        while Date() < deadline {
            up = Self.query(prometheusPort, "up{job=\"fabricauth\"}")
            bytes = Self.query(prometheusPort, "fabricauth_opened_payload_bytes_total")
            handshakes = Self.query(prometheusPort, "fabricauth_handshakes_accepted_total{mode=\"full\"}")
            if up == 1, (bytes ?? 0) >= minimumBytes, handshakes == 1 { break }
            Thread.sleep(forTimeInterval: 1)
        }
        let scraperSaid = (try? String(contentsOf: scraperLog, encoding: .utf8)) ?? ""
        XCTAssertEqual(up, 1, "Prometheus did not scrape the server: \(scraperSaid.suffix(3000))")
        XCTAssertGreaterThanOrEqual(bytes ?? 0, minimumBytes, "fabricauth_opened_payload_bytes_total in Prometheus")
        XCTAssertEqual(handshakes, 1, "fabricauth_handshakes_accepted_total{mode=\"full\"} in Prometheus")
        XCTAssertEqual(Self.query(prometheusPort, "sum(fabricauth_frames_rejected_total)"), 0)

        // The textfile, rewritten every second, says the same.
        Thread.sleep(forTimeInterval: 2.5)
        let text = try String(contentsOfFile: textfile, encoding: .utf8)
        let (fileStatus, fileSaid) = try Self.promtool(text)
        XCTAssertEqual(fileStatus, 0, "promtool on the textfile: \(fileSaid)")
        XCTAssertGreaterThanOrEqual(Self.sample("fabricauth_opened_payload_bytes_total", in: text) ?? 0, minimumBytes, text)

        server.terminate()
        _ = CLIBenchTests.finish(server, serverPipe)
    }
}
