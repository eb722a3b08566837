import Foundation
import X509

/// A peer identity that passed verification: what the handshake and policy act on.
public struct WorkloadIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The SPIFFE ID from the leaf's URI SAN.
    public let spiffeID: SPIFFEID
    /// SHA-256 of the leaf's DER.
    public let leafFingerprint: Fingerprint
    /// Fingerprints of the verified chain, leaf first, trust anchor last.
    public let chainFingerprints: [Fingerprint]
    /// Serial numbers of the verified chain, leaf first, leading zero bytes removed.
    public let chainSerials: [[UInt8]]
    /// The earliest notAfter in the chain: the identity expires then.
    public let notAfter: Date
    /// The latest notBefore in the chain.
    public let notBefore: Date
    /// The leaf's public key, to verify the peer's handshake signature.
    public let publicKey: PeerPublicKey

    /// The trust anchor the chain was verified under.
    public var anchorFingerprint: Fingerprint { chainFingerprints[chainFingerprints.count - 1] }

    init(spiffeID: SPIFFEID, chain: [Certificate], chainDER: [[UInt8]], scheme: SignatureScheme) {
        self.spiffeID = spiffeID
        self.chainFingerprints = chainDER.map { Fingerprint(der: $0) }
        self.leafFingerprint = chainFingerprints[0]
        self.chainSerials = chain.map { RevocationList.normalize(Array($0.serialNumber.bytes)) }
        self.notAfter = chain.map(\.notValidAfter).min()!
        self.notBefore = chain.map(\.notValidBefore).max()!
        self.publicKey = PeerPublicKey(chain[0].publicKey, scheme: scheme)
    }

    public var description: String { "\(spiffeID) (leaf sha256 \(leafFingerprint), valid until \(notAfter))" }
}
