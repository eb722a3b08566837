/// An authorization decision, with the reason to log.
public struct Decision: Hashable, Sendable, CustomStringConvertible {
    /// Whether the peer may connect.
    public let allowed: Bool
    /// Why, in words: which rule matched, or that none did (default deny).
    public let reason: String
    /// The rule that decided, or nil for the default deny.
    public let rule: PolicyRule?

    public var description: String { "\(allowed ? "allow" : "deny"): \(reason)" }
}
