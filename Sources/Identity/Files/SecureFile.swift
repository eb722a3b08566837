import Foundation

/// Writes credentials to disk: private keys with mode 0600, never overwriting unless asked.
public enum SecureFile {
    /// Writes `contents` to `path` with `mode`. Without `force`, an existing file is an error
    /// (`fileExists`). The file is created with `mode` from the start (O_CREAT|O_EXCL), so a
    /// key is never readable by others, even briefly; with `force` it is replaced through a
    /// temporary file and rename, so a reader sees the old or the new file, never half of one.
    public static func write(_ contents: String, to path: String, mode: mode_t, force: Bool) throws(IdentityError) {
        if !force, FileManager.default.fileExists(atPath: path) {
            throw IdentityError(.fileExists, "\(path) exists; refusing to overwrite it (pass --force)")
        }
        let target = force ? path + ".tmp-\(getpid())" : path
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == EEXIST { throw IdentityError(.fileExists, "\(path) exists; refusing to overwrite it (pass --force)") }
            throw IdentityError(.io, "cannot create \(target): \(reason)")
        }
        // The umask may have cleared bits; set exactly `mode`.
        fchmod(fd, mode)
        let bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(target)
                throw IdentityError(.io, "cannot write \(target): \(reason)")
            }
            written += result
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            unlink(target)
            throw IdentityError(.io, "cannot flush \(target): \(String(cString: strerror(errno)))")
        }
        if force, rename(target, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(target)
            throw IdentityError(.io, "cannot replace \(path): \(reason)")
        }
    }
}
