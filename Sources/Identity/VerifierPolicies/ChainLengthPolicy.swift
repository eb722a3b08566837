import SwiftASN1
import X509

/// Verifier policy bounding the built chain's length (leaf through trust anchor), so a
/// peer cannot make us walk long chains; RFC 5280 §4.2.1.9 pathLenConstraint is still
/// enforced by RFC5280Policy on top.
struct ChainLengthPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    let maximum: Int
    let collector: RejectionCollector

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        guard chain.count <= maximum else {
            // Record now: the reason string is an autoclosure evaluated lazily, maybe never.
            let recorded = collector.record(.chainTooLong(length: chain.count, maximum: maximum))
            return .failsToMeetPolicy(reason: recorded.description)
        }
        return .meetsPolicy
    }
}
