import ArgumentParser
import Foundation
import Identity

/// `fabricauth cert revoke`: add certificates to a deny list file.
struct CertRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Add certificates (by SHA-256 fingerprint or serial) to a revocation list file.",
        discussion: """
            Revoking a CA or intermediate revokes every certificate under it. The file is
            created if missing and replaced atomically; running processes pick it up on
            reload (SIGHUP or file change), including for sessions already established.
            """
    )

    @Argument(help: "Certificate files to revoke (the first certificate of each file, or all with --all).")
    var files: [String] = []

    @Option(help: "Revocation list file to update.")
    var revocations: String = "revoked.txt"

    @Option(help: "Revoke a SHA-256 fingerprint given in hex.")
    var fingerprint: [String] = []

    @Option(help: "Revoke a serial number given in hex.")
    var serial: [String] = []

    @Flag(help: "Revoke every certificate in each file, not just the first.")
    var all = false

    func validate() throws {
        guard !files.isEmpty || !fingerprint.isEmpty || !serial.isEmpty else {
            throw ValidationError("name certificates to revoke: FILE..., --fingerprint or --serial")
        }
    }

    func run() async throws {
        var list = RevocationList()
        if FileManager.default.fileExists(atPath: revocations) {
            list = try RevocationStore(path: revocations).list
        }
        let before = list.count
        var added: [String] = []
        for file in files {
            let certificates = try CertificateParsing.certificates(atPath: file)
            for certificate in all ? certificates : [certificates[0]] {
                let fp = Fingerprint(der: CertificateParsing.der(certificate))
                list.add(fingerprint: fp)
                added.append("sha256:\(fp)  (\(file): \(certificate.subject))")
            }
        }
        for hex in fingerprint {
            let fp = try Fingerprint(hex: hex)
            list.add(fingerprint: fp)
            added.append("sha256:\(fp)")
        }
        for hex in serial {
            // Reuse the file parser so serials get the same checks as in the file.
            let parsed = try RevocationList(text: "serial:\(hex)")
            for (bytes, _) in parsed.serials { list.add(serial: bytes) }
            added.append("serial:\(hex)")
        }
        try SecureFile.write(list.text, to: revocations, mode: 0o644, force: true)
        for line in added { print("revoked \(line)") }
        print("\(revocations): \(list.count) entries (\(list.count - before) new)")
    }
}
