import Foundation

/// Where a long-running process reads who it is, whom it trusts and whom it allows, each a
/// source that may reload while the process runs (``ReloadableFile``). Connection set-up
/// reads the newest values at each handshake (``credential``, ``verifier()``, ``policy``),
/// and live channels recheck their peers against them.
public struct IdentitySources: Sendable {
    /// This workload's certificate chain and key.
    public var credentialSource: CredentialSource
    /// The trust bundles (one per trust domain, or several merged for one).
    public var bundleSources: [TrustBundleSource]
    /// The deny list.
    public var revocations: RevocationStore
    /// Which verified peers may connect.
    public var policySource: PolicyStore
    /// As ``IdentityVerifier/maximumChainLength``.
    public var maximumChainLength = IdentityVerifier.defaultMaximumChainLength
    /// As ``IdentityVerifier/clockSkewTolerance``.
    public var clockSkewTolerance: TimeInterval = 0

    public init(
        credential: CredentialSource, bundles: [TrustBundleSource], revocations: RevocationStore = RevocationStore(),
        policy: PolicyStore
    ) {
        self.credentialSource = credential
        self.bundleSources = bundles
        self.revocations = revocations
        self.policySource = policy
    }

    /// The credential in force now.
    public var credential: Credential { credentialSource.value }

    /// The policy in force now.
    public var policy: Policy { policySource.value }

    /// A verifier over the bundles in force now and the live deny list (merging bundles costs
    /// a few allocations: once per handshake or recheck, never per message).
    public func verifier() -> IdentityVerifier {
        IdentityVerifier(bundles: bundleSources.map(\.value), revocations: revocations,
            maximumChainLength: maximumChainLength, clockSkewTolerance: clockSkewTolerance)
    }
}
