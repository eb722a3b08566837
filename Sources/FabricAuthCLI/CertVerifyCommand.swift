import ArgumentParser
import Foundation
import Identity

/// `fabricauth cert verify`: run the same verification a peer runs in the handshake.
struct CertVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a certificate chain against trust bundles, the deny list and (optionally) a policy.",
        discussion: """
            Exits 0 and prints the SPIFFE ID when the chain verifies; otherwise exits 1 with the
            rule that failed, e.g. "[validity.expired] ...". The trust domain of the bundle is read
            from the CA's spiffe:// URI SAN, or given with --trust-domain (needed for CAs made by
            other tools that carry none).
            """
    )

    @Argument(help: "Certificate file: leaf first, then any intermediates (PEM or DER).")
    var file: String

    @OptionGroup var trust: TrustOptions

    @Option(help: "Private key to check against the leaf certificate.")
    var key: String?

    @Option(help: "Verify at this time (ISO 8601, e.g. 2030-01-01T00:00:00Z) instead of now.")
    var at: String?

    @Option(name: .customLong("max-chain"), help: "Longest chain accepted, leaf through CA.")
    var maxChain: Int = IdentityVerifier.defaultMaximumChainLength

    func validate() throws {
        guard maxChain >= 2, maxChain <= 16 else { throw ValidationError("--max-chain must be between 2 and 16") }
    }

    func run() async throws {
        var time = Date()
        if let at {
            guard let parsed = ISO8601DateFormatter().date(from: at) else {
                throw ValidationError("--at \(at) is not an ISO 8601 time such as 2030-01-01T00:00:00Z")
            }
            time = parsed
        }
        let verifier = try trust.verifier(maximumChainLength: maxChain)

        let chain = try CertificateParsing.derBlocks(atPath: file)
        if let key {
            // By path, so the key file gets the same owner and mode checks as at run time.
            _ = try Credential(certificatePath: file, keyPath: key)
        }
        switch await verifier.verify(chain: chain, at: time) {
        case .rejected(let rejection):
            throw rejection
        case .verified(let identity):
            print("verified: \(identity.spiffeID)")
            print("  leaf sha256 \(identity.leafFingerprint)")
            print("  valid until \(identity.notAfter) (earliest notAfter in the chain)")
            print("  chain: \(identity.chainFingerprints.count) certificates, anchor sha256 \(identity.anchorFingerprint)")
            if trust.policy != nil {
                let decision = try trust.loadPolicy().decide(peer: identity)
                print("policy: \(decision)")
                if !decision.allowed { throw ExitCode(1) }
            }
        }
    }
}
