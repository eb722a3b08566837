import Foundation

/// Where a long-running process reads who it is, whom it trusts and whom it allows, each a
/// source that may reload while the process runs (``ReloadableFile``). Connection set-up
/// reads the newest values at each handshake (``credential``, ``verifier()``, ``policy``),
/// and live channels recheck their peers against them.
public struct IdentitySources: Sendable {
    /// This workload's certificate chain and key.
    public var credentialSource: CredentialSource
    /// The trust bundles (one per trust domain, or several merged for one).
    public var bundleSources: [TrustBundleSource] { didSet { merged = MergedVerifier() } }
    /// The deny list.
    public var revocations: RevocationStore { didSet { merged = MergedVerifier() } }
    /// Which verified peers may connect.
    public var policySource: PolicyStore
    /// As ``IdentityVerifier/maximumChainLength``.
    public var maximumChainLength = IdentityVerifier.defaultMaximumChainLength { didSet { merged = MergedVerifier() } }
    /// As ``IdentityVerifier/clockSkewTolerance``.
    public var clockSkewTolerance: TimeInterval = 0 { didSet { merged = MergedVerifier() } }
    /// What ``verifier()`` merged last; copies share it until one changes a field above.
    private var merged = MergedVerifier()

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

    /// A verifier over the bundles in force now and the live deny list. Merging the bundles
    /// allocates, so the merged verifier is kept until a bundle source reloads: live channels
    /// ask for it at every periodic recheck, from their data-path threads.
    public func verifier() -> IdentityVerifier {
        var reloads = 0
        for source in bundleSources { reloads &+= source.reloadCount }
        return merged.verifier(reloads: reloads) {
            IdentityVerifier(bundles: bundleSources.map(\.value), revocations: revocations,
                maximumChainLength: maximumChainLength, clockSkewTolerance: clockSkewTolerance)
        }
    }
}

/// The last verifier ``IdentitySources/verifier()`` merged, with the bundle sources' total
/// reload count it was merged at (each reload of a source adds one, so any reload changes
/// the total).
private final class MergedVerifier: @unchecked Sendable {
    // @unchecked: `cached` is only touched under `lock`.
    private let lock = NSLock()
    private var cached: (reloads: Int, verifier: IdentityVerifier)?

    func verifier(reloads: Int, merge: () -> IdentityVerifier) -> IdentityVerifier {
        lock.lock()
        defer { lock.unlock() }
        if let cached, cached.reloads == reloads { return cached.verifier }
        let fresh = merge()
        cached = (reloads, fresh)
        return fresh
    }
}
