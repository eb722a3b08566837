import Foundation

/// The live deny list of a long-running process, reloadable from its file while running
/// (``ReloadableFile``: on request, when the file changes, on SIGHUP). A reload that fails
/// keeps the previous list (still a deny list, so nothing becomes trusted by a bad edit).
/// Reads are a lock and a dictionary lookup, cheap enough for every rekey and recheck.
public typealias RevocationStore = ReloadableFile<RevocationList>

extension ReloadableFile where Value == RevocationList {
    /// A store reading `path`; throws if the initial load fails (start-up should fail closed).
    public convenience init(path: String, log: (@Sendable (String) -> Void)? = nil) throws(IdentityError) {
        try self.init(name: "revocations", paths: [path], log: log) { () throws(IdentityError) in
            try RevocationStore.loadList(path)
        }
    }

    /// A store holding a fixed list (tests, or no file configured).
    public convenience init(list: RevocationList = RevocationList()) {
        self.init(name: "revocations", value: list)
    }

    /// The list in force now.
    public var list: RevocationList { value }

    /// Whether a verified identity has been revoked since: the check for rekey and resumption.
    public func check(_ identity: WorkloadIdentity) -> Rejection? {
        list.check(identity)
    }

    static func loadList(_ path: String) throws(IdentityError) -> RevocationList {
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
