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

    /// X509-SVID §4.1, §4.3 and §4.4 for the leaf: not a CA; keyUsage present, critical,
    /// with digitalSignature and without keyCertSign/cRLSign; extendedKeyUsage, if present,
    /// with serverAuth and clientAuth.
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
        return checkExtendedKeyUsage(leaf, position: 0)
    }

    /// X509-SVID §4.1, §4.3 and §4.4 for a signing certificate (intermediate or root):
    /// cA=TRUE, keyUsage present, critical, with keyCertSign; extendedKeyUsage, if present,
    /// allowing serverAuth and clientAuth (or anyExtendedKeyUsage).
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
        return checkExtendedKeyUsage(certificate, position: position)
    }

    /// X509-SVID §4.4: "Leaf SVIDs SHOULD include this extension, and it MAY be marked as
    /// critical. When included, fields id-kp-serverAuth and id-kp-clientAuth MUST be set."
    ///
    /// The role in use: FabricAuth's handshake is symmetric, one credential serves a workload
    /// both as initiator (the client of a connection) and as responder (its server), and the
    /// verifier is not told which role the peer has taken. So both purposes are required, on
    /// every certificate that carries the extension. An absent extension restricts nothing
    /// (RFC 5280 §4.2.1.12). The leaf must name both purposes itself, as §4.4 says;
    /// anyExtendedKeyUsage does not stand in for them there. On a signing certificate,
    /// anyExtendedKeyUsage is accepted: §4.4 lets CAs carry the extension and notes that
    /// libraries differ in whether a CA's EKU restricts the certificates below it; FabricAuth
    /// does restrict (as Go's crypto/x509 does), so a CA limited to one purpose cannot issue
    /// usable FabricAuth leaves, and says so instead of failing later.
    static func checkExtendedKeyUsage(_ certificate: Certificate, position: Int) -> Rejection? {
        guard let ext = certificate.extensions[oid: .X509ExtensionID.extendedKeyUsage] else { return nil }
        let usages: ExtendedKeyUsage
        do {
            usages = try ExtendedKeyUsage(ext)
        } catch {
            return .malformedCertificate(
                position: position,
                IdentityError(.malformedDER, "extendedKeyUsage cannot be decoded (RFC 5280 §4.2.1.12): \(error)")
            )
        }
        if position > 0, usages.contains(.any) { return nil }
        var missing: [String] = []
        if !usages.contains(.serverAuth) { missing.append("id-kp-serverAuth") }
        if !usages.contains(.clientAuth) { missing.append("id-kp-clientAuth") }
        return missing.isEmpty ? nil : .extendedKeyUsageDisallowsRole(position: position, missing: missing)
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
