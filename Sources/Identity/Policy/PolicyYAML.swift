import Yams

/// The YAML policy file's schema (docs/operations.md "Policy files"), read from Yams'
/// node tree (Yams 6.2 over libyaml 0.2.5) so every error has the line and column of the
/// node it is about:
/// ```yaml
/// version: "2026-12-01"
/// description: who may talk to whom on the training fabric   # optional
/// rules:
///   - name: trainers
///     description: ranks of one job talk to each other       # optional
///     effect: allow
///     peer: {prefix: spiffe://prod.example.org/trainer}
///     local: {prefix: spiffe://prod.example.org/trainer}     # optional
/// ```
enum PolicyYAML {
    /// Where a rule and its name are in the file, for PolicyLint's messages.
    struct RulePosition {
        let line: Int
        let column: Int
        let nameLine: Int
        let nameColumn: Int
    }

    struct Document {
        let version: String
        let rules: [PolicyRule]
        let positions: [RulePosition]
    }

    static let topKeys = ["version", "description", "rules"]
    static let ruleKeys = ["name", "description", "effect", "peer", "local"]
    static let selectorKeys = ["id", "prefix", "domain", "pattern"]
    static let maximumNameLength = 64
    static let maximumVersionLength = 128

    /// Parses the text; `document` is nil only when the YAML itself does not parse or the top
    /// level is not a mapping. Rules with errors are left out of `document` and reported.
    static func parse(_ text: String) -> (document: Document?, diagnostics: [PolicyDiagnostic]) {
        var diagnostics: [PolicyDiagnostic] = []
        let parser: Parser
        let root: Node?
        do {
            parser = try Parser(yaml: text, encoding: .utf8)
            root = try parser.singleRoot()
        } catch let error as YamlError {
            return (nil, [diagnostic(for: error)])
        } catch {
            return (nil, [PolicyDiagnostic(line: 1, column: 1, message: "cannot read the YAML: \(error)")])
        }
        // Anchors are weak references the parser owns: check them while it is alive.
        return withExtendedLifetime(parser) {
            guard let root, let top = root.mapping else {
                let mark = Reader.position(root)
                return (nil, [PolicyDiagnostic(line: mark.line, column: mark.column, message:
                    "a policy file is a YAML mapping with the keys version and rules, e.g. \"version: \\\"1\\\"\" on the first line (docs/operations.md, Policy files)")])
            }
            var reader = Reader()
            let document = reader.document(root, top)
            diagnostics += reader.diagnostics
            return (document, diagnostics)
        }
    }

    /// Turns a Yams/libyaml error into a diagnostic at its mark.
    static func diagnostic(for error: YamlError) -> PolicyDiagnostic {
        let hint = "; fix the YAML syntax here (indentation, a missing \":\" or an unclosed quote or bracket)"
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            // libyaml's context ("while scanning a quoted scalar") with its own position when
            // that differs from the problem's: where the unclosed quote or bracket began.
            let about = context.map { context in
                context.mark.line == mark.line && context.mark.column == mark.column
                    ? " (\(context.text))" : " (\(context.text) at \(context.mark.line):\(context.mark.column))"
            } ?? ""
            return PolicyDiagnostic(line: mark.line, column: mark.column, message: "YAML: \(problem)\(about)\(hint)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return PolicyDiagnostic(line: context.mark.line, column: context.mark.column, message:
                "key \(duplicates.map { SPIFFEID.quoted($0) }.joined(separator: ", ")) appears twice in one mapping; keep one")
        case .reader(let problem, _, _, _):
            return PolicyDiagnostic(line: 1, column: 1, message: "YAML: \(problem); save the file as UTF-8 text")
        default:
            return PolicyDiagnostic(line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    /// Walks the node tree, collecting rules and diagnostics.
    struct Reader {
        var diagnostics: [PolicyDiagnostic] = []

        mutating func fail(_ node: Node, _ message: String) {
            let mark = Self.position(node)
            diagnostics.append(PolicyDiagnostic(line: mark.line, column: mark.column, message: message))
        }

        /// A node's line and column (libyaml's start mark; 1:1 when it has none).
        static func position(_ node: Node?) -> (line: Int, column: Int) {
            guard let mark = node?.mark else { return (1, 1) }
            return (mark.line, mark.column)
        }

        /// The mapping's pairs by key, reporting non-string keys, unknown keys and anchors.
        mutating func fields(_ mapping: Node.Mapping, allowed: [String], in place: String) -> [String: Node] {
            var out: [String: Node] = [:]
            for (key, value) in mapping {
                // An anchored value is reported here and still read (one level), so the rule
                // is refused for the anchor alone, not also for a "missing" key.
                guard rejectAnchor(key) else { continue }
                _ = rejectAnchor(value)
                guard let name = key.scalar?.string else {
                    fail(key, "a key in \(place) must be a plain word; allowed keys: \(allowed.joined(separator: ", "))")
                    continue
                }
                guard allowed.contains(name) else {
                    fail(key, "unknown key \(SPIFFEID.quoted(name)) in \(place); allowed keys: \(allowed.joined(separator: ", "))")
                    continue
                }
                out[name] = value
            }
            return out
        }

        /// Anchors and aliases let one node appear many times (YAML's "billion laughs"); a
        /// policy file is short enough to write out, so they are refused.
        mutating func rejectAnchor(_ node: Node) -> Bool {
            guard node.anchor == nil else {
                fail(node, "anchors and aliases (&name, *name) are not allowed in a policy file; write the value out")
                return false
            }
            return true
        }

        /// A string scalar, or nil with a diagnostic naming the key and what it must be.
        mutating func string(_ node: Node, key: String, what: String) -> String? {
            guard let scalar = node.scalar else {
                fail(node, "\(key) must be \(what), not a \(node.mapping != nil ? "mapping" : "list")")
                return nil
            }
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                fail(node, "\(key) has no value; give \(what)")
                return nil
            }
            return scalar.string
        }

        mutating func document(_ root: Node, _ top: Node.Mapping) -> Document? {
            guard rejectAnchor(root) else { return nil }
            let keys = self.fields(top, allowed: topKeys, in: "the policy file")
            var version = ""
            if let node = keys["version"] {
                if let text = string(node, key: "version", what: "a string naming this version of the file, e.g. \"2026-12-01\" or a release tag") {
                    if text.count > maximumVersionLength || text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }) {
                        fail(node, "version must be one line of at most \(maximumVersionLength) characters")
                    } else {
                        version = text
                    }
                }
            } else {
                fail(root, "the policy file has no version; add \"version: \\\"1\\\"\" (any string naming this version of the file)")
            }
            if let node = keys["description"] { _ = string(node, key: "description", what: "a string") }
            var rules: [PolicyRule] = []
            var positions: [RulePosition] = []
            if let node = keys["rules"] {
                if let list = node.sequence {
                    for item in list {
                        if let parsed = rule(item) {
                            rules.append(parsed.0)
                            positions.append(parsed.1)
                        }
                    }
                } else if node.scalar?.style == .plain && node.scalar?.string == "" {
                    fail(node, "rules has no value; give a list of rules (\"rules: []\" denies every peer)")
                } else {
                    fail(node, "rules must be a list of rules, each starting with \"- name:\"")
                }
            } else {
                fail(root, "the policy file has no rules; add \"rules:\" with a list of rules (\"rules: []\" denies every peer)")
            }
            return Document(version: version, rules: rules, positions: positions)
        }

        mutating func rule(_ node: Node) -> (PolicyRule, RulePosition)? {
            guard rejectAnchor(node) else { return nil }
            guard let mapping = node.mapping else {
                fail(node, "a rule must be a mapping with name, effect and peer (and optionally description, local)")
                return nil
            }
            let before = diagnostics.count
            let keys = self.fields(mapping, allowed: ruleKeys, in: "a rule")
            let mark = Self.position(node)
            var nameMark = mark
            var name: String?
            if let value = keys["name"] {
                nameMark = Self.position(value)
                if let text = string(value, key: "name", what: "a rule name of letters, digits, \".\", \"-\" and \"_\"") {
                    if Self.isValidName(text) {
                        name = text
                    } else {
                        fail(value, "rule name \(SPIFFEID.quoted(text)) must be 1 to \(maximumNameLength) letters, digits, \".\", \"-\" or \"_\", starting with a letter or digit")
                    }
                }
            } else {
                fail(node, "this rule has no name; add \"name: SOME-NAME\" (unique in the file; decisions report it)")
            }
            var summary: String?
            if let value = keys["description"] { summary = string(value, key: "description", what: "a string") }
            var action: PolicyRule.Action?
            if let value = keys["effect"] {
                if let text = string(value, key: "effect", what: "allow or deny") {
                    action = PolicyRule.Action(rawValue: text)
                    if action == nil { fail(value, "effect must be allow or deny, not \(SPIFFEID.quoted(text))") }
                }
            } else {
                fail(node, "this rule has no effect; add \"effect: allow\" or \"effect: deny\"")
            }
            var peer: PolicyRule.Match?
            if let value = keys["peer"] {
                peer = selector(value, key: "peer")
            } else {
                fail(node, "this rule has no peer selector; add e.g. \"peer: {prefix: spiffe://TRUST-DOMAIN/PATH}\"")
            }
            var local: PolicyRule.Match?
            if let value = keys["local"] { local = selector(value, key: "local") }
            guard diagnostics.count == before, let name, let action, let peer, keys["local"] == nil || local != nil else {
                return nil
            }
            let rule = PolicyRule(action, peer, local: local, name: name, summary: summary, line: mark.line)
            return (rule, RulePosition(line: mark.line, column: mark.column, nameLine: nameMark.line, nameColumn: nameMark.column))
        }

        /// `{id: …}`, `{prefix: …}`, `{domain: …}` or `{pattern: …}`: exactly one key.
        mutating func selector(_ node: Node, key: String) -> PolicyRule.Match? {
            let example = "e.g. \"\(key): {prefix: spiffe://prod.example.org/trainer}\"; keys: id, prefix, domain, pattern"
            guard let mapping = node.mapping else {
                fail(node, "\(key) must be a mapping with one of id, prefix, domain or pattern, \(example)")
                return nil
            }
            let keys = self.fields(mapping, allowed: selectorKeys, in: "\(key)")
            guard keys.count == 1, let kind = keys.keys.first, let value = keys[kind] else {
                if keys.count > 1 {
                    fail(node, "\(key) has \(keys.keys.sorted().joined(separator: " and ")); give exactly one (a rule matches one selector; write two rules for two)")
                } else if mapping.count == 0 {
                    fail(node, "\(key) is empty; give one of id, prefix, domain or pattern, \(example)")
                }
                return nil
            }
            guard let text = string(value, key: "\(key).\(kind)", what: kind == "domain" ? "a trust domain name" : "a SPIFFE ID\(kind == "pattern" ? " pattern" : "")") else {
                return nil
            }
            do throws(IdentityError) {
                switch kind {
                case "id": return .exact(try SPIFFEID(text))
                case "prefix": return .pathPrefix(try SPIFFEID(text))
                case "domain": return .trustDomain(try SPIFFEID(trustDomain: text).trustDomain)
                default: return .pattern(try SPIFFEIDPattern(text))
                }
            } catch {
                let fix = switch kind {
                case "domain": "write the trust domain alone, lowercase, e.g. prod.example.org"
                case "pattern": "a segment \"*\" matches one segment, \"**\" any number, e.g. spiffe://TRUST-DOMAIN/ns/*/web/**"
                default: "write spiffe://TRUST-DOMAIN/PATH"
                }
                fail(value, "\(error.message); \(fix)")
                return nil
            }
        }

        static func isValidName(_ name: String) -> Bool {
            let bytes = Array(name.utf8)
            guard (1...PolicyYAML.maximumNameLength).contains(bytes.count) else { return false }
            func isAlphanumeric(_ b: UInt8) -> Bool {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
            }
            guard isAlphanumeric(bytes[0]) else { return false }
            return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }
    }
}
