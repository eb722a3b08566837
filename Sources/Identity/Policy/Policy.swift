/// Which authenticated peers may connect, by SPIFFE ID. Default deny.
///
/// Kept apart from authentication (as nebula's firewall is): it only ever sees identities
/// the ``IdentityVerifier`` has verified. A matching `deny` rule wins over any `allow`
/// rule; otherwise the first matching `allow` rule allows; otherwise the peer is denied.
///
/// Policies come from a policy file (YAML, ``Policy/load(path:)``; docs/operations.md
/// "Policy files") or from the older line format, one rule per line, `#` comments:
/// ```
/// allow domain prod.example.org
/// allow prefix spiffe://prod.example.org/ns/storage
/// allow id spiffe://prod.example.org/ns/ops/backup
/// deny  id spiffe://prod.example.org/ns/storage/legacy
/// ```
public struct Policy: Sendable, Hashable {
    public let rules: [PolicyRule]
    /// The policy file's `version` string (nil for the line format and policies built in code).
    public let version: String?
    /// SHA-256 of the file's bytes, lowercase hex (nil for policies built in code).
    public let contentHash: String?

    public init(rules: [PolicyRule], version: String? = nil, contentHash: String? = nil) {
        self.rules = rules
        self.version = version
        self.contentHash = contentHash
    }

    /// Parses the line format; errors name the line. Rules are named `line-N`. The content
    /// hash is the SHA-256 of the text's UTF-8 bytes.
    public init(text: String) throws(IdentityError) {
        let parsed = Self.parseLines(text)
        if let first = parsed.diagnostics.first {
            throw IdentityError(.malformedPolicy, "line \(first.line): \(first.message)")
        }
        self.init(rules: parsed.rules, version: nil, contentHash: PolicyFile.sha256Hex(Array(text.utf8)))
    }

    /// The same policy with `extra` rules after its own (the CLI's `--allow` flags); version and
    /// hash stay the file's.
    public func adding(_ extra: [PolicyRule]) -> Policy {
        Policy(rules: rules + extra, version: version, contentHash: contentHash)
    }

    /// Decides whether a verified peer may connect.
    public func decide(peer: WorkloadIdentity) -> Decision {
        decide(local: nil, peer: peer.spiffeID)
    }

    /// Decides on a SPIFFE ID (only ever one that was verified); rules with a local selector
    /// do not apply, since no local ID is given.
    public func decide(spiffeID id: SPIFFEID) -> Decision {
        decide(local: nil, peer: id)
    }

    /// Decides whether `local` (this endpoint's own ID; nil if unknown) may talk to `peer`.
    public func decide(local: SPIFFEID?, peer id: SPIFFEID) -> Decision {
        if let deny = rules.first(where: { $0.action == .deny && $0.matches(local: local, peer: id) }) {
            return decision(false, "\(id) denied by rule \(SPIFFEID.quoted(deny.name)) (\(deny))", deny)
        }
        if let allow = rules.first(where: { $0.action == .allow && $0.matches(local: local, peer: id) }) {
            return decision(true, "\(id) allowed by rule \(SPIFFEID.quoted(allow.name)) (\(allow))", allow)
        }
        return decision(false, "\(id) matches no allow rule (default deny)", nil)
    }

    /// ``decide(local:peer:)``'s verdict without its reason: the periodic
    /// recheck of every live channel asks this, and building the reason
    /// costs heap allocations each time (the reason is built on a denial only).
    public func allows(local: SPIFFEID?, peer id: SPIFFEID) -> Bool {
        if rules.contains(where: { $0.action == .deny && $0.matches(local: local, peer: id) }) { return false }
        return rules.contains(where: { $0.action == .allow && $0.matches(local: local, peer: id) })
    }

    private func decision(_ allowed: Bool, _ reason: String, _ rule: PolicyRule?) -> Decision {
        Decision(allowed: allowed, reason: reason, rule: rule, policyVersion: version, policyHash: contentHash)
    }

    /// Parses the line format into rules and a diagnostic (line and column of the offending
    /// word) per bad line.
    static func parseLines(_ text: String) -> (rules: [PolicyRule], diagnostics: [PolicyDiagnostic]) {
        var rules: [PolicyRule] = []
        var diagnostics: [PolicyDiagnostic] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, rawLine) in lines.enumerated() {
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let line = content.trimmingWhitespace()
            if line.isEmpty { continue }
            do {
                rules.append(try PolicyRule(line: line, name: "line-\(index + 1)", lineNumber: index + 1))
            } catch {
                diagnostics.append(PolicyDiagnostic(line: index + 1, column: Self.column(of: error, in: content),
                                                    message: error.message))
            }
        }
        return (rules, diagnostics)
    }

    /// The column (1-based, in Unicode scalars) of the word a line-format error is about:
    /// the value for a bad SPIFFE ID or trust domain, the match kind for an unknown kind,
    /// otherwise the first word.
    private static func column(of error: IdentityError, in line: Substring) -> Int {
        var words: [(start: Int, text: Substring)] = []
        var column = 1
        var start: Int?
        var wordStart = line.startIndex
        for index in line.indices {
            let isSpace = line[index] == " " || line[index] == "\t" || line[index] == "\r"
            if isSpace, let s = start {
                words.append((s, line[wordStart..<index]))
                start = nil
            } else if !isSpace, start == nil {
                start = column
                wordStart = index
            }
            column += line[index].unicodeScalars.count
        }
        if let s = start { words.append((s, line[wordStart...])) }
        let target: Int
        switch error.code {
        case .invalidSPIFFEID: target = 2
        case _ where error.message.hasPrefix("unknown match kind"): target = 1
        default:
            // The line does not have the shape "ACTION KIND VALUE": point at the action if it is
            // not allow/deny, else at the first extra word (or the end of the line if one is missing).
            if let first = words.first, first.text != "allow" && first.text != "deny" { return first.start }
            if words.count > 3 { return words[3].start }
            return column
        }
        return target < words.count ? words[target].start : 1
    }
}
