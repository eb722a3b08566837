import Handshake
import Identity

/// A peer whose X.509-SVID chain ``CertificatePeerVerifier`` accepted, as the
/// handshake sees it. Callers get the full ``WorkloadIdentity`` back through
/// ``workload`` (e.g. from `HandshakeResult.peer as? VerifiedWorkload`).
public struct VerifiedWorkload: VerifiedPeer {
    public let workload: WorkloadIdentity

    public var identity: String { workload.spiffeID.description }

    public var notAfter: Timestamp { Timestamp(workload.notAfter) }

    public func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        // The algorithm byte comes from the peer; it must match the certificate's
        // key, or a P-256 key could be asked to check an Ed25519-shaped signature.
        guard algorithm == SignatureAlgorithm(workload.publicKey.scheme) else { return false }
        return workload.publicKey.isValidSignature(signature, for: message)
    }
}
