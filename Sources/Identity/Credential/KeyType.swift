import Crypto
import X509

/// The key types FabricAuth issues and accepts: Ed25519 (default) and ECDSA P-256.
public enum KeyType: String, Sendable, CaseIterable, CustomStringConvertible {
    case ed25519
    case p256

    public var description: String { rawValue }

    /// Signature algorithm a key of this type signs certificates and handshakes with.
    public var signatureScheme: SignatureScheme {
        switch self {
        case .ed25519: .ed25519
        case .p256: .ecdsaP256SHA256
        }
    }

    /// The key type of a certificate public key, or an `unsupportedKeyType` error naming what it is.
    public init(_ key: Certificate.PublicKey) throws(IdentityError) {
        if Curve25519.Signing.PublicKey(key) != nil {
            self = .ed25519
        } else if P256.Signing.PublicKey(key) != nil {
            self = .p256
        } else {
            throw IdentityError(
                .unsupportedKeyType,
                "public key is \(KeyType.name(of: key)); FabricAuth accepts Ed25519 and ECDSA P-256 only"
            )
        }
    }

    /// A short name for any key swift-certificates can parse, for error messages.
    static func name(of key: Certificate.PublicKey) -> String {
        if P384.Signing.PublicKey(key) != nil { return "ECDSA P-384" }
        if P521.Signing.PublicKey(key) != nil { return "ECDSA P-521" }
        if key.description.hasPrefix("RSA") { return "RSA" }
        return "an unknown key type"
    }

    /// A fresh private key of this type.
    public func generate() -> Certificate.PrivateKey {
        switch self {
        case .ed25519: Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        case .p256: Certificate.PrivateKey(P256.Signing.PrivateKey())
        }
    }
}
