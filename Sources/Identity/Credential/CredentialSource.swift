import Foundation

/// This workload's credential, reloadable from its certificate and key files while running
/// (``ReloadableFile``), as spiffe-helper and similar agents rewrite them before expiry.
///
/// Each load checks what ``Credential/init(certificatePath:keyPath:)`` checks, the key
/// matching the leaf among them. A writer that renames the certificate and then the key
/// leaves a moment where they do not match: that reload fails and keeps the previous
/// credential, and the key's rename, a change of its own, is picked up by the next tick.
public typealias CredentialSource = ReloadableFile<Credential>

extension ReloadableFile where Value == Credential {
    /// A source reading `certificatePath` (the chain, leaf first) and `keyPath`; throws if
    /// the initial load fails.
    public convenience init(certificatePath: String, keyPath: String, log: (@Sendable (String) -> Void)? = nil)
        throws(IdentityError)
    {
        try self.init(name: "credential", paths: [certificatePath, keyPath], log: log) { () throws(IdentityError) in
            try Credential(certificatePath: certificatePath, keyPath: keyPath)
        }
    }

    /// A source holding a fixed credential.
    public convenience init(credential: Credential) {
        self.init(name: "credential", value: credential)
    }
}

/// A trust bundle, reloadable from its PEM files while running (``ReloadableFile``): adding
/// a CA to the file trusts it for new handshakes; removing one reaches live channels at their
/// next trust recheck.
public typealias TrustBundleSource = ReloadableFile<TrustBundle>

extension ReloadableFile where Value == TrustBundle {
    /// A source reading `paths` for `trustDomain` (nil: the domain the CAs declare); throws if
    /// the initial load fails. Every reload must yield the same trust domain.
    public convenience init(trustDomain: String?, paths: [String], log: (@Sendable (String) -> Void)? = nil)
        throws(IdentityError)
    {
        let first = try TrustBundle(trustDomain: trustDomain, paths: paths)
        let domain = first.trustDomain
        try self.init(name: "bundle", paths: paths, log: log) { () throws(IdentityError) in
            try TrustBundle(trustDomain: domain, paths: paths)
        }
    }

    /// A source holding a fixed bundle.
    public convenience init(bundle: TrustBundle) {
        self.init(name: "bundle", value: bundle)
    }
}
