@testable import FabricAuth
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

@testable import FabricAuthMetrics

/// The two ways the exposition leaves the process: HTTP on loopback, fetched
/// by URLSession, and the textfile, read while it is being rewritten.
@Suite struct MetricsExportTests {
    /// A registry with one open channel whose counters are `n` messages of 10 bytes each way.
    static func registry(messages n: UInt64) -> (MetricsRegistry, ChannelTelemetry) {
        let registry = MetricsRegistry()
        let telemetry = ChannelTelemetry(suite: .aes256GMAC, macEngine: .libsodium, resumed: false)
        registry.channelOpened(telemetry)
        publish(telemetry, messages: n)
        return (registry, telemetry)
    }

    static func publish(_ telemetry: ChannelTelemetry, messages n: UInt64) {
        var m = DataPathMetrics()
        m.messagesSealed = n
        m.bytesSealed = 10 * n
        m.messagesOpened = n
        m.bytesOpened = 10 * n
        telemetry.publish(sender: m, receiver: m)
    }

    static func fetch(_ url: String, method: String = "GET") async throws -> (Int, String?, String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, http.value(forHTTPHeaderField: "Content-Type"), String(decoding: data, as: UTF8.self))
    }

    @Test func httpEndpointServesMetricsOnly() async throws {
        let (registry, telemetry) = Self.registry(messages: 7)
        let server = try MetricsHTTPServer(registry: registry, address: "127.0.0.1:0")
        defer { server.stop() }
        #expect(server.port != 0)
        let base = "http://127.0.0.1:\(server.port)"

        let (status, type, body) = try await Self.fetch("\(base)/metrics")
        #expect(status == 200)
        #expect(type == "text/plain; version=0.0.4; charset=utf-8")
        try checkWithPromtool(body)
        #expect(Exposition(body)["fabricauth_sealed_messages_total"] == 7)
        #expect(Exposition(body)["fabricauth_opened_payload_bytes_total"] == 70)

        // The next scrape sees the channel's newer counters.
        Self.publish(telemetry, messages: 9)
        let (_, _, again) = try await Self.fetch("\(base)/metrics")
        #expect(Exposition(again)["fabricauth_sealed_messages_total"] == 9)

        #expect(try await Self.fetch("\(base)/").0 == 404)
        #expect(try await Self.fetch("\(base)/metrics/x").0 == 404)
        #expect(try await Self.fetch("\(base)/metrics", method: "POST").0 == 405)
    }

    @Test func listenAddressIsChecked() {
        #expect(throws: MetricsError.self) { _ = try MetricsHTTPServer(registry: MetricsRegistry(), address: "9464") }
        #expect(throws: MetricsError.self) { _ = try MetricsHTTPServer(registry: MetricsRegistry(), address: "localhost:9464") }
        #expect(throws: MetricsError.self) { _ = try MetricsHTTPServer(registry: MetricsRegistry(), address: ":9464") }
    }

    /// While the writer rewrites the file every few milliseconds with changing
    /// counters, every read sees a whole exposition (the last family's lines
    /// included), never a partial one; no temporary file is left behind.
    @Test func textfileIsReplacedAtomically() throws {
        let (registry, telemetry) = Self.registry(messages: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fabricauth-metrics-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("fabricauth.prom").path
        let writer = MetricsFileWriter(registry: registry, path: path, interval: .milliseconds(2))
        let whole = registry.exposition()
        let families = whole.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.count
        writer.start()

        var reads = 0
        var seen: Set<Double> = []
        let deadline = ContinuousClock.now + .seconds(2)
        var n: UInt64 = 1
        while ContinuousClock.now < deadline {
            n += 1
            Self.publish(telemetry, messages: n)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            reads += 1
            #expect(text.hasSuffix("\n"))
            // At least the families of the start: process-wide ones (reload sources made by
            // suites running beside this one) may join, none leaves; a torn file has fewer.
            #expect(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.count >= families)
            let value = try #require(Exposition(text)["fabricauth_sealed_messages_total"])
            seen.insert(value)
        }
        try writer.stop()
        #expect(reads > 50)
        #expect(seen.count > 5, "the file was rewritten with new counters while being read")
        let final = try String(contentsOfFile: path, encoding: .utf8)
        try checkWithPromtool(final)
        #expect(Exposition(final)["fabricauth_sealed_messages_total"] == Double(n))
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(left == ["fabricauth.prom"], "only the target remains: \(left)")
    }

    @Test func unwritableTextfileFailsClearly() {
        let writer = MetricsFileWriter(registry: MetricsRegistry(), path: "/nonexistent-dir/fabricauth.prom")
        #expect(throws: MetricsError.self) { try writer.write() }
    }
}
