import ArgumentParser
import Foundation
import Identity

/// `fabricauth cert issue`: issue a short-lived X.509-SVID from FabricAuth's CA.
struct CertIssueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a workload certificate (X.509-SVID) and its private key.",
        discussion: """
            The certificate file holds the leaf followed by any intermediate CAs; the key is
            written with mode 0600. Default file names come from the last path segment of the
            ID (spiffe://td/ns/web -> web.pem, web.key). Existing files are never overwritten
            unless --force is given.
            """
    )

    @Option(help: "The workload's SPIFFE ID, e.g. spiffe://prod.example.org/ns/storage/node-7.")
    var id: String

    @Option(help: "Certificate lifetime, e.g. 1h, 24h (default), 7d.")
    var ttl: String = "24h"

    @Option(name: .customLong("key-type"), help: "ed25519 (default) or p256.")
    var keyType: String = "ed25519"

    @Option(help: "CA file prefix: --ca ca means --ca-cert ca.pem --ca-key ca.key.")
    var ca: String?

    @Option(name: .customLong("ca-cert"), help: "Issuing CA certificate (PEM; default ca.pem).")
    var caCert: String?

    @Option(name: .customLong("ca-key"), help: "Issuing CA private key (PEM; default ca.key).")
    var caKey: String?

    @Option(help: "Where to write the certificate chain (default: <name>.pem).")
    var out: String?

    @Option(name: .customLong("key-out"), help: "Where to write the private key (default: <name>.key, mode 0600).")
    var keyOut: String?

    @Flag(help: "Overwrite existing files.")
    var force = false

    func run() async throws {
        let spiffeID = try SPIFFEID(id).requiringWorkload()
        let keyType = try CLIHelpers.keyType(keyType)
        let ttl = try DurationParser.parse(ttl)
        let prefix = ca ?? "ca"
        let authority = try CertificateAuthority(
            certificatePath: caCert ?? prefix + ".pem", keyPath: caKey ?? prefix + ".key"
        )
        let baseName = String(spiffeID.path.split(separator: "/").last ?? "workload")
        let certPath = out ?? baseName + ".pem"
        let keyPath = keyOut ?? baseName + ".key"
        try CLIHelpers.refuseExisting([certPath, keyPath], force: force)
        let (chain, key) = try authority.issue(id: spiffeID, keyType: keyType, ttl: ttl)
        try SecureFile.write(try PrivateKeyFile.pem(key), to: keyPath, mode: 0o600, force: force)
        try SecureFile.write(chain.map(CertificateParsing.pem).joined(separator: "\n") + "\n",
                             to: certPath, mode: 0o644, force: force)
        print("issued \(spiffeID) (\(keyType), valid until \(chain[0].notValidAfter))")
        print("  certificate: \(certPath)  sha256 \(Fingerprint(der: CertificateParsing.der(chain[0])))")
        print("  private key: \(keyPath)  (mode 0600)")
    }
}
