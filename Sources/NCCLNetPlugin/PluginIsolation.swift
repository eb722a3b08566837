import FabricAuth
import FabricAuthMetrics
import Identity
import Synchronization

/// The plug-in's quarantine (docs/operations.md, Isolation): one per
/// process, kept across a later `init` as the metrics writer is, so a peer
/// quarantined on one communicator is refused on every other. With
/// FABRICAUTH_QUARANTINE_FILE the shared list is watched as well.
enum PluginIsolation {
    private struct Running: @unchecked Sendable {
        var quarantine: PeerQuarantine
        var watch: QuarantineWatch?
    }

    private static let running = Mutex<Running?>(nil)

    static func quarantine(file: String?) throws(PluginSettingsError) -> PeerQuarantine {
        if let existing = running.withLock({ $0?.quarantine }) { return existing }
        let quarantine = PeerQuarantine(log: { PluginLog.warn($0) })
        let watch: QuarantineWatch?
        do {
            watch = try file.map { path throws(IdentityError) in
                QuarantineWatch(store: try QuarantineStore(path: path), quarantine: quarantine, log: { PluginLog.warn($0) })
            }
        } catch {
            throw PluginSettingsError("FABRICAUTH_QUARANTINE_FILE=\(file ?? ""): \(error)")
        }
        MetricsRegistry.shared.watch(quarantine)
        return running.withLock { r in
            if let r { return r.quarantine }
            r = Running(quarantine: quarantine, watch: watch)
            return quarantine
        }
    }
}
