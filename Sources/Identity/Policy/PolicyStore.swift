import Foundation

/// The live policy of a long-running process, reloadable from its file while running
/// (``ReloadableFile``). A reload that fails to read or parse the file keeps the previous
/// policy, counts the failure (``ReloadableFile/failedReloadCount``) and throws the same error
/// `fabricauth policy check` prints, so a bad edit never changes who may connect. Start-up
/// with a bad file fails.
public typealias PolicyStore = ReloadableFile<Policy>

extension ReloadableFile where Value == Policy {
    /// A store reading `path`, adding `extraRules` after the file's on every load (the CLI's
    /// `--allow` flags); throws if the initial load fails (start-up fails closed).
    public convenience init(path: String, extraRules: [PolicyRule] = [], log: (@Sendable (String) -> Void)? = nil)
        throws(IdentityError)
    {
        try self.init(name: "policy", paths: [path], log: log) { () throws(IdentityError) in
            try PolicyFile.load(path: path).adding(extraRules)
        }
    }

    /// A store holding a fixed policy (rules given on the command line only, tests).
    public convenience init(policy: Policy) {
        self.init(name: "policy", value: policy)
    }

    /// The policy in force now.
    public var policy: Policy { value }

    /// Decides with the policy in force now (see ``Policy/decide(local:peer:)``).
    public func decide(local: SPIFFEID?, peer: SPIFFEID) -> Decision {
        policy.decide(local: local, peer: peer)
    }
}
