import FabricAuthMetrics
import Synchronization

/// The plug-in's metrics textfile (FABRICAUTH_METRICS_FILE): NCCL's process
/// must not open a port, so the exposition of `MetricsRegistry.shared` is
/// written to a file node_exporter's textfile collector reads, every
/// FABRICAUTH_METRICS_INTERVAL seconds and at each communicator's finalize.
/// One writer per process: a later `init` (NCCL may load the plug-in again)
/// keeps the first.
enum PluginMetrics {
    private static let writer = Mutex<MetricsFileWriter?>(nil)

    static func start(path: String, interval: Duration) {
        writer.withLock { w in
            guard w == nil else { return }
            let started = MetricsFileWriter(registry: .shared, path: path, interval: interval)
            started.start()
            w = started
            PluginLog.info("metrics written to \(path) every \(interval.components.seconds) s")
        }
    }

    /// Writes the file now (at finalize); a failure is logged, never fatal to the job.
    static func writeNow() {
        guard let w = writer.withLock({ $0 }) else { return }
        do throws(MetricsError) { try w.write() } catch { PluginLog.warn("FABRICAUTH_METRICS_FILE: \(error)") }
    }
}
