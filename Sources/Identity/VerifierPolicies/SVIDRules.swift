import SwiftASN1
import X509

/// The X.509-SVID rules (SPIFFE X509-SVID.md) as plain functions over parsed certificates,
/// shared by ``SVIDPolicy`` (during chain validation), ``Credential`` and `cert inspect`.
///
/// swift-certificates' RFC5280Policy lists keyUsage as understood but does not enforce it,
/// and has no URI SAN rule; these functions are where FabricAuth enforces both.
enum SVIDRules {
    /// X509-SVID §2: exactly one URI SAN, a SPIFFE ID with a non-root path.
    static func spiffeID(of leaf: Certificate) -> Result<SPIFFEID, Rejection> {
        let names: SubjectAlternativeNames?
        do {
            names = try leaf.extensions.subjectAlternativeNames
        } catch {
            return .failure(.malformedCertificate(
                position: 0, IdentityError(.malformedDER, "subjectAltName extension cannot be decoded (RFC 5280 §4.2.1.6)")
            ))
        }
        var uris: [String] = []
        for name in names ?? SubjectAlternativeNames() {
            if case .uniformResourceIdentifier(let uri) = name { uris.append(uri) }
        }
        guard uris.count <= 1 else { return .failure(.uriSANDuplicated(count: uris.count)) }
        guard let uri = uris.first else { return .failure(.uriSANMissing) }
        do {
            return .success(try SPIFFEID(uri).requiringWorkload())
        } catch {
            return .failure(.invalidSPIFFEID(error.message))
        }
    }

    /// X509-SVID §4.1 and §4.3 for the leaf: not a CA; keyUsage present, critical,
    /// with digitalSignature and without keyCertSign/cRLSign.
    static func checkLeaf(_ leaf: Certificate) -> Rejection? {
        switch basicConstraints(leaf, position: 0) {
        case .failure(let rejection): return rejection
        case .success(.isCertificateAuthority): return .leafIsCA
        case .success: break
        }
        switch keyUsage(leaf, position: 0) {
        case .failure(let rejection): return rejection
        case .success(let usage):
            guard usage.digitalSignature else { return .leafLacksDigitalSignature }
            guard !usage.keyCertSign, !usage.cRLSign else { return .leafHasCertSign }
        }
        return nil
    }

    /// X509-SVID §4.1 and §4.3 for a signing certificate (intermediate or root):
    /// cA=TRUE, keyUsage present, critical, with keyCertSign.
    static func checkSigning(_ certificate: Certificate, position: Int) -> Rejection? {
        switch basicConstraints(certificate, position: position) {
        case .failure(let rejection): return rejection
        case .success(.isCertificateAuthority): break
        case .success: return .signingCertificateNotCA(position: position)
        }
        switch keyUsage(certificate, position: position) {
        case .failure(let rejection): return rejection
        case .success(let usage):
            guard usage.keyCertSign else { return .signingCertificateLacksKeyCertSign(position: position) }
        }
        return nil
    }

    /// Only Ed25519 and ECDSA P-256 keys anywhere in the chain.
    static func checkKeyType(_ certificate: Certificate, position: Int) -> Rejection? {
        do {
            _ = try KeyType(certificate.publicKey)
            return nil
        } catch {
            return .unsupportedKeyType(position: position, KeyType.name(of: certificate.publicKey))
        }
    }

    /// Absent basicConstraints means "not a CA" (RFC 5280 §4.2.1.9).
    static func basicConstraints(_ certificate: Certificate, position: Int) -> Result<BasicConstraints, Rejection> {
        do {
            return .success(try certificate.extensions.basicConstraints ?? .notCertificateAuthority)
        } catch {
            return .failure(.malformedCertificate(
                position: position,
                IdentityError(.malformedDER, "basicConstraints cannot be decoded (RFC 5280 §4.2.1.9)")
            ))
        }
    }

    /// keyUsage must be present and critical (X509-SVID §4.3).
    static func keyUsage(_ certificate: Certificate, position: Int) -> Result<KeyUsage, Rejection> {
        guard let ext = certificate.extensions[oid: .X509ExtensionID.keyUsage] else {
            return .failure(.keyUsageMissing(position: position))
        }
        guard ext.critical else { return .failure(.keyUsageNotCritical(position: position)) }
        do {
            return .success(try KeyUsage(ext))
        } catch {
            return .failure(.malformedCertificate(
                position: position, IdentityError(.malformedDER, "keyUsage cannot be decoded (RFC 5280 §4.2.1.3)")
            ))
        }
    }
}
