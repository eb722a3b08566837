import Foundation
import SwiftASN1
import X509

/// Entry points for the libFuzzer targets in Fuzz/ (docs/fuzzing.md): the parsers that
/// are internal, and seed files made with this module's own CA code. SPI, not API:
/// `@_spi(Fuzzing) import Identity`.
@_spi(Fuzzing) public enum IdentityFuzzing {
    /// Parses untrusted key-file bytes exactly as a credential's key file is parsed
    /// (PKCS#8 or SEC1, PEM or DER) and returns the key's type.
    public static func privateKeyType(pemOrDER bytes: [UInt8]) throws(IdentityError) -> KeyType {
        try KeyType(PrivateKeyParsing.privateKey(pemOrDER: bytes).publicKey)
    }

    /// The PEM documents of `text` with their labels and DER bodies, as key and
    /// certificate files are split (PEMFile.documents).
    public static func pemBlocks(_ text: String) throws(IdentityError) -> [(label: String, der: [UInt8])] {
        try PEMFile.documents(in: text).map { ($0.discriminator, $0.derBytes) }
    }

    /// Valid inputs for the certificate, key and trust-file targets, issued now by
    /// ``CertificateAuthority``: root CAs (Ed25519, P-256), an intermediate, SVID chains in
    /// PEM and DER, private keys (PKCS#8 PEM and DER), a chain and its key in one file, a two-CA trust bundle and a
    /// revocation list naming a leaf by fingerprint and by serial.
    public static func seedFiles(now: Date = Date()) throws(IdentityError) -> [(name: String, bytes: [UInt8])] {
        let ed = try CertificateAuthority.create(trustDomain: "fuzz.test", keyType: .ed25519, now: now)
        let p256 = try CertificateAuthority.create(trustDomain: "fuzz.test", keyType: .p256, now: now)
        let intermediate = try ed.authority.issueIntermediate(keyType: .p256, ttl: 7 * 24 * 3600, now: now)
        let id = try SPIFFEID("spiffe://fuzz.test/ns/train/sa/worker")
        let leafEd = try ed.authority.issue(id: id, keyType: .ed25519, now: now)
        let leafP256 = try intermediate.authority.issue(id: id, keyType: .p256, now: now)

        func pem(_ certificates: [Certificate]) -> [UInt8] {
            Array(certificates.map { CertificateParsing.pem($0) + "\n" }.joined().utf8)
        }
        func keyPEM(_ key: Certificate.PrivateKey) throws(IdentityError) -> [UInt8] {
            do { return Array((try key.serializeAsPEM().pemString + "\n").utf8) } catch {
                throw IdentityError(.malformedPEM, "cannot serialize a key: \(error)")
            }
        }
        func keyDER(_ key: Certificate.PrivateKey) throws(IdentityError) -> [UInt8] {
            do { return try key.serializeAsPEM().derBytes } catch {
                throw IdentityError(.malformedDER, "cannot serialize a key: \(error)")
            }
        }
        let leaf = leafEd.chain[0]
        var revocations = RevocationList()
        revocations.add(fingerprint: Fingerprint(der: CertificateParsing.der(leaf)))
        revocations.add(serial: leafP256.chain[0].serialNumber.bytes.map { $0 })

        return [
            ("ca-ed25519.pem", pem([ed.authority.certificate])),
            ("ca-p256.pem", pem([p256.authority.certificate])),
            ("ca-ed25519.der", CertificateParsing.der(ed.authority.certificate)),
            ("intermediate-p256.pem", pem([intermediate.authority.certificate])),
            ("svid-ed25519.pem", pem(leafEd.chain)),
            ("svid-ed25519.der", CertificateParsing.der(leaf)),
            ("svid-chain-p256.pem", pem(leafP256.chain)),
            ("key-ed25519.pem", try keyPEM(leafEd.privateKey)),
            ("key-p256.pem", try keyPEM(leafP256.privateKey)),
            ("key-p256.der", try keyDER(leafP256.privateKey)),
            ("svid-and-key-ed25519.pem", pem(leafEd.chain) + (try keyPEM(leafEd.privateKey))),
            ("bundle-two-cas.pem", pem([ed.authority.certificate, p256.authority.certificate])),
            ("revoked.txt", Array(revocations.text.utf8)),
        ]
    }
}
