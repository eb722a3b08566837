import X509

/// How a credential signs handshake transcripts, and how a peer key verifies them.
///
/// The raw values are stable code points the handshake may put on the wire
/// (chosen to match the TLS 1.3 SignatureScheme registry, RFC 8446 §4.2.3).
public enum SignatureScheme: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// ECDSA over P-256 with SHA-256; signatures are DER `ECDSA-Sig-Value` (RFC 5480 / X9.62).
    case ecdsaP256SHA256 = 0x0403
    /// Pure Ed25519 (RFC 8032); signatures are 64 bytes.
    case ed25519 = 0x0807

    public var description: String {
        switch self {
        case .ecdsaP256SHA256: "ecdsa_secp256r1_sha256"
        case .ed25519: "ed25519"
        }
    }

    var certificateAlgorithm: Certificate.SignatureAlgorithm {
        switch self {
        case .ecdsaP256SHA256: .ecdsaWithSHA256
        case .ed25519: .ed25519
        }
    }
}
