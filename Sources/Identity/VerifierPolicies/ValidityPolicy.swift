import Foundation
import SwiftASN1
import X509

/// Verifier policy checking every certificate's validity period at a given time
/// (RFC 5280 §4.1.2.5, §6.1.3 (a)(2)), with a typed reason, widened on both sides by the
/// verifier's clock-skew tolerance. It is the only validity check in the chain: the verifier
/// turns RFC5280Policy's own expiry check off, which could not honour a tolerance.
struct ValidityPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    let time: Date
    let tolerance: TimeInterval
    let collector: RejectionCollector

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let rejection = Self.check(Array(chain), at: time, tolerance: tolerance) {
            // Record now: the reason string is an autoclosure evaluated lazily, maybe never.
            let recorded = collector.record(rejection)
            return .failsToMeetPolicy(reason: recorded.description)
        }
        return .meetsPolicy
    }

    /// RFC 5280 §4.1.2.5: valid "from notBefore through notAfter, inclusive". A certificate is
    /// accepted when `notBefore - tolerance <= time <= notAfter + tolerance`.
    static func check(_ chain: [Certificate], at time: Date, tolerance: TimeInterval) -> Rejection? {
        for (position, certificate) in chain.enumerated() {
            // The tolerance must not make an inverted period acceptable (swift-certificates'
            // ExpiryPolicy refuses these too, and it is switched off).
            guard certificate.notValidBefore <= certificate.notValidAfter else {
                return .rfc5280("certificate \(position) has notAfter earlier than notBefore (RFC 5280 §4.1.2.5)")
            }
            if let rejection = check(notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter,
                                     position: position, at: time, tolerance: tolerance)
            {
                return rejection
            }
        }
        return nil
    }

    /// The one comparison used by verification and by ``IdentityVerifier/recheck(_:at:)``.
    static func check(
        notBefore: Date, notAfter: Date, position: Int, at time: Date, tolerance: TimeInterval
    ) -> Rejection? {
        if time < notBefore.addingTimeInterval(-tolerance) { return .notYetValid(position: position, notBefore: notBefore) }
        if time > notAfter.addingTimeInterval(tolerance) { return .expired(position: position, notAfter: notAfter) }
        return nil
    }
}
