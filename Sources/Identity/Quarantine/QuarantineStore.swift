import Foundation

/// The live quarantine list of a long-running process, reloaded from its
/// file while running: ``RevocationStore``'s mechanism (same file stamp, same
/// keep-the-old-list-on-error rule) for ``QuarantineList``.
///
/// A reload that fails to read or parse keeps the previous list and throws,
/// so the caller can log it; a bad edit never lifts a quarantine by itself.
/// The file must exist when the store is made (start-up fails closed, as for
/// revocations); `fabricauth quarantine add` creates it.
public final class QuarantineStore: @unchecked Sendable {
    /// The file reloaded from, if any.
    public let path: String?
    private let lock = NSLock()
    private var current: QuarantineList
    private var generation = 0
    private var loadedStamp: RevocationStore.FileStamp?

    /// A store reading `path`; throws if the initial load fails.
    public init(path: String) throws(IdentityError) {
        self.path = path
        self.loadedStamp = RevocationStore.stamp(path)
        self.current = try Self.load(path)
    }

    /// A store holding a fixed list (tests, or no file configured).
    public init(list: QuarantineList = QuarantineList()) {
        self.path = nil
        self.current = list
    }

    /// The list in force now.
    public var list: QuarantineList {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// How many times the list was replaced.
    public var reloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return generation
    }

    /// Re-reads the file and swaps the list in; on error keeps the old list and throws.
    @discardableResult
    public func reload() throws(IdentityError) -> QuarantineList {
        guard let path else { return list }
        let stamp = RevocationStore.stamp(path)
        let fresh = try Self.load(path)
        lock.lock()
        current = fresh
        generation += 1
        loadedStamp = stamp
        lock.unlock()
        return fresh
    }

    /// Reloads only if the file's modification time, size or inode changed
    /// since the last load (cheap: one stat). Returns whether it reloaded.
    @discardableResult
    public func reloadIfChanged() throws(IdentityError) -> Bool {
        guard let path else { return false }
        lock.lock()
        let previous = loadedStamp
        lock.unlock()
        guard RevocationStore.stamp(path) != previous else { return false }
        try reload()
        return true
    }

    /// Reads and parses `path`; errors name the file.
    public static func load(_ path: String) throws(IdentityError) -> QuarantineList {
        let bytes = try PEMFile.read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw IdentityError(.malformedQuarantineList, "\(path) is not UTF-8 text")
        }
        do {
            return try QuarantineList(text: text)
        } catch {
            throw IdentityError(error.code, "\(path): \(error.message)")
        }
    }

    /// Applies `change` to the list in `path` and writes it back atomically
    /// (temporary file, fsync, rename: a watching process reads the old or
    /// the new list, never half of one). A missing file starts empty.
    /// Writers on one host are serialised by an advisory lock on
    /// `path.lock`, so two detectors adding at once both land.
    @discardableResult
    public static func update(_ path: String, _ change: (inout QuarantineList) throws(IdentityError) -> Void)
        throws(IdentityError) -> QuarantineList {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw IdentityError(.io, "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw IdentityError(.io, "cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
        }
        var list = FileManager.default.fileExists(atPath: path) ? try load(path) : QuarantineList()
        try change(&list)
        try SecureFile.write(list.text, to: path, mode: 0o644, force: true)
        return list
    }
}
