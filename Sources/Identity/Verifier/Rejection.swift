import Foundation

/// Why a peer's certificate chain was not accepted. Each case names the rule that failed
/// (``rule``) and says why in words (``description``) for logs.
///
/// `position` is the index in the chain as built: 0 is the leaf, the last is the trust anchor.
public enum Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer sent no certificate.
    case emptyChain
    /// A presented certificate could not be parsed (bad DER, duplicate extension, ...).
    case malformedCertificate(position: Int, IdentityError)
    /// More certificates than ``IdentityVerifier/maximumChainLength`` allows.
    case chainTooLong(length: Int, maximum: Int)
    /// The presented chain repeats a certificate (a loop).
    case chainLoop(position: Int)
    /// No path from the leaf to a certificate in the trust bundle (unknown CA, bad signature).
    case untrusted(String)
    /// The leaf's SPIFFE ID is in a trust domain we have no bundle for.
    case wrongTrustDomain(spiffeID: SPIFFEID, trusted: [String])
    /// A certificate's notAfter is before the verification time (RFC 5280 §4.1.2.5).
    case expired(position: Int, notAfter: Date)
    /// A certificate's notBefore is after the verification time (RFC 5280 §4.1.2.5).
    case notYetValid(position: Int, notBefore: Date)
    /// The leaf has no URI SAN (X509-SVID §2).
    case uriSANMissing
    /// The leaf has more than one URI SAN (X509-SVID §2).
    case uriSANDuplicated(count: Int)
    /// The URI SAN is not a valid SVID SPIFFE ID (SPIFFE-ID §2, X509-SVID §2).
    case invalidSPIFFEID(String)
    /// The leaf is a CA certificate (X509-SVID §4.1).
    case leafIsCA
    /// A certificate has no keyUsage extension (X509-SVID §4.3).
    case keyUsageMissing(position: Int)
    /// A certificate's keyUsage is not marked critical (X509-SVID §4.3).
    case keyUsageNotCritical(position: Int)
    /// The leaf's keyUsage lacks digitalSignature (X509-SVID §4.3).
    case leafLacksDigitalSignature
    /// The leaf's keyUsage sets keyCertSign or cRLSign (X509-SVID §4.3).
    case leafHasCertSign
    /// A signing certificate lacks keyCertSign (X509-SVID §4.3, RFC 5280 §4.2.1.3).
    case signingCertificateLacksKeyCertSign(position: Int)
    /// A signing certificate is not a CA (X509-SVID §4.1, RFC 5280 §4.2.1.9).
    case signingCertificateNotCA(position: Int)
    /// A certificate's extendedKeyUsage does not allow both purposes FabricAuth uses a workload
    /// key for (X509-SVID §4.4); `missing` names the absent purposes (`id-kp-serverAuth`, `id-kp-clientAuth`).
    case extendedKeyUsageDisallowsRole(position: Int, missing: [String])
    /// A key other than Ed25519 or ECDSA P-256.
    case unsupportedKeyType(position: Int, String)
    /// A certificate in the chain is on the deny list.
    case revoked(position: Int, fingerprint: Fingerprint, entry: String)
    /// The trust anchor the identity was verified under is no longer in the bundle (rollover finished).
    case anchorRemoved(Fingerprint)
    /// Another RFC 5280 path-validation rule failed (path length, name constraints, unknown critical extension).
    case rfc5280(String)

    /// A stable short name of the rule that failed, for logs and metrics.
    public var rule: String {
        switch self {
        case .emptyChain: "chain.empty"
        case .malformedCertificate: "certificate.malformed"
        case .chainTooLong: "chain.too-long"
        case .chainLoop: "chain.loop"
        case .untrusted: "chain.untrusted"
        case .wrongTrustDomain: "svid.trust-domain"
        case .expired: "validity.expired"
        case .notYetValid: "validity.not-yet-valid"
        case .uriSANMissing: "svid.uri-san-missing"
        case .uriSANDuplicated: "svid.uri-san-duplicated"
        case .invalidSPIFFEID: "svid.spiffe-id"
        case .leafIsCA: "svid.leaf-is-ca"
        case .keyUsageMissing: "svid.key-usage-missing"
        case .keyUsageNotCritical: "svid.key-usage-not-critical"
        case .leafLacksDigitalSignature: "svid.leaf-digital-signature"
        case .leafHasCertSign: "svid.leaf-cert-sign"
        case .signingCertificateLacksKeyCertSign: "svid.signing-key-cert-sign"
        case .signingCertificateNotCA: "svid.signing-not-ca"
        case .extendedKeyUsageDisallowsRole: "svid.extended-key-usage"
        case .unsupportedKeyType: "key.unsupported-type"
        case .revoked: "revocation.revoked"
        case .anchorRemoved: "trust.anchor-removed"
        case .rfc5280: "rfc5280"
        }
    }

    public var description: String {
        let reason: String =
            switch self {
            case .emptyChain: "peer presented no certificate"
            case .malformedCertificate(let position, let error):
                "certificate \(position) is malformed: \(error.message)"
            case .chainTooLong(let length, let maximum):
                "chain has \(length) certificates; at most \(maximum) are allowed"
            case .chainLoop(let position): "certificate \(position) repeats an earlier certificate in the chain"
            case .untrusted(let detail): "no chain to a trusted CA: \(detail)"
            case .wrongTrustDomain(let id, let trusted):
                "trust domain \"\(id.trustDomain)\" of \(id) is not trusted (trusted: \(trusted.joined(separator: ", ")))"
            case .expired(let position, let notAfter):
                "certificate \(position) expired at \(notAfter) (RFC 5280 §4.1.2.5)"
            case .notYetValid(let position, let notBefore):
                "certificate \(position) is not valid before \(notBefore) (RFC 5280 §4.1.2.5)"
            case .uriSANMissing: "leaf has no URI subjectAltName; an X.509-SVID needs exactly one (X509-SVID §2)"
            case .uriSANDuplicated(let count):
                "leaf has \(count) URI subjectAltNames; an X.509-SVID needs exactly one (X509-SVID §2)"
            case .invalidSPIFFEID(let detail): detail
            case .leafIsCA: "leaf certificate is a CA (basicConstraints cA=TRUE); X509-SVID §4.1 forbids it"
            case .keyUsageMissing(let position):
                "certificate \(position) has no keyUsage extension (X509-SVID §4.3)"
            case .keyUsageNotCritical(let position):
                "certificate \(position) has a keyUsage extension not marked critical (X509-SVID §4.3)"
            case .leafLacksDigitalSignature: "leaf keyUsage lacks digitalSignature (X509-SVID §4.3)"
            case .leafHasCertSign: "leaf keyUsage sets keyCertSign or cRLSign (X509-SVID §4.3)"
            case .signingCertificateLacksKeyCertSign(let position):
                "signing certificate \(position) keyUsage lacks keyCertSign (X509-SVID §4.3, RFC 5280 §4.2.1.3)"
            case .signingCertificateNotCA(let position):
                "signing certificate \(position) is not a CA (basicConstraints cA must be TRUE; RFC 5280 §4.2.1.9)"
            case .extendedKeyUsageDisallowsRole(let position, let missing):
                "certificate \(position) has an extendedKeyUsage without \(missing.joined(separator: " and ")); "
                    + "every FabricAuth peer acts as both client and server, so both id-kp-serverAuth and "
                    + "id-kp-clientAuth must be set when the extension is present (X509-SVID §4.4)"
            case .unsupportedKeyType(let position, let name):
                "certificate \(position) has \(name); FabricAuth accepts Ed25519 and ECDSA P-256"
            case .revoked(let position, let fingerprint, let entry):
                "certificate \(position) (sha256 \(fingerprint)) is revoked by deny-list entry \"\(entry)\""
            case .anchorRemoved(let fingerprint): "trust anchor sha256 \(fingerprint) was removed from the bundle"
            case .rfc5280(let detail): "RFC 5280 path validation failed: \(detail)"
            }
        return "[\(rule)] \(reason)"
    }
}
