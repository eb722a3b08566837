import FabricAuth
import FabricAuthMetrics
import Identity
import Synchronization

/// The plug-in's quarantine (docs/operations.md, Isolation): one per
/// process, kept across a later `init` as the metrics writer is, so a peer
/// quarantined on one communicator is refused on every other. With
/// FABRICAUTH_QUARANTINE_FILE the shared list is watched as well. The audit
/// log (FABRICAUTH_AUDIT_LOG) records its quarantines.
enum PluginIsolation {
    private struct State: @unchecked Sendable {
        var quarantine: PeerQuarantine?
        var watch: QuarantineWatch?
        /// Logs that record the quarantine's changes, subscribed once each.
        var audits: [AuditLog] = []
    }

    private static let state = Mutex(State())

    static func quarantine(file: String?) throws(PluginSettingsError) -> PeerQuarantine {
        try state.withLock { s throws(PluginSettingsError) -> PeerQuarantine in
            if let existing = s.quarantine { return existing }
            let quarantine = PeerQuarantine(log: { PluginLog.warn($0) })
            // Before the list is first applied, so its entries are recorded as they start.
            for audit in s.audits { audit.recordQuarantines(of: quarantine) }
            do {
                s.watch = try file.map { path throws(IdentityError) in
                    QuarantineWatch(store: try QuarantineStore(path: path), quarantine: quarantine, log: { PluginLog.warn($0) })
                }
            } catch {
                throw PluginSettingsError("FABRICAUTH_QUARANTINE_FILE=\(file ?? ""): \(error)")
            }
            s.quarantine = quarantine
            MetricsRegistry.shared.watch(quarantine)
            return quarantine
        }
    }

    /// Makes `log` record the process's quarantines: the one made already
    /// (`init` makes it before opening the log; those in force are recorded
    /// as started), or the one a later `init` makes.
    static func audit(_ log: AuditLog) {
        state.withLock { s in
            guard !s.audits.contains(where: { $0 === log }) else { return }
            s.audits.append(log)
            if let quarantine = s.quarantine { log.recordQuarantines(of: quarantine) }
        }
    }
}
