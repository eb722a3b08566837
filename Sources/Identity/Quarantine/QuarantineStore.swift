import Foundation

/// The live quarantine list of a long-running process, reloaded from its file while running
/// (``ReloadableFile``, like the credential, bundle, policy and deny list: the same file stamp,
/// the polling tick and SIGHUP of ``ReloadWatcher``, the same keep-the-old-list-on-error rule).
///
/// A reload that fails to read or parse keeps the previous list, so a bad edit never lifts a
/// quarantine by itself. The file must exist when the store is made (start-up fails closed, as
/// for revocations); `fabricauth quarantine add` creates it.
public typealias QuarantineStore = ReloadableFile<QuarantineList>

extension ReloadableFile where Value == QuarantineList {
    /// A store reading `path`; throws if the initial load fails.
    public convenience init(path: String, log: (@Sendable (String) -> Void)? = nil) throws(IdentityError) {
        try self.init(name: "quarantine", paths: [path], log: log) { () throws(IdentityError) in
            try Self.load(path)
        }
    }

    /// A store holding a fixed list (tests, or no file configured).
    public convenience init(list: QuarantineList = QuarantineList()) {
        self.init(name: "quarantine", value: list)
    }

    /// The file reloaded from, if any.
    public var path: String? { paths.first }

    /// The list in force now.
    public var list: QuarantineList { value }

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
