import Foundation
// The SPI turns RFC5280Policy's expiry check off: ValidityPolicy checks validity instead, at the
// caller's time (the handshake's injected time, not the wall clock) and with the configured
// clock-skew tolerance, which swift-certificates 1.21's ExpiryPolicy has no notion of.
@_spi(DisableValidityCheck) import X509

/// Authenticates a peer: takes the chain it presented (DER, leaf first) and a time, and
/// returns a verified ``WorkloadIdentity`` or the ``Rejection`` naming the rule that failed.
/// Authorization is separate: pass the identity to ``Policy/decide(peer:)``.
///
/// Order of checks:
/// 1. shape: non-empty, at most ``maximumChainLength``, every certificate parses, no repeats;
/// 2. the leaf's SPIFFE ID (X509-SVID §2) selects the trust bundle of its trust domain
///    (X509-SVID §5: a bundle vouches only for its own trust domain);
/// 3. swift-certificates builds candidate paths to a bundle anchor, checking signatures,
///    and runs the policies on each: chain length, validity (RFC 5280 §4.1.2.5, widened by
///    ``clockSkewTolerance``), the SVID profile (``SVIDPolicy``), the deny list, then
///    RFC5280Policy without its expiry check (version, basicConstraints, pathLenConstraint,
///    name constraints, critical extensions).
public struct IdentityVerifier: Sendable {
    /// Default bound on the built chain, leaf through anchor.
    public static let defaultMaximumChainLength = 5

    /// Bundles by trust domain.
    public let bundles: [String: TrustBundle]
    /// The live deny list.
    public let revocations: RevocationStore
    /// Longest chain accepted, leaf through anchor.
    public let maximumChainLength: Int
    /// How far, in seconds, the verification time may lie outside a certificate's
    /// notBefore..notAfter and still be accepted, to absorb clock differences between hosts.
    /// Applies to both bounds, every certificate in the chain, and ``recheck(_:at:)``.
    /// Default 0: exactly RFC 5280 §4.1.2.5 (notBefore through notAfter, inclusive).
    public let clockSkewTolerance: TimeInterval

    /// - Parameters:
    ///   - clockSkewTolerance: seconds, finite and not negative; see ``clockSkewTolerance``.
    ///     Every second of it lets an expired certificate be used a second longer, so keep it
    ///     to the skew your hosts' time synchronisation actually allows.
    public init(
        bundles: [TrustBundle],
        revocations: RevocationStore = RevocationStore(),
        maximumChainLength: Int = IdentityVerifier.defaultMaximumChainLength,
        clockSkewTolerance: TimeInterval = 0
    ) {
        precondition(maximumChainLength >= 2, "a chain needs at least a leaf and an anchor")
        precondition(clockSkewTolerance >= 0 && clockSkewTolerance.isFinite, "clock-skew tolerance must be finite and >= 0")
        var byDomain: [String: TrustBundle] = [:]
        for bundle in bundles {
            if let existing = byDomain[bundle.trustDomain] {
                // Two bundles for one domain are merged: both sets of CAs are trusted.
                // Both were validated already, so re-validation cannot fail.
                byDomain[bundle.trustDomain] = try! TrustBundle(
                    trustDomain: bundle.trustDomain, anchors: existing.anchors + bundle.anchors
                )
            } else {
                byDomain[bundle.trustDomain] = bundle
            }
        }
        self.bundles = byDomain
        self.revocations = revocations
        self.maximumChainLength = maximumChainLength
        self.clockSkewTolerance = clockSkewTolerance
    }

    /// Verifies a presented chain at `time`.
    public func verify(chain der: [[UInt8]], at time: Date) async -> VerificationOutcome {
        guard !der.isEmpty else { return .rejected(.emptyChain) }
        guard der.count <= maximumChainLength else {
            return .rejected(.chainTooLong(length: der.count, maximum: maximumChainLength))
        }
        var certificates: [Certificate] = []
        for (position, bytes) in der.enumerated() {
            do {
                certificates.append(try CertificateParsing.certificate(der: bytes))
            } catch {
                return .rejected(.malformedCertificate(position: position, error))
            }
        }
        for position in 1..<der.count where der[..<position].contains(der[position]) {
            return .rejected(.chainLoop(position: position))
        }
        return await verify(certificates, at: time)
    }

    /// Verifies parsed certificates (leaf first) at `time`.
    public func verify(_ certificates: [Certificate], at time: Date) async -> VerificationOutcome {
        guard let leaf = certificates.first else { return .rejected(.emptyChain) }
        let spiffeID: SPIFFEID
        switch SVIDRules.spiffeID(of: leaf) {
        case .failure(let rejection): return .rejected(rejection)
        case .success(let id): spiffeID = id
        }
        guard let bundle = bundles[spiffeID.trustDomain] else {
            return .rejected(.wrongTrustDomain(spiffeID: spiffeID, trusted: bundles.keys.sorted()))
        }
        let collector = RejectionCollector()
        let revocationList = revocations.list
        var verifier = Verifier(rootCertificates: bundle.store) {
            ChainLengthPolicy(maximum: maximumChainLength, collector: collector)
            ValidityPolicy(time: time, tolerance: clockSkewTolerance, collector: collector)
            SVIDPolicy(collector: collector)
            RevocationPolicy(list: revocationList, collector: collector)
            RFC5280Policy.withValidityCheckDisabled()
        }
        let result = await verifier.validate(
            leaf: leaf,
            intermediates: CertificateStore(certificates.dropFirst()),
            diagnosticCallback: nil
        )
        switch result {
        case .validCertificate(let chain):
            let built = Array(chain)
            let scheme = (try? KeyType(leaf.publicKey))?.signatureScheme ?? .ed25519  // checked by SVIDPolicy
            return .verified(WorkloadIdentity(
                spiffeID: spiffeID, chain: built, chainDER: built.map(CertificateParsing.der), scheme: scheme
            ))
        case .couldNotValidate(let failures):
            if let rejection = collector.first { return .rejected(rejection) }
            if let failure = failures.first { return .rejected(.rfc5280(failure.policyFailureReason.description)) }
            return .rejected(.untrusted(
                "no path from the leaf to a CA in the \"\(spiffeID.trustDomain)\" bundle (unknown issuer or bad signature)"
            ))
        }
    }

    /// Re-checks an identity verified earlier, for rekey and resumption: still within its
    /// validity period at `time` (with ``clockSkewTolerance``), its anchor still in the bundle,
    /// nothing in its chain revoked. Costs a few comparisons and hash lookups; no signature is
    /// re-verified.
    public func recheck(_ identity: WorkloadIdentity, at time: Date) -> Rejection? {
        if let rejection = ValidityPolicy.check(
            notBefore: identity.notBefore, notAfter: identity.notAfter, position: 0, at: time,
            tolerance: clockSkewTolerance
        ) {
            return rejection
        }
        guard let bundle = bundles[identity.spiffeID.trustDomain] else {
            return .wrongTrustDomain(spiffeID: identity.spiffeID, trusted: bundles.keys.sorted())
        }
        guard bundle.anchorFingerprints.contains(identity.anchorFingerprint) else {
            return .anchorRemoved(identity.anchorFingerprint)
        }
        return revocations.check(identity)
    }
}
