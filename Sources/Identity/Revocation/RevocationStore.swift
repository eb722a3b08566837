import Foundation

/// The live deny list of a long-running process, reloadable from its file while running.
///
/// Call ``reload()`` on SIGHUP or when the file changes. A reload that fails to read or
/// parse keeps the previous list (still a deny list, so nothing becomes trusted by a bad
/// edit) and throws so the caller can log it. Reads are a lock and a dictionary lookup,
/// cheap enough for every rekey.
public final class RevocationStore: @unchecked Sendable {
    /// The file reloaded from, if any.
    public let path: String?
    private let lock = NSLock()
    private var current: RevocationList
    private var generation = 0
    private var loadedStamp: FileStamp?

    /// A store reading `path`; throws if the initial load fails (start-up should fail closed).
    public init(path: String) throws(IdentityError) {
        self.path = path
        self.loadedStamp = Self.stamp(path)
        self.current = try Self.load(path)
    }

    /// A store holding a fixed list (tests, or no file configured).
    public init(list: RevocationList = RevocationList()) {
        self.path = nil
        self.current = list
    }

    /// The list in force now.
    public var list: RevocationList {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// How many times the list was replaced (for logs and tests).
    public var reloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return generation
    }

    /// Re-reads the file and swaps the list in atomically; on error keeps the old list and throws.
    @discardableResult
    public func reload() throws(IdentityError) -> RevocationList {
        guard let path else { return list }
        let stamp = Self.stamp(path)
        let fresh = try Self.load(path)
        lock.lock()
        current = fresh
        generation += 1
        loadedStamp = stamp
        lock.unlock()
        return fresh
    }

    /// Reloads only if the file's modification time, size or inode changed since the last
    /// load: cheap enough to call every few seconds from a timer. Returns whether it reloaded.
    @discardableResult
    public func reloadIfChanged() throws(IdentityError) -> Bool {
        guard let path else { return false }
        lock.lock()
        let previous = loadedStamp
        lock.unlock()
        guard Self.stamp(path) != previous else { return false }
        try reload()
        return true
    }

    /// Replaces the list (for callers that get the list from elsewhere than a file).
    public func replace(with list: RevocationList) {
        lock.lock()
        current = list
        generation += 1
        lock.unlock()
    }

    /// Whether a verified identity has been revoked since: the check for rekey and resumption.
    public func check(_ identity: WorkloadIdentity) -> Rejection? {
        list.check(identity)
    }

    /// What identifies one version of the file.
    struct FileStamp: Equatable {
        let seconds: Int
        let nanoseconds: Int
        let size: Int64
        let inode: UInt64
    }

    static func stamp(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(
            seconds: Int(info.st_mtim.tv_sec),
            nanoseconds: Int(info.st_mtim.tv_nsec),
            size: Int64(info.st_size),
            inode: UInt64(info.st_ino)
        )
    }

    static func load(_ path: String) throws(IdentityError) -> RevocationList {
        let bytes = try PEMFile.read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw IdentityError(.malformedRevocationList, "\(path) is not UTF-8 text")
        }
        do {
            return try RevocationList(text: text)
        } catch {
            throw IdentityError(error.code, "\(path): \(error.message)")
        }
    }
}
