import Foundation
import XCTest

@testable import Identity

/// The YAML policy file (docs/operations.md, Policy files): each bad file gets its own
/// error at its line and column; decision tables over every selector; the line format and
/// its conversion; reload keeping the previous policy.
final class PolicyFileTests: XCTestCase {
    func problems(_ text: String) -> [PolicyDiagnostic] {
        PolicyFile.check(Array(text.utf8), file: "p.yaml").diagnostics
    }

    /// Asserts exactly these problems, in order: line, column and a part of the message.
    func assertProblems(_ text: String, _ expected: [(Int, Int, String)], file: StaticString = #filePath, line: UInt = #line) {
        let found = problems(text)
        XCTAssertEqual(found.count, expected.count, "\(found)", file: file, line: line)
        for (diagnostic, (l, c, fragment)) in zip(found, expected) {
            XCTAssertEqual(diagnostic.line, l, "\(diagnostic)", file: file, line: line)
            XCTAssertEqual(diagnostic.column, c, "\(diagnostic)", file: file, line: line)
            XCTAssertTrue(diagnostic.message.contains(fragment), "expected \"\(fragment)\" in \(diagnostic)", file: file, line: line)
        }
        // The loader refuses the file with the same positions.
        XCTAssertThrowsError(try PolicyFile.parse(Array(text.utf8), file: "p.yaml"), file: file, line: line) { error in
            XCTAssertEqual((error as? PolicyFileError)?.diagnostics, found, file: file, line: line)
        }
    }

    func rule(_ name: String, _ effect: String, _ peer: String, local: String? = nil) -> String {
        "  - name: \(name)\n    effect: \(effect)\n    peer: {\(peer)}\n" + (local.map { "    local: {\($0)}\n" } ?? "")
    }

    // MARK: bad files

    func testSchemaErrorsHaveLineColumnAndFix() {
        let head = "version: \"1\"\nrules:\n"
        assertProblems(head + rule("a", "allow", "domain: a.org") + "    comment: hi\n",
                       [(6, 5, "unknown key \"comment\" in a rule; allowed keys: name, description, effect, peer, local")])
        assertProblems("version: \"1\"\nrulez: []\n",
                       [(1, 1, "the policy file has no rules; add \"rules:\""), (2, 1, "unknown key \"rulez\" in the policy file")])
        assertProblems("rules: []\n", [(1, 1, "the policy file has no version; add \"version:")])
        assertProblems(head + "  - name: a\n    effect: [allow]\n    peer: {domain: a.org}\n",
                       [(4, 13, "effect must be allow or deny, not a list")])
        assertProblems(head + rule("a", "permit", "domain: a.org"), [(4, 13, "effect must be allow or deny, not \"permit\"")])
        assertProblems("version: \"a\\u2028b\"\nrules: []\n", [(1, 10, "version must be one line of at most 128 characters")])
        assertProblems(head + "  - name: a\n    effect:\n    peer: {domain: a.org}\n", [(4, 12, "effect has no value")])
        assertProblems("version: \"1\"\nrules: {name: a}\n", [(2, 8, "rules must be a list of rules")])
        assertProblems(head + "  - name: a\n    effect: allow\n", [(3, 5, "this rule has no peer selector")])
        assertProblems(head + "  - effect: allow\n    peer: {domain: a.org}\n", [(3, 5, "this rule has no name")])
        assertProblems(head + rule("bad name", "allow", "domain: a.org"), [(3, 11, "rule name \"bad name\" must be 1 to 64 letters")])
        assertProblems(head + rule("a", "allow", "id: spiffe://a.org/x, domain: a.org"),
                       [(5, 11, "peer has domain and id; give exactly one")])
        assertProblems(head + rule("a", "allow", "regex: .*"),
                       [(5, 12, "unknown key \"regex\" in peer; allowed keys: id, prefix, domain, pattern")])
        assertProblems(head + rule("a", "allow", "domain: a.org", local: "prefix: [x]"), [(6, 21, "local.prefix must be a SPIFFE ID, not a list")])
        assertProblems("- version\n", [(1, 1, "a policy file is a YAML mapping with the keys version and rules")])
    }

    func testBadIDsAndPatternsSayWhichRule() {
        let head = "version: \"1\"\nrules:\n"
        assertProblems(head + rule("a", "allow", "id: \"spiffe://A.org/x\""),
                       [(5, 16, "trust domain must be lowercase (SPIFFE-ID §2.1); write spiffe://TRUST-DOMAIN/PATH")])
        assertProblems(head + rule("a", "allow", "prefix: spiffe://a.org/x/"), [(5, 20, "path must not end with \"/\" (SPIFFE-ID §2.2)")])
        assertProblems(head + rule("a", "allow", "pattern: spiffe://a.org/ns/web-*"), [(5, 21, "\"*\" must be a whole segment")])
        assertProblems(head + rule("a", "allow", "pattern: spiffe://*.org/ns"), [(5, 21, "the trust domain cannot contain a wildcard")])
        assertProblems(head + rule("a", "allow", "domain: a.org/x"), [(5, 20, "must not contain a path; write the trust domain alone")])
        assertProblems(head + rule("a", "allow", "domain: a.org", local: "id: https://a.org/x"),
                       [(6, 17, "scheme must be exactly \"spiffe://\"")])
    }

    func testDuplicateNamesAndUnreachableRules() {
        let head = "version: \"1\"\nrules:\n"
        assertProblems(head + rule("a", "allow", "domain: a.org") + rule("a", "allow", "domain: b.org"),
                       [(6, 11, "rule name \"a\" is already used by the rule at line 3; give each rule a unique name")])
        assertProblems(head + rule("a", "allow", "domain: a.org") + rule("b", "allow", "domain: a.org"),
                       [(6, 5, "rule \"b\" repeats rule \"a\" (line 3): same effect and selectors; delete one of them")])
        // An allow rule inside a deny rule, whichever comes first.
        assertProblems(head + rule("node-1", "allow", "id: spiffe://a.org/storage/node-1") + rule("no-storage", "deny", "prefix: spiffe://a.org/storage"),
                       [(3, 5, "allow rule \"node-1\" can never apply: deny rule \"no-storage\" (line 6)")])
        assertProblems(head + rule("no-a", "deny", "domain: a.org") + rule("web", "allow", "pattern: spiffe://a.org/*/web"),
                       [(6, 5, "allow rule \"web\" can never apply")])
        // A deny limited to one local identity does not cover an allow for every local identity.
        XCTAssertEqual(problems(head + rule("no-db", "deny", "domain: a.org", local: "prefix: spiffe://b.org/db") + rule("a", "allow", "domain: a.org")), [])
        // ...but covers one limited to a local identity below its own.
        assertProblems(head + rule("no-db", "deny", "domain: a.org", local: "prefix: spiffe://b.org/db")
                       + rule("a", "allow", "prefix: spiffe://a.org/x", local: "id: spiffe://b.org/db/primary"),
                       [(7, 5, "allow rule \"a\" can never apply")])
        // A rule inside an earlier rule of the same effect never decides.
        assertProblems(head + rule("all", "allow", "pattern: spiffe://a.org/ns/**") + rule("one", "allow", "prefix: spiffe://a.org/ns/web"),
                       [(6, 5, "allow rule \"one\" never decides: the earlier allow rule \"all\" (line 3)")])
        // The narrower rule first is fine (it decides for its IDs), as are overlapping but not covering rules.
        XCTAssertEqual(problems(head + rule("one", "allow", "prefix: spiffe://a.org/ns/web") + rule("all", "allow", "prefix: spiffe://a.org/ns")), [])
        XCTAssertEqual(problems(head + rule("p", "allow", "pattern: spiffe://a.org/*/web") + rule("q", "deny", "pattern: spiffe://a.org/ns/*")), [])
    }

    func testYAMLSyntaxErrorsDuplicateKeysAnchorsAndEncoding() {
        let tab = problems("version: \"1\"\nrules:\n\t- name: a\n")
        XCTAssertEqual(tab.count, 1)
        XCTAssertEqual(tab.first.map { [$0.line, $0.column] }, [3, 1], "\(tab)")
        XCTAssertTrue(tab.first?.message.contains("YAML: found character that cannot start any token") ?? false, "\(tab)")
        let quote = problems("version: \"1\nrules: []\n")
        XCTAssertEqual(quote.count, 1)
        XCTAssertTrue(quote.first?.message.contains("(while scanning a quoted scalar at 1:10)") ?? false, "\(quote)")
        assertProblems("version: \"1\"\nversion: \"2\"\nrules: []\n", [(1, 1, "key \"version\" appears twice in one mapping; keep one")])
        assertProblems("version: \"1\"\nrules:\n  - name: a\n    effect: allow\n    peer: &p {domain: a.org}\n",
                       [(5, 11, "anchors and aliases (&name, *name) are not allowed")])
        let bytes: [UInt8] = Array("version: \"1\"\nrules: [".utf8) + [0xFF] + Array("]\n".utf8)
        let binary = PolicyFile.check(bytes, file: "p.yaml").diagnostics
        XCTAssertEqual(binary, [PolicyDiagnostic(line: 2, column: 9, message: "not UTF-8 text; save the file as UTF-8")])
        let huge = PolicyFile.check(Array(repeating: UInt8(ascii: "#"), count: PolicyFile.maximumSize + 1), file: "p.yaml")
        XCTAssertEqual(huge.diagnostics.map(\.message), ["file is 1048577 bytes, more than the 1048576 a policy file may have; check the path"])
    }

    // MARK: decisions

    static let table = """
        version: "2026-12-01"
        description: prod fabric
        rules:
          - name: trainers
            description: ranks of a job talk to each other
            effect: allow
            peer: {prefix: spiffe://prod.org/trainer}
            local: {prefix: spiffe://prod.org/trainer}
          - name: storage-any-ns
            effect: allow
            peer: {pattern: spiffe://prod.org/ns/*/storage}
          - name: ops
            effect: allow
            peer: {domain: ops.org}
          - name: backup
            effect: allow
            peer: {id: spiffe://prod.org/backup}
          - name: readers
            effect: allow
            peer: {pattern: spiffe://prod.org/data/**/reader}
          - name: quarantined
            effect: deny
            peer: {id: spiffe://prod.org/trainer/rank7}
          - name: no-ops-to-db
            effect: deny
            peer: {domain: ops.org}
            local: {prefix: spiffe://prod.org/db}

        """

    func testDecisionTable() throws {
        let policy = try PolicyFile.parse(Array(Self.table.utf8), file: "table.yaml")
        XCTAssertEqual(policy.version, "2026-12-01")
        let rank0 = "spiffe://prod.org/trainer/rank0", db = "spiffe://prod.org/db/primary"
        let cases: [(local: String?, peer: String, rule: String?)] = [
            (rank0, "spiffe://prod.org/trainer/rank1", "trainers"),           // prefix, with a local selector
            (nil, "spiffe://prod.org/trainer/rank1", nil),                     // local selector needs a local ID
            (db, "spiffe://prod.org/trainer/rank1", nil),                      // local selector does not match
            (rank0, "spiffe://prod.org/trainer/rank7", "quarantined"),         // deny wins
            (rank0, "spiffe://prod.org/trainerx/rank1", nil),                  // prefix is by whole segments
            (db, "spiffe://prod.org/ns/a/storage", "storage-any-ns"),         // `*`: one segment
            (db, "spiffe://prod.org/ns/a/b/storage", nil),
            (db, "spiffe://prod.org/ns/storage", nil),
            (rank0, "spiffe://ops.org/x/y", "ops"),                            // trust domain
            (db, "spiffe://ops.org/x/y", "no-ops-to-db"),                      // deny with a local selector
            (rank0, "spiffe://prod.org/backup", "backup"),                     // exact
            (rank0, "spiffe://prod.org/backup/x", nil),
            (rank0, "spiffe://prod.org/data/reader", "readers"),               // `**`: zero segments
            (rank0, "spiffe://prod.org/data/a/b/reader", "readers"),           // `**`: two
            (rank0, "spiffe://prod.org/data/a/writer", nil),
            (rank0, "spiffe://other.org/x", nil),                              // default deny
        ]
        let hash = try Self.sha256sum(Self.table)
        for (local, peer, rule) in cases {
            let decision = policy.decide(local: try local.map { try SPIFFEID($0) }, peer: try SPIFFEID(peer))
            let denies = rule == nil || rule == "quarantined" || rule == "no-ops-to-db"
            XCTAssertEqual(decision.allowed, !denies, "\(local ?? "-") -> \(peer): \(decision)")
            XCTAssertEqual(policy.allows(local: try local.map { try SPIFFEID($0) }, peer: try SPIFFEID(peer)), !denies,
                "allows agrees with decide: \(local ?? "-") -> \(peer)")
            XCTAssertEqual(decision.rule?.name, rule, "\(local ?? "-") -> \(peer): \(decision)")
            XCTAssertEqual(decision.ruleName, rule ?? "default deny")
            XCTAssertEqual(decision.policyVersion, "2026-12-01")
            XCTAssertEqual(decision.policyHash, hash, "the decision records the file's SHA-256")
        }
        XCTAssertEqual(policy.rules[0].summary, "ranks of a job talk to each other")
        XCTAssertEqual(policy.rules[0].line, 4)
    }

    func testPatternMatching() throws {
        func matches(_ pattern: String, _ id: String) throws -> Bool { try SPIFFEIDPattern(pattern).matches(SPIFFEID(id)) }
        XCTAssertTrue(try matches("spiffe://a.org/**", "spiffe://a.org"))
        XCTAssertTrue(try matches("spiffe://a.org/**", "spiffe://a.org/x/y/z"))
        XCTAssertFalse(try matches("spiffe://a.org/**", "spiffe://b.org/x"))
        XCTAssertTrue(try matches("spiffe://a.org/x/**/y", "spiffe://a.org/x/y"))
        XCTAssertTrue(try matches("spiffe://a.org/x/**/y", "spiffe://a.org/x/1/2/3/y"))
        XCTAssertFalse(try matches("spiffe://a.org/x/**/y", "spiffe://a.org/x/y/z"))
        XCTAssertTrue(try matches("spiffe://a.org/*/*", "spiffe://a.org/p/q"))
        XCTAssertFalse(try matches("spiffe://a.org/*/*", "spiffe://a.org/p"))
        XCTAssertFalse(try matches("spiffe://a.org/*", "spiffe://a.org"))
        XCTAssertFalse(try matches("spiffe://a.org/Web", "spiffe://a.org/web"), "literal segments are case-sensitive")
        // Many `**` stay linear (a backtracking matcher would take 2^40 steps here).
        let deep = "spiffe://a.org" + String(repeating: "/**/a", count: 40) + "/b"
        XCTAssertFalse(try matches(deep, "spiffe://a.org" + String(repeating: "/a", count: 200)))
        XCTAssertEqual(try SPIFFEIDPattern("spiffe://a.org/x/*/**").description, "spiffe://a.org/x/*/**")
    }

    // MARK: the line format

    static let lines = """
        # old policy
        allow prefix spiffe://prod.org/ns/storage
        allow id spiffe://prod.org/ns/db/primary
        allow domain ops.org
        deny id spiffe://prod.org/ns/storage/legacy
        allow id spiffe://prod.org/ns/storage/node-1   # inside the prefix above: never decides
        deny id spiffe://ops.org/intruder

        """

    func testLineFormatDetectedLoadedAndLinted() throws {
        XCTAssertEqual(PolicyFile.format(of: Self.lines), .lines)
        XCTAssertEqual(PolicyFile.format(of: Self.table), .yaml)
        XCTAssertEqual(PolicyFile.format(of: "# nothing\n\n"), .lines, "no rule at all: an empty line-format policy")
        XCTAssertEqual(PolicyFile.format(of: "allow: x\n"), .yaml)
        let policy = try PolicyFile.parse(Array(Self.lines.utf8), file: "old.txt")
        XCTAssertNil(policy.version)
        XCTAssertEqual(policy.rules.map(\.name), ["line-2", "line-3", "line-4", "line-5", "line-6", "line-7"])
        XCTAssertEqual(policy.contentHash, try Self.sha256sum(Self.lines))
        // The loader accepts the redundant rule (as before); check reports it.
        XCTAssertEqual(PolicyFile.check(Array(Self.lines.utf8), file: "old.txt").diagnostics.map { [$0.line, $0.column] }, [[6, 1]])
        let bad = PolicyFile.check(Array("allow domain ok.org\nallow idd spiffe://a.org/x\nallow id spiffe://A.org/x\npermit id x\nallow id\n".utf8), file: "old.txt")
        XCTAssertEqual(bad.format, .lines)
        XCTAssertEqual(bad.diagnostics.map { [$0.line, $0.column] }, [[2, 7], [3, 10], [4, 1], [5, 9]], "\(bad.diagnostics)")
        XCTAssertTrue(bad.diagnostics[0].message.contains("unknown match kind \"idd\""))
        XCTAssertTrue(bad.diagnostics[1].message.contains("trust domain must be lowercase"))
    }

    func testConvertDecidesAsTheLineFormat() throws {
        let old = try PolicyFile.parse(Array(Self.lines.utf8), file: "old.txt")
        let unreachable = PolicyFile.check(Array(Self.lines.utf8), file: "old.txt").diagnostics
        var commentedOut: [String: String] = [:]
        for d in unreachable { if let r = old.rules.first(where: { $0.line == d.line }) { commentedOut[r.name] = d.message } }
        let yaml = old.yamlText(version: "converted", source: "old.txt", commentedOut: commentedOut)
        XCTAssertEqual(PolicyFile.check(Array(yaml.utf8), file: "new.yaml").diagnostics, [], yaml)
        let new = try PolicyFile.parse(Array(yaml.utf8), file: "new.yaml")
        XCTAssertEqual(new.version, "converted")
        XCTAssertEqual(new.rules.count, old.rules.count - 1, "the rule that never decides is a comment")
        for peer in ["spiffe://prod.org/ns/storage", "spiffe://prod.org/ns/storage/node-1", "spiffe://prod.org/ns/storage/legacy",
                     "spiffe://prod.org/ns/storagex", "spiffe://prod.org/ns/db/primary", "spiffe://prod.org/ns/db",
                     "spiffe://ops.org/a", "spiffe://ops.org/intruder", "spiffe://x.org/a"] {
            let a = old.decide(spiffeID: try SPIFFEID(peer)), b = new.decide(spiffeID: try SPIFFEID(peer))
            XCTAssertEqual(a.allowed, b.allowed, peer)
            XCTAssertEqual(a.rule?.name, b.rule?.name, peer)
        }
    }

    func testRenderedYAMLKeepsEveryStringExactly() throws {
        // Written with YAML escapes: a tab, a quote, a backslash, NEL, U+2028, a C1 control, an emoji.
        let yaml = "version: \"v\\u00e9 1\"\nrules:\n  - name: a\n    description: \"t\\tq\\\"b\\\\n\\u0085l\\u2028c\\u0080 \\U0001F600\"\n    effect: allow\n    peer: {domain: a.org}\n"
        let policy = try PolicyFile.parse(Array(yaml.utf8), file: "p.yaml")
        XCTAssertEqual(policy.rules[0].summary, "t\tq\"b\\n\u{85}l\u{2028}c\u{80} \u{1F600}")
        let again = try PolicyFile.parse(Array(policy.yamlText(version: policy.version!).utf8), file: "again.yaml")
        XCTAssertEqual(again.version, "v\u{e9} 1")
        XCTAssertEqual(again.rules, policy.rules.map { PolicyRule($0.action, $0.match, name: $0.name, summary: $0.summary, line: 4) })
    }

    // MARK: reload

    func testStoreReloadKeepsPreviousPolicyOnBadFile() throws {
        let path = TestPKI.temporaryDirectory() + "/policy.yaml"
        let good = "version: \"1\"\nrules:\n" + rule("a", "allow", "domain: a.org")
        try good.write(toFile: path, atomically: true, encoding: .utf8)
        let store = try PolicyStore(path: path, extraRules: [PolicyRule(.allow, .trustDomain("c.org"), name: "--allow 1")])
        let a = try SPIFFEID("spiffe://a.org/x"), b = try SPIFFEID("spiffe://b.org/x"), c = try SPIFFEID("spiffe://c.org/x")
        XCTAssertTrue(store.decide(local: nil, peer: a).allowed)
        XCTAssertEqual(store.decide(local: nil, peer: c).ruleName, "--allow 1")
        try ("version: \"2\"\nrules:\n" + rule("a", "allow", "domain: b.org") + "    oops: 1\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.reload()) { error in
            XCTAssertTrue("\(error)".contains("\(path):6:5: unknown key \"oops\""), "\(error)")
        }
        XCTAssertEqual(store.failedReloadCount, 1)
        XCTAssertEqual(store.reloadCount, 0)
        XCTAssertTrue(store.decide(local: nil, peer: a).allowed, "the previous policy stays")
        XCTAssertEqual(store.policy.version, "1")
        XCTAssertFalse(try store.reloadIfChanged(), "the bad version is not retried until the file changes")
        try ("version: \"2\"\nrules:\n" + rule("b", "allow", "domain: b.org")).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertTrue(try store.reloadIfChanged())
        XCTAssertEqual(store.reloadCount, 1)
        XCTAssertFalse(store.decide(local: nil, peer: a).allowed)
        XCTAssertEqual(store.decide(local: nil, peer: b).policyVersion, "2")
        XCTAssertTrue(store.decide(local: nil, peer: c).allowed, "--allow rules are kept across reloads")
        // Start-up with a bad file fails.
        try "version: [\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PolicyStore(path: path))
    }

    /// SHA-256 by coreutils' sha256sum: an oracle independent of the code under test.
    static func sha256sum(_ text: String) throws -> String {
        let path = TestPKI.temporaryDirectory() + "/hash-input"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(output.prefix(64))
    }
}
