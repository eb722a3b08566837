import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value reloadable from files (``ReloadableFile``), as ``ReloadWatcher`` sees it.
public protocol ReloadableSource: AnyObject, Sendable {
    /// The `source` label: "credential", "bundle", "policy", "revocations".
    var name: String { get }
    /// Successful and failed reloads so far.
    var counts: ReloadCounts { get }
    /// Reloads whatever the files hold now (SIGHUP).
    func reloadNow() -> Bool
    /// Reloads if a file changed (the polling tick); whether it tried and succeeded.
    func reloadIfChangedNow() -> Bool
}

extension ReloadableFile {
    public func reloadNow() -> Bool {
        do { try reload(); return true } catch { return false }
    }

    public func reloadIfChangedNow() -> Bool {
        do { return try reloadIfChanged() } catch { return false }
    }
}

/// Write end of the self-pipe the SIGHUP handler signals through (-1: none installed).
/// Written once, before the handler is installed, under `ReloadWatcher`'s lock; read by the handler.
nonisolated(unsafe) private var sighupPipeWriteEnd: Int32 = -1

/// Every reloadable source of the process, and the two things that reload them: a polling
/// tick (``startPolling(every:)``) and SIGHUP (``reloadOnSIGHUP()``). One of each per process,
/// serving every registered source, so a process with a credential, a bundle, a policy and a
/// deny list installs one signal handler and runs one timer.
///
/// Sources register themselves when made and are held weakly: a released source leaves.
public final class ReloadWatcher: @unchecked Sendable {
    // @unchecked: `entries`, `timer` and `sighup` are only touched under `lock`.

    /// The process's watcher.
    public static let shared = ReloadWatcher()

    private struct Entry {
        weak var source: (any ReloadableSource)?
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    private var timer: (any DispatchSourceTimer)?
    private var sighup: (any DispatchSourceRead)?
    private let queue = DispatchQueue(label: "fabricauth.reload")

    init() {}

    func register(_ source: any ReloadableSource) {
        lock.lock()
        entries.removeAll { $0.source == nil }
        entries.append(Entry(source: source))
        lock.unlock()
    }

    /// The sources alive now, in the order they were made.
    public var sources: [any ReloadableSource] {
        lock.lock()
        defer { lock.unlock() }
        return entries.compactMap(\.source)
    }

    /// Reload counts summed by source name (what `fabricauth_reloads_total` exports).
    public func countsByName() -> [(name: String, counts: ReloadCounts)] {
        var byName: [String: ReloadCounts] = [:]
        var order: [String] = []
        for source in sources {
            let c = source.counts
            if let old = byName[source.name] {
                byName[source.name] = ReloadCounts(succeeded: old.succeeded + c.succeeded, failed: old.failed + c.failed)
            } else {
                byName[source.name] = c
                order.append(source.name)
            }
        }
        return order.map { ($0, byName[$0]!) }
    }

    /// One polling tick: every source whose files changed is reloaded. Returns how many reloaded.
    @discardableResult
    public func checkAll() -> Int {
        sources.reduce(0) { $0 + ($1.reloadIfChangedNow() ? 1 : 0) }
    }

    /// Reloads every source (what SIGHUP does). Returns how many reloaded successfully.
    @discardableResult
    public func reloadAll() -> Int {
        sources.reduce(0) { $0 + ($1.reloadNow() ? 1 : 0) }
    }

    /// Calls ``checkAll()`` every `interval` on the watcher's queue until ``stopPolling()``.
    /// A second call replaces the first timer.
    public func startPolling(every interval: Duration) {
        let (s, atto) = interval.components
        let nanoseconds = max(1_000_000, Int(s) * 1_000_000_000 + Int(atto / 1_000_000_000))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
        timer.setEventHandler { [weak self] in self?.checkAll() }
        lock.lock()
        self.timer?.cancel()
        self.timer = timer
        lock.unlock()
        timer.resume()
    }

    /// Stops the polling tick.
    public func stopPolling() {
        lock.lock()
        timer?.cancel()
        timer = nil
        lock.unlock()
    }

    /// Reloads every source whenever the process receives SIGHUP, the usual "re-read your
    /// configuration" signal; `onReload` is told after each round (for tests and logs). Once
    /// per process: later calls only replace `onReload`.
    ///
    /// Uses a `sigaction` handler that writes one byte to a pipe (the self-pipe trick;
    /// `write` is async-signal-safe) and a dispatch read source on the other end. A dispatch
    /// *signal* source is not used: on Linux it only sees signals that every thread blocks,
    /// and a SIGHUP delivered to any other thread would be lost.
    public func reloadOnSIGHUP(onReload: @escaping @Sendable () -> Void = {}) throws(IdentityError) {
        lock.lock()
        defer { lock.unlock() }
        sighupObserver = onReload
        guard sighup == nil else { return }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw IdentityError(.io, "cannot create the SIGHUP pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        sighupPipeWriteEnd = writeEnd

        var action = sigaction()
        let handler: @convention(c) (Int32) -> Void = { _ in
            var byte: UInt8 = 1
            _ = write(sighupPipeWriteEnd, &byte, 1)  // a full pipe already means "reload pending"
        }
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        guard sigaction(SIGHUP, &action, nil) == 0 else {
            close(readEnd)
            close(writeEnd)
            sighupPipeWriteEnd = -1
            throw IdentityError(.io, "cannot install the SIGHUP handler: \(String(cString: strerror(errno)))")
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: queue)
        source.setEventHandler { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(readEnd, &buffer, buffer.count) > 0 {}  // coalesce signals into one round
            guard let self else { return }
            self.reloadAll()
            self.lock.lock()
            let observer = self.sighupObserver
            self.lock.unlock()
            observer()
        }
        source.resume()
        sighup = source
    }

    private var sighupObserver: @Sendable () -> Void = {}

    private var reloadObservers: [@Sendable (ReloadReport) -> Void] = []

    /// Calls `observer` after every reload attempt of any source of the process, successful or
    /// not (the audit trail's `reload` events). Observers stay for the life of the process.
    public func observeReloads(_ observer: @escaping @Sendable (ReloadReport) -> Void) {
        lock.lock()
        reloadObservers.append(observer)
        lock.unlock()
    }

    func report(_ report: ReloadReport) {
        lock.lock()
        let observers = reloadObservers
        lock.unlock()
        for observer in observers { observer(report) }
    }
}

/// One reload attempt of one source, as ``ReloadWatcher/observeReloads(_:)`` reports it.
public struct ReloadReport: Sendable {
    /// The source's name ("credential", "bundle", "policy", "revocations").
    public let source: String
    /// The files it loads from.
    public let paths: [String]
    /// Nil when the new value is in force; otherwise why the previous one was kept.
    public let error: IdentityError?
    /// The new value's version, when it has one (a policy file's `version`; ``VersionedContent``).
    public let version: String?
    /// SHA-256 of the file the new value was read from, lowercase hex, when the value keeps it (a policy).
    public let sha256: String?

    public init(source: String, paths: [String], error: IdentityError?, version: String? = nil, sha256: String? = nil) {
        self.source = source
        self.paths = paths
        self.error = error
        self.version = version
        self.sha256 = sha256
    }
}

/// A reloadable value that knows which version of its file it is: the policy, whose
/// `version` and content hash each reload reports (the audit trail's `reload` events).
public protocol VersionedContent {
    var contentVersion: String? { get }
    var contentSHA256: String? { get }
}

extension Policy: VersionedContent {
    public var contentVersion: String? { version }
    public var contentSHA256: String? { contentHash }
}
