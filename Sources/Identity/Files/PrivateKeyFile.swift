import Foundation
import X509

/// Private-key files: serializing keys for writing (PKCS#8 `PRIVATE KEY` for Ed25519, SEC1 for
/// P-256; ``SecureFile`` writes them with mode 0600), and reading them only when no one but
/// their owner can get at them.
public enum PrivateKeyFile {
    public static func pem(_ key: Certificate.PrivateKey) throws(IdentityError) -> String {
        do {
            return try key.serializeAsPEM().pemString + "\n"
        } catch {
            throw IdentityError(.issuance, "cannot serialize the private key: \(error)")
        }
    }

    /// Reads a private-key file, refusing (`insecureKeyFile`) one that another user owns or
    /// whose mode grants the group or others any access, as OpenSSH does for identity files
    /// (`sshkey_perm_ok` in OpenSSH's authfile.c: "It is required that your private key files
    /// are NOT accessible by others"). A key others could read may already be theirs; a file
    /// another user owns can be swapped by that user for a key they hold.
    ///
    /// The checks use `fstat` on the descriptor that is then read, so the file cannot be
    /// replaced between check and read; symbolic links are followed (Kubernetes secret
    /// volumes are links) and the file they lead to is the one checked.
    public static func read(_ path: String) throws(IdentityError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            throw IdentityError(.io, "cannot open \(path) for reading: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw IdentityError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        try checkOwnerAndMode(path: path, status: status, processUID: geteuid())
        return try readAll(fd, path: path)
    }

    /// The ownership and permission rules of ``read(_:)``; `processUID` is a parameter so the
    /// owner rule can be tested without root (making a file another user's needs chown).
    static func checkOwnerAndMode(path: String, status: stat, processUID: uid_t) throws(IdentityError) {
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw IdentityError(.io, "\(path) is not a regular file")
        }
        guard status.st_uid == processUID else {
            throw IdentityError(
                .insecureKeyFile,
                "\(path) is owned by uid \(status.st_uid), not by uid \(processUID) that runs this process; "
                    + "a private key file must belong to the user that uses it: "
                    + "run `chown \(processUID) \(path)` and `chmod 600 \(path)`"
            )
        }
        let mode = status.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            throw IdentityError(
                .insecureKeyFile,
                "permissions \(String(mode, radix: 8).leftPadded(to: 4)) for \(path) are too open: a private key "
                    + "file must not be accessible by group or others; run `chmod 600 \(path)`"
            )
        }
    }

    private static func readAll(_ fd: Int32, path: String) throws(IdentityError) -> [UInt8] {
        let limit = PEMFile.maximumFileSize
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count <= limit {
            let result = bytes.withUnsafeMutableBytes { buffer in
                Foundation.read(fd, buffer.baseAddress! + count, buffer.count - count)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw IdentityError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if result == 0 { break }
            count += result
        }
        guard count <= limit else { throw IdentityError(.io, "\(path) is larger than \(limit) bytes") }
        return Array(bytes[..<count])
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
