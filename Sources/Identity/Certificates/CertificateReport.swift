import Foundation
import X509

/// Human-readable descriptions of certificates for `fabricauth cert inspect`.
public enum CertificateReport {
    /// One block of text per certificate.
    public static func describe(_ certificates: [Certificate], at time: Date = Date()) -> [String] {
        certificates.enumerated().map { position, certificate in
            var lines: [String] = []
            let role = (try? certificate.extensions.basicConstraints).flatMap { constraints -> String? in
                if case .isCertificateAuthority = constraints { return "CA" }
                return nil
            } ?? "leaf"
            lines.append("certificate \(position) (\(role))")
            lines.append("  subject:     \(certificate.subject)")
            lines.append("  issuer:      \(certificate.issuer)")
            lines.append("  serial:      \(Hex.encode(certificate.serialNumber.bytes))")
            lines.append("  sha256:      \(Fingerprint(der: CertificateParsing.der(certificate)))")
            lines.append("  not before:  \(certificate.notValidBefore)")
            let status =
                time > certificate.notValidAfter ? " (EXPIRED)"
                : time < certificate.notValidBefore ? " (NOT YET VALID)" : ""
            lines.append("  not after:   \(certificate.notValidAfter)\(status)")
            let keyName = (try? KeyType(certificate.publicKey).description) ?? KeyType.name(of: certificate.publicKey)
            lines.append("  key:         \(keyName)")
            lines.append("  signature:   \(certificate.signatureAlgorithm)")
            if let names = try? certificate.extensions.subjectAlternativeNames {
                for name in names {
                    if case .uniformResourceIdentifier(let uri) = name {
                        lines.append("  URI SAN:     \(SPIFFEID.quoted(uri))")
                    } else {
                        lines.append("  other SAN:   \(name)")
                    }
                }
            }
            if let constraints = try? certificate.extensions.basicConstraints {
                lines.append("  basic constraints: \(constraints)")
            }
            if let ext = certificate.extensions[oid: .X509ExtensionID.keyUsage], let usage = try? KeyUsage(ext) {
                lines.append("  key usage:   \(usage)\(ext.critical ? " (critical)" : " (NOT critical)")")
            }
            if let ext = certificate.extensions[oid: .X509ExtensionID.extendedKeyUsage],
                let usage = try? ExtendedKeyUsage(ext)
            {
                lines.append("  ext. key usage: \(usage)\(ext.critical ? " (critical)" : "")")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// The first X.509-SVID profile violation of a file's certificates, or nil.
    /// A file starting with a CA certificate that names no workload (no SPIFFE ID with a path)
    /// is checked as signing certificates only; anything else is checked as a leaf and its chain.
    public static func profileProblem(_ certificates: [Certificate]) -> Rejection? {
        guard let first = certificates.first else { return .emptyChain }
        if case .success(.isCertificateAuthority) = SVIDRules.basicConstraints(first, position: 0),
            case .failure = SVIDRules.spiffeID(of: first)
        {
            for (position, certificate) in certificates.enumerated() {
                if let problem = SVIDRules.checkSigning(certificate, position: position)
                    ?? SVIDRules.checkKeyType(certificate, position: position)
                {
                    return problem
                }
            }
            return nil
        }
        return SVIDPolicy.check(certificates)
    }
}
