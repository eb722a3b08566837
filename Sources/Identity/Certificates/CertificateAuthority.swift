import Crypto
import Foundation
import SwiftASN1
import X509

/// FabricAuth's small CA, for clusters with no PKI (as nebula-cert is for Nebula).
///
/// It issues certificates that follow the X.509-SVID profile: a self-signed root
/// (or an intermediate) carrying `spiffe://trust-domain` and keyCertSign, and leaves with
/// exactly one SPIFFE URI SAN, cA=FALSE and a critical digitalSignature keyUsage.
public struct CertificateAuthority: Sendable {
    /// Default leaf lifetime: short, so a leaked key ages out quickly.
    public static let defaultLeafTTL: TimeInterval = 24 * 3600
    /// Default CA lifetime.
    public static let defaultCATTL: TimeInterval = 365 * 24 * 3600
    /// How far back notBefore is set, to tolerate clock skew between nodes.
    public static let backdate: TimeInterval = 60

    /// The CA certificate.
    public let certificate: Certificate
    /// The chain above the CA's certificate to include in issued chains (empty for a root).
    public let chainAbove: [Certificate]
    /// The trust domain it issues for.
    public let trustDomain: String
    let privateKey: Certificate.PrivateKey

    /// Uses an existing CA certificate and key (e.g. `ca.pem`, `ca.key`).
    public init(certificate: Certificate, chainAbove: [Certificate] = [], privateKey: Certificate.PrivateKey) throws(IdentityError) {
        if let problem = SVIDRules.checkSigning(certificate, position: 0) {
            throw IdentityError(.invalidCACertificate, "cannot issue with this certificate: \(problem)")
        }
        _ = try KeyType(privateKey.publicKey)
        guard privateKey.publicKey == certificate.publicKey else {
            throw IdentityError(.keyMismatch, "CA private key does not match the CA certificate's public key")
        }
        self.certificate = certificate
        self.chainAbove = chainAbove
        self.privateKey = privateKey
        self.trustDomain = Self.trustDomain(of: certificate) ?? ""
    }

    /// Loads a CA from its certificate file (CA first, then any chain above) and key file.
    public init(certificatePath: String, keyPath: String, trustDomain: String? = nil) throws(IdentityError) {
        let certificates = try CertificateParsing.certificates(atPath: certificatePath)
        let key: Certificate.PrivateKey
        do {
            key = try PrivateKeyParsing.privateKey(pemOrDER: PrivateKeyFile.read(keyPath))
        } catch {
            throw IdentityError(error.code, "\(keyPath): \(error.message)")
        }
        try self.init(certificate: certificates[0], chainAbove: Array(certificates.dropFirst()), privateKey: key)
        if let trustDomain {
            _ = try SPIFFEID(trustDomain: trustDomain)
            self = CertificateAuthority(self, trustDomain: trustDomain)
        } else if self.trustDomain.isEmpty {
            throw IdentityError(
                .invalidCACertificate,
                "\(certificatePath) names no trust domain (no spiffe:// URI SAN); pass the trust domain explicitly"
            )
        }
    }

    private init(_ other: CertificateAuthority, trustDomain: String) {
        self.certificate = other.certificate
        self.chainAbove = other.chainAbove
        self.privateKey = other.privateKey
        self.trustDomain = trustDomain
    }

    /// Makes a new self-signed root CA for `trustDomain`.
    public static func create(
        trustDomain: String,
        keyType: KeyType = .ed25519,
        ttl: TimeInterval = defaultCATTL,
        now: Date = Date(),
        name: String? = nil
    ) throws(IdentityError) -> (authority: CertificateAuthority, privateKey: Certificate.PrivateKey) {
        let domainID = try SPIFFEID(trustDomain: trustDomain)
        let key = keyType.generate()
        let subject = try distinguishedName(commonName: name ?? "FabricAuth CA \(trustDomain)")
        let certificate = try build(
            publicKey: key.publicKey, subject: subject, issuer: subject, issuerKey: key,
            authorityKeyID: nil, now: now, ttl: ttl, maxPathLength: nil, uri: domainID
        )
        return (try CertificateAuthority(certificate: certificate, privateKey: key), key)
    }

    /// Issues an intermediate CA below this one (same trust domain).
    public func issueIntermediate(
        keyType: KeyType = .ed25519, ttl: TimeInterval, now: Date = Date(), name: String? = nil
    ) throws(IdentityError) -> (authority: CertificateAuthority, privateKey: Certificate.PrivateKey) {
        let key = keyType.generate()
        try checkFits(now: now, ttl: ttl)
        let certificate = try Self.build(
            publicKey: key.publicKey,
            subject: try Self.distinguishedName(commonName: name ?? "FabricAuth intermediate CA \(trustDomain)"),
            issuer: self.certificate.subject, issuerKey: privateKey,
            authorityKeyID: self.certificate.publicKey, now: now, ttl: ttl, maxPathLength: 0,
            uri: try SPIFFEID(trustDomain: trustDomain)
        )
        let chain = [self.certificate] + chainAbove
        return (try CertificateAuthority(certificate: certificate, chainAbove: chain, privateKey: key), key)
    }

    /// Issues a leaf X.509-SVID for `id` with the given public key; returns the chain (leaf, then
    /// this CA and any intermediates, without the root) ready to write to a certificate file.
    public func issue(
        id: SPIFFEID, publicKey: Certificate.PublicKey, ttl: TimeInterval = defaultLeafTTL, now: Date = Date()
    ) throws(IdentityError) -> [Certificate] {
        let id = try id.requiringWorkload()
        guard id.trustDomain == trustDomain else {
            throw IdentityError(
                .invalidSPIFFEID, "\(id) is not in this CA's trust domain \"\(trustDomain)\" (X509-SVID §5)"
            )
        }
        _ = try KeyType(publicKey)
        try checkFits(now: now, ttl: ttl)
        let leaf = try Self.build(
            publicKey: publicKey, subject: try Self.distinguishedName(commonName: nil),
            issuer: certificate.subject, issuerKey: privateKey, authorityKeyID: certificate.publicKey,
            now: now, ttl: ttl, maxPathLength: nil, uri: id, isCA: false
        )
        let isSelfSigned = certificate.subject == certificate.issuer
        return [leaf] + (isSelfSigned ? [] : [certificate] + chainAbove.filter { $0.subject != $0.issuer })
    }

    /// The certificate chain to write next to a leaf key, plus a new key of `keyType`.
    public func issue(
        id: SPIFFEID, keyType: KeyType = .ed25519, ttl: TimeInterval = defaultLeafTTL, now: Date = Date()
    ) throws(IdentityError) -> (chain: [Certificate], privateKey: Certificate.PrivateKey) {
        let key = keyType.generate()
        return (try issue(id: id, publicKey: key.publicKey, ttl: ttl, now: now), key)
    }

    private func checkFits(now: Date, ttl: TimeInterval) throws(IdentityError) {
        guard ttl > 0 else { throw IdentityError(.invalidDuration, "lifetime must be positive") }
        guard now.addingTimeInterval(ttl) <= certificate.notValidAfter else {
            throw IdentityError(
                .issuance,
                "lifetime would end after the CA expires (\(certificate.notValidAfter)); shorten --ttl or renew the CA"
            )
        }
        guard now >= certificate.notValidBefore.addingTimeInterval(-Self.backdate) else {
            throw IdentityError(.issuance, "CA is not valid before \(certificate.notValidBefore)")
        }
    }

    static func distinguishedName(commonName: String?) throws(IdentityError) -> DistinguishedName {
        do {
            return try DistinguishedName {
                OrganizationName("FabricAuth")
                if let commonName { CommonName(String(commonName.prefix(64))) }
            }
        } catch {
            throw IdentityError(.issuance, "cannot build subject name: \(error)")
        }
    }

    static func build(
        publicKey: Certificate.PublicKey, subject: DistinguishedName, issuer: DistinguishedName,
        issuerKey: Certificate.PrivateKey, authorityKeyID: Certificate.PublicKey?, now: Date, ttl: TimeInterval,
        maxPathLength: Int?, uri: SPIFFEID, isCA: Bool = true
    ) throws(IdentityError) -> Certificate {
        do {
            let extensions = try Certificate.Extensions {
                // X509-SVID §4.1 / RFC 5280 §4.2.1.9: cA TRUE on signing certificates, FALSE on leaves.
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: maxPathLength)
                              : BasicConstraints.notCertificateAuthority)
                // X509-SVID §4.3: keyUsage critical; keyCertSign on signing certificates,
                // digitalSignature (only) on leaves.
                Critical(isCA ? KeyUsage(keyCertSign: true, cRLSign: true) : KeyUsage(digitalSignature: true))
                if !isCA {
                    // X509-SVID §4.4: leaves used for both ends of a handshake carry both purposes.
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                }
                // X509-SVID §2 (leaf: the workload's ID) and §3 (signing certificate: the trust domain's ID).
                SubjectAlternativeNames([.uniformResourceIdentifier(uri.description)])
                SubjectKeyIdentifier(hash: publicKey)
                if let authorityKeyID {
                    AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: authorityKeyID).keyIdentifier)
                }
            }
            return try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(bytes: randomSerial()),
                publicKey: publicKey,
                notValidBefore: now.addingTimeInterval(-backdate),
                notValidAfter: now.addingTimeInterval(ttl),
                issuer: issuer,
                subject: subject,
                signatureAlgorithm: try KeyType(issuerKey.publicKey).signatureScheme.certificateAlgorithm,
                extensions: extensions,
                issuerPrivateKey: issuerKey
            )
        } catch let error as IdentityError {
            throw error
        } catch {
            throw IdentityError(.issuance, "cannot build certificate: \(error)")
        }
    }

    /// 16 random bytes, high bit clear so the DER INTEGER is positive (RFC 5280 §4.1.2.2).
    static func randomSerial() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0x7F) | 0x01
        return bytes
    }

    /// The trust domain named by a CA's `spiffe://domain` URI SAN, if it has one.
    static func trustDomain(of certificate: Certificate) -> String? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        for case .uniformResourceIdentifier(let uri) in names {
            if let id = try? SPIFFEID(uri) { return id.trustDomain }
        }
        return nil
    }
}
