import SwiftASN1
import X509

/// This workload's own identity: its certificate chain (leaf first, then any
/// intermediates, never the root) and the leaf's private key.
///
/// The handshake calls ``sign(_:)`` over its transcript and sends ``chainDER``;
/// the peer checks both with ``IdentityVerifier``.
public struct Credential: Sendable {
    /// DER certificates, leaf first.
    public let chainDER: [[UInt8]]
    /// The parsed leaf.
    public let leaf: Certificate
    /// The SPIFFE ID in the leaf.
    public let spiffeID: SPIFFEID
    /// How ``sign(_:)`` signs.
    public let signatureScheme: SignatureScheme
    /// SHA-256 of the leaf's DER, computed once: live channels compare it
    /// each check interval (re-authentication's schedule), and hashing the
    /// leaf there cost heap allocations every time.
    public let leafFingerprint: Fingerprint
    let privateKey: Certificate.PrivateKey

    /// Builds a credential, checking that the key belongs to the leaf and is a supported type.
    ///
    /// The leaf must carry a valid SPIFFE ID (X509-SVID §2); the full SVID and chain rules
    /// are checked by peers, and by `fabricauth cert verify` locally.
    public init(chain: [Certificate], privateKey: Certificate.PrivateKey) throws(IdentityError) {
        guard let leaf = chain.first else {
            throw IdentityError(.empty, "credential has no certificate")
        }
        let keyType = try KeyType(privateKey.publicKey)
        guard privateKey.publicKey == leaf.publicKey else {
            throw IdentityError(
                .keyMismatch,
                "private key does not match the leaf certificate's public key (RFC 5280 §4.1.2.7 subjectPublicKeyInfo)"
            )
        }
        switch SVIDRules.spiffeID(of: leaf) {
        case .success(let id): self.spiffeID = id
        case .failure(let rejection): throw IdentityError(.invalidSPIFFEID, "leaf certificate: \(rejection)")
        }
        self.leaf = leaf
        self.chainDER = chain.map(CertificateParsing.der)
        self.leafFingerprint = Fingerprint(der: chainDER[0])
        self.privateKey = privateKey
        self.signatureScheme = keyType.signatureScheme
    }

    /// Loads a credential from PEM text: the certificate chain and a PKCS#8 or SEC1 private key.
    public init(certificatePEM: [UInt8], keyPEM: [UInt8]) throws(IdentityError) {
        let chain = try CertificateParsing.certificates(pemOrDER: certificatePEM)
        try self.init(chain: chain, privateKey: PrivateKeyParsing.privateKey(pemOrDER: keyPEM))
    }

    /// Loads a credential from a certificate file and a key file.
    public init(certificatePath: String, keyPath: String) throws(IdentityError) {
        let chain = try CertificateParsing.certificates(atPath: certificatePath)
        let key: Certificate.PrivateKey
        do {
            key = try PrivateKeyParsing.privateKey(pemOrDER: PrivateKeyFile.read(keyPath))
        } catch {
            throw IdentityError(error.code, "\(keyPath): \(error.message)")
        }
        try self.init(chain: chain, privateKey: key)
    }

    /// Signs `bytes` with the leaf's key: 64 bytes for Ed25519, a DER ECDSA-Sig-Value for P-256.
    public func sign(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        // Signing with a key of a type we checked at init, with its own algorithm, cannot fail
        // (swift-crypto only throws for mismatched algorithms or Secure Enclave errors).
        try! privateKey.sign(bytes: Array(bytes), signatureAlgorithm: signatureScheme.certificateAlgorithm)
            .rawRepresentation
    }

    /// The public key peers will verify ``sign(_:)`` with.
    public var publicKey: PeerPublicKey {
        PeerPublicKey(leaf.publicKey, scheme: signatureScheme)
    }
}
