import Dispatch
import Foundation
import Identity

/// Keeps a ``PeerQuarantine`` in step with the shared quarantine list file:
/// applies the list at once, then checks the file's stamp every `interval`
/// and applies each new version (a bad version is logged and the previous
/// one stays in force, as for the revocation list). An entry written while
/// a channel of that peer is up closes the channel within one interval; no
/// restart is needed anywhere.
public final class QuarantineWatch: @unchecked Sendable {
    public let store: QuarantineStore
    public let quarantine: PeerQuarantine
    private let timer: any DispatchSourceTimer
    private let log: (@Sendable (String) -> Void)?
    private let lock = NSLock()
    /// The store's ``ReloadableFile/reloadCount`` of the list applied last: the process's
    /// ``ReloadWatcher`` (tick, SIGHUP) may reload the store before this watch looks.
    private var applied: Int

    /// Starts watching; keep the watch alive (``cancel()`` stops it).
    public init(store: QuarantineStore, quarantine: PeerQuarantine, interval: Duration = .seconds(1),
        log: (@Sendable (String) -> Void)? = nil) {
        self.store = store
        self.quarantine = quarantine
        self.log = log
        applied = store.reloadCount
        quarantine.apply(store.list, now: Date())
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "fabricauth.quarantine-watch"))
        let nanoseconds = Int(PeerQuarantine.seconds(interval) * 1e9)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
        timer.setEventHandler { [weak self] in self?.check() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Stops watching.
    public func cancel() { timer.cancel() }

    /// Re-reads the file now if it changed (also what the timer does); call
    /// it on SIGHUP to apply an edit without waiting for the next tick.
    public func check() {
        do throws(IdentityError) {
            try store.reloadIfChanged()
        } catch {
            log?("quarantine list reload failed, keeping the previous list: \(error)")
        }
        lock.lock()
        defer { lock.unlock() }
        let generation = store.reloadCount
        guard generation != applied else { return }
        applied = generation
        let list = store.list
        log?("quarantine list \(store.path ?? "") reloaded: \(list.count) entries")
        quarantine.apply(list, now: Date())
    }
}
