import SwiftASN1
import X509

/// Parses untrusted private-key files with specific errors.
enum PrivateKeyParsing {
    static let pemLabels = ["PRIVATE KEY", "EC PRIVATE KEY"]

    /// Parses a PKCS#8 (`PRIVATE KEY`, RFC 5958) or SEC1 (`EC PRIVATE KEY`, RFC 5915) key;
    /// raw DER is read as PKCS#8. Encrypted keys are refused.
    static func privateKey(pemOrDER bytes: [UInt8]) throws(IdentityError) -> Certificate.PrivateKey {
        guard !bytes.isEmpty else { throw IdentityError(.empty, "key input is empty") }
        let key: Certificate.PrivateKey
        if bytes.first == 0x30 {
            do {
                key = try Certificate.PrivateKey(derBytes: bytes)
            } catch {
                throw classify(error, "not a valid PKCS#8 private key (RFC 5958)")
            }
        } else {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw IdentityError(.malformedPEM, "key is neither DER nor UTF-8 PEM text (RFC 7468 §2)")
            }
            let documents = try PEMFile.documents(in: text)
            if documents.contains(where: { $0.discriminator == "ENCRYPTED PRIVATE KEY" }) {
                throw IdentityError(.unsupportedKeyType, "encrypted private keys are not supported; decrypt it first")
            }
            let keys = documents.filter { pemLabels.contains($0.discriminator) }
            guard keys.count == 1, let document = keys.first else {
                throw IdentityError(
                    keys.isEmpty ? .empty : .malformedPEM,
                    keys.isEmpty
                        ? "no PRIVATE KEY or EC PRIVATE KEY block found"
                        : "\(keys.count) private keys found; a key file must hold exactly one"
                )
            }
            do {
                key = try Certificate.PrivateKey(pemDocument: document)
            } catch {
                throw classify(error, "not a valid \(document.discriminator) (RFC 5958 / RFC 5915)")
            }
        }
        _ = try KeyType(key.publicKey)
        return key
    }

    private static func classify(_ error: any Error, _ what: String) -> IdentityError {
        if let error = error as? CertificateError, error.code == .unsupportedPrivateKey {
            return IdentityError(.unsupportedKeyType, "unsupported private key type; use Ed25519 or ECDSA P-256")
        }
        return IdentityError(.malformedDER, "\(what): \(error)")
    }
}
