import ArgumentParser
import Foundation
import Identity

/// `fabricauth ca init`: make a self-signed root CA for a trust domain.
struct CAInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a root CA (certificate + private key) for a SPIFFE trust domain.",
        discussion: """
            Writes the CA certificate (share it: it is the trust bundle) and the CA private key
            (mode 0600; keep it offline if you can). Existing files are never overwritten
            unless --force is given.
            """
    )

    @Option(name: .customLong("trust-domain"), help: "Trust domain the CA issues for, e.g. prod.example.org.")
    var trustDomain: String

    @Option(name: .customLong("key-type"), help: "ed25519 (default) or p256.")
    var keyType: String = "ed25519"

    @Option(help: "CA lifetime, e.g. 8760h or 365d.")
    var ttl: String = "365d"

    @Option(help: "Common name of the CA (default: \"FabricAuth CA <trust-domain>\").")
    var name: String?

    @Option(help: "Where to write the CA certificate (PEM).")
    var out: String = "ca.pem"

    @Option(name: .customLong("key-out"), help: "Where to write the CA private key (PEM, mode 0600).")
    var keyOut: String = "ca.key"

    @Flag(help: "Overwrite existing files.")
    var force = false

    func run() async throws {
        let keyType = try CLIHelpers.keyType(keyType)
        let ttl = try DurationParser.parse(ttl)
        try CLIHelpers.refuseExisting([out, keyOut], force: force)
        let (authority, key) = try CertificateAuthority.create(
            trustDomain: trustDomain, keyType: keyType, ttl: ttl, name: name
        )
        // Key first: if writing it fails, no certificate without its key is left behind.
        try SecureFile.write(try PrivateKeyFile.pem(key), to: keyOut, mode: 0o600, force: force)
        try SecureFile.write(CertificateParsing.pem(authority.certificate), to: out, mode: 0o644, force: force)
        let fingerprint = Fingerprint(der: CertificateParsing.der(authority.certificate))
        print("created CA for spiffe://\(trustDomain) (\(keyType), valid until \(authority.certificate.notValidAfter))")
        print("  certificate: \(out)  sha256 \(fingerprint)")
        print("  private key: \(keyOut)  (mode 0600)")
    }
}
