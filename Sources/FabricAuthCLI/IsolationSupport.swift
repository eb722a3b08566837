import FabricAuth
import FabricAuthMetrics
import Foundation
import Identity
import Synchronization

/// The CLI process's one quarantine (docs/operations.md, Isolation), made
/// on first use and shared by every channel the process sets up (a bench
/// server makes a configuration per client), with its list-file watch, and
/// the audit logs that record its quarantines.
enum ProcessIsolation {
    private struct State: @unchecked Sendable {
        var quarantine: PeerQuarantine?
        var watch: QuarantineWatch?
        /// Logs that record the quarantine's changes (`--audit-log`), subscribed once each.
        var audits: [AuditLog] = []
    }

    private static let state = Mutex(State())

    /// The process's quarantine; the first call decides its duration and file.
    /// Logs given to ``audit(_:)`` before are subscribed before the list file
    /// is first applied, so its entries are recorded as they start.
    static func quarantine(file: String?, duration: TimeInterval, log: @escaping @Sendable (String) -> Void)
        throws(IdentityError) -> PeerQuarantine {
        try state.withLock { s throws(IdentityError) -> PeerQuarantine in
            if let existing = s.quarantine { return existing }
            var configuration = PeerQuarantine.Configuration()
            configuration.duration = .milliseconds(Int64(duration * 1000))
            let quarantine = PeerQuarantine(configuration: configuration, log: log)
            for audit in s.audits { audit.recordQuarantines(of: quarantine) }
            s.watch = try file.map { path throws(IdentityError) in
                QuarantineWatch(store: try QuarantineStore(path: path), quarantine: quarantine, log: log)
            }
            s.quarantine = quarantine
            MetricsRegistry.shared.watch(quarantine)
            return quarantine
        }
    }

    /// Makes `log` record the process's quarantines: the one in force now, or
    /// the one the first ``quarantine(file:duration:log:)`` makes.
    static func audit(_ log: AuditLog) {
        state.withLock { s in
            guard !s.audits.contains(where: { $0 === log }) else { return }
            s.audits.append(log)
            if let quarantine = s.quarantine { log.recordQuarantines(of: quarantine) }
        }
    }
}
