import Foundation

/// A value a long-running process loads from one or more files and reloads while running:
/// the credential (certificate chain + key), a trust bundle, the policy, the deny list.
/// ``RevocationStore``, ``PolicyStore``, ``CredentialSource`` and ``TrustBundleSource`` are
/// this type with a loader for each kind of file.
///
/// A reload is attempted on request (``reload()``), and by ``reloadIfChanged()`` when any of
/// the files changed its (device, inode, size, modification time): the tick of
/// ``ReloadWatcher`` calls it, and its SIGHUP handler calls ``reload()``. Writers that
/// replace a file by an atomic rename (spiffe-helper, `mv new cert.pem`) change the inode,
/// so the change is seen even within one modification-time tick.
///
/// A reload that fails (a half-written file, a bad PEM block, a key that does not match the
/// certificate, an unparsable policy) keeps the previous value, is counted
/// (``failedReloadCount``), logged, and thrown; the version that failed is not tried again
/// until a file changes once more. Start-up with a bad file fails (the initializer throws),
/// so a process never runs without a value.
///
/// Reads are a lock and a copy of the value: cheap enough for every handshake, not meant for
/// the data path.
public final class ReloadableFile<Value: Sendable>: ReloadableSource, @unchecked Sendable {
    // @unchecked: every mutable field below is only touched under `lock`.

    /// What the source holds, for logs and the `source` label of
    /// `fabricauth_reloads_total` ("credential", "bundle", "policy", "revocations").
    public let name: String
    /// The files loaded from, in the order the loader reads them (empty: a fixed value).
    public let paths: [String]
    private let load: (@Sendable () throws(IdentityError) -> Value)?
    private let log: (@Sendable (String) -> Void)?
    private let lock = NSLock()
    private var current: Value
    private var stamps: [FileStamp?]
    private var successes = 0
    private var failures = 0
    private var lastFailure: IdentityError?

    /// A source of `paths`, loaded now by `load`; throws what the first load throws.
    /// `log` gets one line per reload, success or failure. The source is registered with
    /// ``ReloadWatcher/shared`` (weakly: it leaves when released).
    public init(
        name: String, paths: [String], log: (@Sendable (String) -> Void)? = nil,
        load: @escaping @Sendable () throws(IdentityError) -> Value
    ) throws(IdentityError) {
        self.name = name
        self.paths = paths
        self.load = load
        self.log = log
        // Stamps before the load: a file replaced during the load reads as changed next tick.
        self.stamps = paths.map(FileStamp.init(path:))
        self.current = try load()
        ReloadWatcher.shared.register(self)
    }

    /// A source holding a fixed value (tests, or no file configured): reloads do nothing.
    public init(name: String, value: Value) {
        self.name = name
        self.paths = []
        self.load = nil
        self.log = nil
        self.stamps = []
        self.current = value
    }

    /// The value in force now.
    public var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// How many times the value was replaced (by a reload or ``replace(with:)``).
    public var reloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return successes
    }

    /// How many reloads failed and kept the previous value.
    public var failedReloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }

    /// Why the last failed reload failed (nil if none has).
    public var lastReloadError: IdentityError? {
        lock.lock()
        defer { lock.unlock() }
        return lastFailure
    }

    /// Re-reads the files and swaps the value in; on error keeps the old value, counts and
    /// logs the failure, and throws.
    @discardableResult
    public func reload() throws(IdentityError) -> Value {
        guard let load else { return value }
        let fresh = paths.map(FileStamp.init(path:))
        let loaded: Value
        do {
            loaded = try load()
        } catch {
            lock.lock()
            failures += 1
            lastFailure = error
            // The bad version is not retried until a file changes once more.
            stamps = fresh
            lock.unlock()
            log?("reload of \(name) (\(paths.joined(separator: ", "))) failed, keeping the previous one: \(error)")
            ReloadWatcher.shared.report(ReloadReport(source: name, paths: paths, error: error))
            throw error
        }
        lock.lock()
        current = loaded
        successes += 1
        stamps = fresh
        lock.unlock()
        log?("reloaded \(name) from \(paths.joined(separator: ", "))")
        let versioned = loaded as? any VersionedContent
        ReloadWatcher.shared.report(ReloadReport(source: name, paths: paths, error: nil,
            version: versioned?.contentVersion, sha256: versioned?.contentSHA256))
        return loaded
    }

    /// Reloads only if a file's device, inode, size or modification time changed since the
    /// last attempt (a stat per file: cheap enough for a tick every second). Returns whether
    /// it reloaded; throws what a failed reload throws.
    @discardableResult
    public func reloadIfChanged() throws(IdentityError) -> Bool {
        guard load != nil else { return false }
        lock.lock()
        let previous = stamps
        lock.unlock()
        guard paths.map(FileStamp.init(path:)) != previous else { return false }
        try reload()
        return true
    }

    /// Replaces the value (for callers that get it from elsewhere than the files).
    public func replace(with value: Value) {
        lock.lock()
        current = value
        successes += 1
        lock.unlock()
    }

    public var counts: ReloadCounts {
        lock.lock()
        defer { lock.unlock() }
        return ReloadCounts(succeeded: successes, failed: failures)
    }
}

/// Successful and failed reloads of one source.
public struct ReloadCounts: Sendable, Equatable {
    public var succeeded: Int
    public var failed: Int

    public init(succeeded: Int, failed: Int) {
        self.succeeded = succeeded
        self.failed = failed
    }
}

/// What identifies one version of a file: a rename changes device or inode, an in-place
/// write size or modification time (nanoseconds, where the file system keeps them).
struct FileStamp: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let seconds: Int
    let nanoseconds: Int

    /// The stamp of the file at `path` now (nil when it cannot be stat'ed, e.g. mid-rename).
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        seconds = Int(info.st_mtim.tv_sec)
        nanoseconds = Int(info.st_mtim.tv_nsec)
    }
}
