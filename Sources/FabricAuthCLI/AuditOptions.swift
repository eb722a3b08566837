import ArgumentParser
import FabricAuth
import FabricAuthMetrics
import Foundation
import Synchronization

/// `--audit-log` of the commands that set up channels (`ping`, `bench`): the
/// audit trail as JSON lines in a rotated file or on stderr
/// (docs/operations.md, section "Audit log").
struct AuditOptions: ParsableArguments {
    @Option(name: .customLong("audit-log"),
        help: "Write the audit trail (one JSON object per line: handshakes, closes, epoch changes, rejected frames, fabric alarms, reloads, quarantines) to this file, or to stderr with '-'. '%p' in the path is the process ID.")
    var auditLog: String?

    @Option(name: .customLong("audit-log-max-bytes"), help: "Rotate the --audit-log file before it grows past this many bytes.")
    var auditLogMaxBytes: Int = 64 << 20

    @Option(name: .customLong("audit-log-keep"), help: "Rotated --audit-log files to keep (PATH.1 is the newest).")
    var auditLogKeep: Int = 5

    func validate() throws {
        guard auditLogMaxBytes >= 4096 else { throw ValidationError("--audit-log-max-bytes must be at least 4096") }
        guard auditLogKeep >= 1 else { throw ValidationError("--audit-log-keep must be at least 1") }
        if let auditLog, auditLog.isEmpty || auditLog.hasSuffix("/") {
            throw ValidationError("--audit-log needs a file name (e.g. /var/log/fabricauth/audit.jsonl) or '-' for stderr")
        }
    }

    /// Opens the log (a path that cannot be opened fails the command at once);
    /// nil when none was asked for. Its counts go to the metrics registry; it
    /// records reloads and the process's quarantines.
    func open() throws -> AuditLog? {
        guard let auditLog else { return nil }
        let destination: AuditLog.Destination = auditLog == "-"
            ? .standardError : .file(path: auditLog, maxBytes: auditLogMaxBytes, keep: auditLogKeep)
        let log = try AuditLog(destination: destination)
        MetricsRegistry.shared.watch(log)
        log.recordReloads()
        ProcessIsolation.audit(log)
        return log
    }
}

/// The audit log `bench` opened for this process: its sessions make their
/// channel configurations deep inside the run.
enum ProcessAudit {
    static let log = Mutex<AuditLog?>(nil)
}
