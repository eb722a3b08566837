import X509

/// The CA certificates trusted to vouch for one trust domain (a SPIFFE bundle, X509-SVID §5.1).
///
/// Holds several CAs at once so a CA can be rolled over without downtime: add the new CA,
/// reissue leaves, then drop the old CA. A bundle may also pin an intermediate CA.
public struct TrustBundle: Sendable {
    /// The trust domain whose SVIDs these CAs sign.
    public let trustDomain: String
    /// The trust anchors.
    public let anchors: [Certificate]
    /// Their fingerprints, for ``IdentityVerifier/recheck(_:at:)``.
    public let anchorFingerprints: Set<Fingerprint>
    let store: CertificateStore

    /// A bundle of `anchors` for `trustDomain`; every anchor must be a CA with keyCertSign
    /// (RFC 5280 §4.2.1.9, X509-SVID §4.3) and an Ed25519 or P-256 key.
    public init(trustDomain: String, anchors: [Certificate]) throws(IdentityError) {
        _ = try SPIFFEID(trustDomain: trustDomain)
        guard !anchors.isEmpty else {
            throw IdentityError(.empty, "trust bundle for \(trustDomain) has no CA certificate")
        }
        for (index, anchor) in anchors.enumerated() {
            if let problem = SVIDRules.checkSigning(anchor, position: 0) ?? SVIDRules.checkKeyType(anchor, position: 0) {
                throw IdentityError(
                    .invalidCACertificate,
                    "bundle certificate \(index) (\(anchor.subject)) cannot be a trust anchor: \(problem)"
                )
            }
        }
        self.trustDomain = trustDomain
        self.anchors = anchors
        self.anchorFingerprints = Set(anchors.map { Fingerprint(der: CertificateParsing.der($0)) })
        self.store = CertificateStore(anchors)
    }

    /// A bundle from PEM text holding one or more CA certificates.
    public init(trustDomain: String, pem: [UInt8]) throws(IdentityError) {
        try self.init(trustDomain: trustDomain, anchors: CertificateParsing.certificates(pemOrDER: pem))
    }

    /// A bundle from one or more PEM files (e.g. old-ca.pem and new-ca.pem during a rollover).
    public init(trustDomain: String, paths: [String]) throws(IdentityError) {
        var anchors: [Certificate] = []
        for path in paths {
            anchors += try CertificateParsing.certificates(atPath: path)
        }
        try self.init(trustDomain: trustDomain, anchors: anchors)
    }
}

extension TrustBundle {
    /// A bundle from PEM files whose trust domain is `trustDomain`, or, when nil, the one the
    /// CAs declare in their `spiffe://domain` URI SAN (X509-SVID §3); they must agree.
    public init(trustDomain: String?, paths: [String]) throws(IdentityError) {
        var anchors: [Certificate] = []
        for path in paths {
            anchors += try CertificateParsing.certificates(atPath: path)
        }
        let domain: String
        if let trustDomain { domain = trustDomain } else { domain = try Self.declaredTrustDomain(of: anchors) }
        try self.init(trustDomain: domain, anchors: anchors)
    }

    /// The single trust domain named by the CAs' SPIFFE URI SANs.
    public static func declaredTrustDomain(of anchors: [Certificate]) throws(IdentityError) -> String {
        let domains = Set(anchors.compactMap(CertificateAuthority.trustDomain(of:)))
        guard domains.count == 1, let domain = domains.first else {
            throw IdentityError(
                .invalidCACertificate,
                domains.isEmpty
                    ? "the bundle's CAs name no trust domain (no spiffe:// URI SAN); give the trust domain explicitly (--trust-domain)"
                    : "the bundle's CAs name several trust domains (\(domains.sorted().joined(separator: ", "))); give one explicitly (--trust-domain)"
            )
        }
        return domain
    }
}
