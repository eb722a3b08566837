/// Which authenticated peers may connect, by SPIFFE ID. Default deny.
///
/// Kept apart from authentication (as nebula's firewall is): it only ever sees identities
/// the ``IdentityVerifier`` has verified. A matching `deny` rule wins over any `allow`
/// rule; otherwise the first matching `allow` rule allows; otherwise the peer is denied.
///
/// Text form, one rule per line, `#` comments:
/// ```
/// allow domain prod.example.org
/// allow prefix spiffe://prod.example.org/ns/storage
/// allow id spiffe://prod.example.org/ns/ops/backup
/// deny  id spiffe://prod.example.org/ns/storage/legacy
/// ```
public struct Policy: Sendable, Hashable {
    public let rules: [PolicyRule]

    public init(rules: [PolicyRule]) {
        self.rules = rules
    }

    /// Parses the text form; errors name the line.
    public init(text: String) throws(IdentityError) {
        var rules: [PolicyRule] = []
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = (rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingWhitespace()
            if line.isEmpty { continue }
            do {
                rules.append(try PolicyRule(line: line))
            } catch {
                throw IdentityError(.malformedPolicy, "line \(index + 1): \(error.message)")
            }
        }
        self.init(rules: rules)
    }

    /// Decides whether a verified peer may connect.
    public func decide(peer: WorkloadIdentity) -> Decision {
        decide(spiffeID: peer.spiffeID)
    }

    /// Decides on a SPIFFE ID (only ever one that was verified).
    public func decide(spiffeID id: SPIFFEID) -> Decision {
        if let deny = rules.first(where: { $0.action == .deny && $0.match.matches(id) }) {
            return Decision(allowed: false, reason: "\(id) denied by rule \"\(deny)\"", rule: deny)
        }
        if let allow = rules.first(where: { $0.action == .allow && $0.match.matches(id) }) {
            return Decision(allowed: true, reason: "\(id) allowed by rule \"\(allow)\"", rule: allow)
        }
        return Decision(allowed: false, reason: "\(id) matches no allow rule (default deny)", rule: nil)
    }
}
