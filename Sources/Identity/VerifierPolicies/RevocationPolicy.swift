import SwiftASN1
import X509

/// Verifier policy rejecting a chain if any certificate in it, leaf, intermediate or
/// trust anchor, is on the deny list: revoking a CA revokes everything under it.
struct RevocationPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    let list: RevocationList
    let collector: RejectionCollector

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let fingerprints = chain.map { Fingerprint(der: CertificateParsing.der($0)) }
        let serials = chain.map { Array($0.serialNumber.bytes) }
        if let rejection = list.check(fingerprints: fingerprints, serials: serials) {
            // Record now: the reason string is an autoclosure evaluated lazily, maybe never.
            let recorded = collector.record(rejection)
            return .failsToMeetPolicy(reason: recorded.description)
        }
        return .meetsPolicy
    }
}
