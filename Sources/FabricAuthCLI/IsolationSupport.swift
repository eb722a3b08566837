import FabricAuth
import FabricAuthMetrics
import Foundation
import Identity
import Synchronization

/// The CLI process's one quarantine (docs/operations.md, Isolation), made
/// on first use and shared by every channel the process sets up (a bench
/// server makes a configuration per client), with its list-file watch.
enum ProcessIsolation {
    private struct Running: @unchecked Sendable {
        var quarantine: PeerQuarantine
        var watch: QuarantineWatch?
    }

    private static let running = Mutex<Running?>(nil)

    /// The process's quarantine; the first call decides its duration and file.
    static func quarantine(file: String?, duration: TimeInterval, log: @escaping @Sendable (String) -> Void)
        throws(IdentityError) -> PeerQuarantine {
        if let existing = running.withLock({ $0?.quarantine }) { return existing }
        var configuration = PeerQuarantine.Configuration()
        configuration.duration = .milliseconds(Int64(duration * 1000))
        let quarantine = PeerQuarantine(configuration: configuration, log: log)
        let watch = try file.map { path throws(IdentityError) in
            QuarantineWatch(store: try QuarantineStore(path: path), quarantine: quarantine, log: log)
        }
        MetricsRegistry.shared.watch(quarantine)
        return running.withLock { r in
            if let r { return r.quarantine }
            r = Running(quarantine: quarantine, watch: watch)
            return quarantine
        }
    }
}
