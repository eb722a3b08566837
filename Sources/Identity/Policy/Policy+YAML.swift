extension Policy {
    /// The policy as a YAML policy file (docs/operations.md "Policy files"): what
    /// `fabricauth policy convert` prints for a line-format file. Rules keep their names
    /// (`line-N` for the line format) and order; decisions are the same rule for rule.
    /// Values are double-quoted, so they read back as the same strings. Rules named in
    /// `commentedOut` (name: why) are written as YAML comments: they must be unreachable
    /// rules, which decide nothing, so the file decides as the policy does.
    public func yamlText(version: String, source: String? = nil, commentedOut: [String: String] = [:]) -> String {
        var out = "# FabricAuth policy file (docs/operations.md, Policy files)\n"
        if let source { out += "# converted from \(Self.yamlQuoted(source)) by `fabricauth policy convert`\n" }
        out += "version: \(Self.yamlQuoted(version))\n"
        let kept = rules.filter { commentedOut[$0.name] == nil }
        out += kept.isEmpty ? "rules: []   # no rule: every peer is denied\n" : "rules:\n"
        for rule in rules {
            var lines = ["- name: \(Self.yamlQuoted(rule.name))"]
            if let summary = rule.summary { lines.append("  description: \(Self.yamlQuoted(summary))") }
            lines.append("  effect: \(rule.action.rawValue)")
            lines.append("  peer: {\(rule.match.kind): \(Self.yamlQuoted(rule.match.value))}")
            if let local = rule.local { lines.append("  local: {\(local.kind): \(Self.yamlQuoted(local.value))}") }
            if let why = commentedOut[rule.name] {
                out += "  # left out, it decides nothing: " + why.filter { $0 != "\n" } + "\n"
                out += lines.map { "  # " + $0 + "\n" }.joined()
            } else {
                out += lines.map { "  " + $0 + "\n" }.joined()
            }
        }
        return out
    }

    /// A YAML double-quoted scalar (YAML 1.2 §7.3.1): `\` and `"` escaped; as `\uXXXX`
    /// every character that is not printable (§5.1: C0 and C1 controls, DEL, U+FFFE/FFFF),
    /// the line breaks a quoted scalar would fold (§5.4: NEL, U+2028, U+2029) and the BOM.
    static func yamlQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF
                || v == 0xFFFE || v == 0xFFFF:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
