/// The checks `fabricauth policy check` runs on parsed rules, beyond the schema: duplicate
/// names and unreachable rules. A rule is unreachable when it can never be the rule that
/// decides (the rule a ``Decision`` names):
/// - it repeats an earlier rule (same effect, peer selector and local selector);
/// - it is an `allow` rule and some `deny` rule (anywhere: deny wins) covers it;
/// - an earlier rule of the same effect covers it (the first matching rule decides).
///
/// "Covers" is ``PolicyRule/covers(_:)``: the deciding rule's peer selector matches every ID
/// the other's does (``PolicyRule/Match/covers(_:)``, sound but not complete), and its
/// local selector is absent or likewise covers the other's. Overlaps it cannot prove (two
/// patterns with wildcards in different places, say) are not reported.
enum PolicyLint {
    /// Diagnostics in rule order. `positions` gives each rule's (and its name's) place in a
    /// YAML file; without it (the line format) rules are reported at their line, column 1.
    static func check(_ rules: [PolicyRule], positions: [PolicyYAML.RulePosition]?) -> [PolicyDiagnostic] {
        var diagnostics: [PolicyDiagnostic] = []
        func at(_ index: Int, name: Bool = false) -> (line: Int, column: Int) {
            if let positions {
                let p = positions[index]
                return name ? (p.nameLine, p.nameColumn) : (p.line, p.column)
            }
            return (rules[index].line ?? 1, 1)
        }
        func place(_ index: Int) -> String { "line \(at(index).line)" }
        var firstByName: [String: Int] = [:]
        for (index, rule) in rules.enumerated() {
            let here = at(index)
            if let first = firstByName[rule.name] {
                let (line, column) = at(index, name: true)
                diagnostics.append(PolicyDiagnostic(line: line, column: column, message:
                    "rule name \(SPIFFEID.quoted(rule.name)) is already used by the rule at \(place(first)); give each rule a unique name"))
            } else {
                firstByName[rule.name] = index
            }
            let earlier = rules[..<index].indices
            if let twin = earlier.first(where: { rules[$0].hasSameEffectAndSelectors(as: rule) }) {
                diagnostics.append(PolicyDiagnostic(line: here.line, column: here.column, message:
                    "rule \(SPIFFEID.quoted(rule.name)) repeats rule \(SPIFFEID.quoted(rules[twin].name)) (\(place(twin))): same effect and selectors; delete one of them"))
                continue
            }
            if rule.action == .allow,
               let deny = rules.indices.first(where: { rules[$0].action == .deny && rules[$0].covers(rule) }) {
                diagnostics.append(PolicyDiagnostic(line: here.line, column: here.column, message:
                    "allow rule \(SPIFFEID.quoted(rule.name)) can never apply: deny rule \(SPIFFEID.quoted(rules[deny].name)) (\(place(deny))) matches every connection it matches, and deny wins; remove the allow rule or narrow the deny rule"))
                continue
            }
            if let cover = earlier.first(where: { rules[$0].action == rule.action && rules[$0].covers(rule) }) {
                diagnostics.append(PolicyDiagnostic(line: here.line, column: here.column, message:
                    "\(rule.action.rawValue) rule \(SPIFFEID.quoted(rule.name)) never decides: the earlier \(rule.action.rawValue) rule \(SPIFFEID.quoted(rules[cover].name)) (\(place(cover))) matches every connection it matches; remove it (it changes no decision)"))
            }
        }
        return diagnostics
    }
}
