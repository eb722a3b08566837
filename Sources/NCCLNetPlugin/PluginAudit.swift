import FabricAuth
import FabricAuthMetrics
import Synchronization

/// The plug-in's audit trail (FABRICAUTH_AUDIT_LOG): one log per process,
/// opened by the first `init` and kept by later ones (NCCL may load the
/// plug-in again), flushed at each communicator's finalize.
enum PluginAudit {
    private static let log = Mutex<AuditLog?>(nil)

    /// The process's log, opened now if it is the first; a file that cannot
    /// be opened fails `init`, so a job asked to keep an audit trail never runs without one.
    static func open(path: String, maxBytes: Int, keep: Int) throws(PluginSettingsError) -> AuditLog {
        let opened = log.withLock { current -> Result<AuditLog, PluginSettingsError> in
            if let current { return .success(current) }
            do {
                let destination: AuditLog.Destination = path == "-" ? .standardError : .file(path: path, maxBytes: maxBytes, keep: keep)
                let made = try AuditLog(destination: destination)
                current = made
                MetricsRegistry.shared.watch(made)
                made.recordReloads()
                PluginIsolation.audit(made)
                PluginLog.info("audit trail written to \(made.target)")
                return .success(made)
            } catch {
                return .failure(PluginSettingsError("FABRICAUTH_AUDIT_LOG=\(path): \(error)"))
            }
        }
        return try opened.get()
    }

    /// Waits (up to 2 s) until the events queued so far are written.
    static func flush() {
        log.withLock { $0 }?.flush(timeout: .seconds(2))
    }
}
