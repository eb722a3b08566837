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

    /// A store reading `path`; throws if the initial load fails (start-up should fail closed).
    public init(path: String) throws(IdentityError) {
        self.path = path
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
        let fresh = try Self.load(path)
        replace(with: fresh)
        return fresh
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
