/// An authorization decision, with what made it: the rule (or the default deny) and the
/// policy's version and content hash, so a log line can be traced to one file version.
public struct Decision: Hashable, Sendable, CustomStringConvertible {
    /// Whether the peer may connect.
    public let allowed: Bool
    /// Why, in words: which rule matched, or that none did (default deny).
    public let reason: String
    /// The rule that decided, or nil for the default deny.
    public let rule: PolicyRule?
    /// The policy file's `version` (nil for the line format and policies built in code).
    public let policyVersion: String?
    /// SHA-256 of the policy file's bytes, lowercase hex (nil for policies built in code).
    public let policyHash: String?

    /// The deciding rule's name, or `default deny`.
    public var ruleName: String { rule?.name ?? "default deny" }

    public var description: String { "\(allowed ? "allow" : "deny"): \(reason)\(provenance)" }

    /// ` [policy version "v" sha256 0123456789abcdef]`, or empty for a policy built in
    /// code: which file version decided, for a log line or a close reason.
    public var provenance: String {
        guard policyVersion != nil || policyHash != nil else { return "" }
        var text = " [policy"
        if let policyVersion { text += " version \(SPIFFEID.quoted(policyVersion))" }
        // The first 16 hex digits tell file versions apart in a log; the field has all 64.
        if let policyHash { text += " sha256 \(policyHash.prefix(16))" }
        return text + "]"
    }
}
