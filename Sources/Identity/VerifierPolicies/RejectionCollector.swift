import Foundation

/// Carries the first typed ``Rejection`` out of a verifier policy.
///
/// swift-certificates reports policy failures as strings; FabricAuth's policies also record
/// the typed reason here so callers get a `Rejection` to switch on. One collector per
/// verification; the lock makes it safe even if the verifier ran policies concurrently.
final class RejectionCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: Rejection?

    /// Records `rejection` if none is recorded yet; returns it for the policy result.
    func record(_ rejection: Rejection) -> Rejection {
        lock.lock()
        defer { lock.unlock() }
        if recorded == nil { recorded = rejection }
        return rejection
    }

    var first: Rejection? {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }
}
