import SwiftASN1
import X509

/// Verifier policy enforcing the X.509-SVID profile on a candidate chain:
/// X509-SVID §2 (one URI SAN, SPIFFE ID with non-root path), §4.1 (leaf not a CA,
/// signing certificates are CAs), §4.3 (keyUsage present and critical; digitalSignature
/// and no keyCertSign/cRLSign on the leaf; keyCertSign on signing certificates),
/// §4.4 (extendedKeyUsage, when present, allows serverAuth and clientAuth),
/// and FabricAuth's key types (Ed25519, P-256).
struct SVIDPolicy: VerifierPolicy {
    /// keyUsage and extendedKeyUsage are enforced here (X509-SVID §4.4 lets a leaf's EKU be
    /// critical, and swift-certificates 1.21's RFC5280Policy does not list it, so without this
    /// entry a critical EKU would fail as an unhandled critical extension); subjectAltName is
    /// understood (RFC 5280 §4.2.1.6 makes it critical when the subject is empty, as SVIDs from
    /// SPIRE often are).
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.keyUsage,
        .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectAlternativeName,
    ]
    let collector: RejectionCollector

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let rejection = Self.check(Array(chain)) {
            // Record now: the reason string is an autoclosure evaluated lazily, maybe never.
            let recorded = collector.record(rejection)
            return .failsToMeetPolicy(reason: recorded.description)
        }
        return .meetsPolicy
    }

    /// Checks a chain, leaf first; nil when it satisfies the profile.
    static func check(_ chain: [Certificate]) -> Rejection? {
        guard let leaf = chain.first else { return .emptyChain }
        if case .failure(let rejection) = SVIDRules.spiffeID(of: leaf) { return rejection }
        if let rejection = SVIDRules.checkLeaf(leaf) { return rejection }
        for (position, certificate) in chain.enumerated() {
            if position > 0, let rejection = SVIDRules.checkSigning(certificate, position: position) {
                return rejection
            }
            if let rejection = SVIDRules.checkKeyType(certificate, position: position) { return rejection }
        }
        return nil
    }
}
