import ArgumentParser
import FabricAuth
import FabricAuthMetrics
import Foundation

/// `--metrics-listen` and `--metrics-file` of the long-running commands
/// (`ping` and `bench` responders): the process-wide registry's exposition
/// over HTTP or in a textfile (docs/operations.md, section Metrics).
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"),
        help: "Serve Prometheus metrics at http://ADDRESS/metrics, e.g. 127.0.0.1:9464 (no authentication: keep it on loopback or a management network).")
    var metricsListen: String?

    @Option(name: .customLong("metrics-file"),
        help: "Write Prometheus metrics to this file (atomically, for node_exporter's textfile collector) every --metrics-interval seconds and at exit.")
    var metricsFile: String?

    @Option(name: .customLong("metrics-interval"), help: "Seconds between --metrics-file writes.")
    var metricsInterval: Int = 5

    func validate() throws {
        guard metricsInterval >= 1 else { throw ValidationError("--metrics-interval must be at least 1 second") }
        if let metricsFile, metricsFile.hasSuffix("/") || metricsFile.isEmpty {
            throw ValidationError("--metrics-file needs a file name, e.g. /var/lib/node_exporter/fabricauth.prom")
        }
    }

    /// Whether any export was asked for.
    var enabled: Bool { metricsListen != nil || metricsFile != nil }

    /// Starts the asked-for exports of `MetricsRegistry.shared`; nil when none was asked for.
    func start() throws -> MetricsExport? {
        guard enabled else { return nil }
        let registry = MetricsRegistry.shared
        let server = try metricsListen.map { try MetricsHTTPServer(registry: registry, address: $0) }
        let writer = metricsFile.map { MetricsFileWriter(registry: registry, path: $0, interval: .seconds(metricsInterval)) }
        if let writer {
            // The first write here, so a path that cannot be written fails the command at once.
            try writer.write()
            writer.start()
        }
        if let server {
            FileHandle.standardError.write(Data("fabricauth: metrics at http://\(Self.display(server.host)):\(server.port)/metrics\n".utf8))
        }
        return MetricsExport(server: server, writer: writer)
    }

    private static func display(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}

/// The running exports; `finish` writes the file a last time and stops both.
final class MetricsExport {
    let server: MetricsHTTPServer?
    let writer: MetricsFileWriter?

    init(server: MetricsHTTPServer?, writer: MetricsFileWriter?) {
        self.server = server
        self.writer = writer
    }

    /// Makes channels set up with `configuration` count in the exported registry.
    func instrument(_ configuration: inout ChannelConfiguration) {
        MetricsRegistry.shared.instrument(&configuration)
    }

    func finish() {
        server?.stop()
        do { try writer?.stop() } catch {
            FileHandle.standardError.write(Data("fabricauth: --metrics-file: \(error)\n".utf8))
        }
    }
}
