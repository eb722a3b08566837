import X509

/// A verified peer's public key, able to check the peer's handshake signature.
public struct PeerPublicKey: Sendable, Hashable {
    /// The key from the peer's leaf certificate.
    public let key: Certificate.PublicKey
    /// The scheme the peer signs with (fixed by its key type).
    public let scheme: SignatureScheme

    init(_ key: Certificate.PublicKey, scheme: SignatureScheme) {
        self.key = key
        self.scheme = scheme
    }

    /// Whether `signature` is the peer's signature over `bytes`, made as ``Credential/sign(_:)`` makes it.
    public func isValidSignature(_ signature: some Sequence<UInt8>, for bytes: some Sequence<UInt8>) -> Bool {
        key.isValidSignature(Array(signature), for: Array(bytes), signatureAlgorithm: scheme.certificateAlgorithm)
    }

    /// SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7), e.g. to bind the key into a transcript.
    public var subjectPublicKeyInfoDER: [UInt8] { Array(key.subjectPublicKeyInfoBytes) }
}
