import Foundation
import SwiftASN1
import X509

/// Verifier policy checking every certificate's validity period at a given time
/// (RFC 5280 §4.1.2.5, §6.1.3 (a)(2)), with a typed reason. RFC5280Policy checks the same
/// later; this one runs first so the caller learns *which* certificate and *which* bound.
struct ValidityPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    let time: Date
    let collector: RejectionCollector

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let rejection = Self.check(Array(chain), at: time) {
            // Record now: the reason string is an autoclosure evaluated lazily, maybe never.
            let recorded = collector.record(rejection)
            return .failsToMeetPolicy(reason: recorded.description)
        }
        return .meetsPolicy
    }

    static func check(_ chain: [Certificate], at time: Date) -> Rejection? {
        for (position, certificate) in chain.enumerated() {
            if time < certificate.notValidBefore {
                return .notYetValid(position: position, notBefore: certificate.notValidBefore)
            }
            if time > certificate.notValidAfter {
                return .expired(position: position, notAfter: certificate.notValidAfter)
            }
        }
        return nil
    }
}
