import Foundation
import XCTest

@testable import Identity

/// `fabricauth policy check|explain|convert` and `--policy` with YAML and line-format
/// files, through the built binary (CLITests.binary; FABRICAUTH_BIN overrides it).
final class PolicyCLITests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = TestPKI.temporaryDirectory()
    }

    func fabricauth(_ arguments: String..., file: StaticString = #filePath, line: UInt = #line) throws -> CLITests.Run {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLITests.binary),
                      "build the CLI first (swift build); looked for \(CLITests.binary)", file: file, line: line)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLITests.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLITests.Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    func testCheckPrintsEveryProblemAtFileLineColumn() throws {
        try write("bad.yaml", """
            version: "1"
            rules:
              - name: a
                effect: [allow]
                peer: {domain: a.org}
              - name: b
                effect: allow
                peer: {pattern: spiffe://a.org/web-*}
              - name: a
                effect: deny
                peer: {domain: b.org}

            """)
        let bad = try fabricauth("policy", "check", "bad.yaml")
        XCTAssertEqual(bad.status, 1, bad.output)
        XCTAssertTrue(bad.output.contains("bad.yaml:4:13: effect must be allow or deny, not a list\n"), bad.output)
        XCTAssertTrue(bad.output.contains("bad.yaml:8:21: invalid SPIFFE ID pattern \"spiffe://a.org/web-*\": \"*\" must be a whole segment; \"web-*\" mixes it with text; a segment \"*\" matches one segment, \"**\" any number, e.g. spiffe://TRUST-DOMAIN/ns/*/web/**\n"), bad.output)
        XCTAssertTrue(bad.output.contains("bad.yaml: 2 problems"), bad.output)
        // Line 9's name is a duplicate only of a rule that parsed: rule "a" at line 3 did not.
        XCTAssertFalse(bad.output.contains("bad.yaml:9:"), bad.output)

        try write("good.yaml", PolicyFileTests.table)
        let good = try fabricauth("policy", "check", "good.yaml")
        XCTAssertEqual(good.status, 0, good.output)
        let hash = try PolicyFileTests.sha256sum(PolicyFileTests.table)
        XCTAssertEqual(good.output, "good.yaml: OK: YAML policy file, version \"2026-12-01\", 7 rules, sha256 \(hash)\n")

        try write("old.txt", PolicyFileTests.lines)
        let old = try fabricauth("policy", "check", "old.txt")
        XCTAssertEqual(old.status, 1, old.output)
        XCTAssertTrue(old.output.contains("old.txt:6:1: allow rule \"line-6\" never decides: the earlier allow rule \"line-2\" (line 2)"), old.output)
        XCTAssertTrue(try fabricauth("policy", "check", "missing.yaml").output.contains("cannot open missing.yaml"))
    }

    func testExplainPrintsDecisionRuleVersionAndHash() throws {
        try write("p.yaml", PolicyFileTests.table)
        let hash = try PolicyFileTests.sha256sum(PolicyFileTests.table)
        let allowed = try fabricauth("policy", "explain", "p.yaml", "--local", "spiffe://prod.org/trainer/rank0",
                                     "--peer", "spiffe://prod.org/trainer/rank1")
        XCTAssertEqual(allowed.status, 0, allowed.output)
        XCTAssertEqual(allowed.output, """
            decision: allow
            rule: trainers (line 4)
            description: ranks of a job talk to each other
            reason: spiffe://prod.org/trainer/rank1 allowed by rule "trainers" (allow prefix spiffe://prod.org/trainer, local prefix spiffe://prod.org/trainer)
            version: 2026-12-01
            sha256: \(hash)

            """)
        let denied = try fabricauth("policy", "explain", "p.yaml", "--local", "spiffe://prod.org/db/primary",
                                    "--peer", "spiffe://ops.org/admin")
        XCTAssertEqual(denied.status, 1, denied.output)
        XCTAssertTrue(denied.output.hasPrefix("decision: deny\nrule: no-ops-to-db (line 24)\n"), denied.output)
        let none = try fabricauth("policy", "explain", "p.yaml", "--peer", "spiffe://prod.org/trainer/rank1")
        XCTAssertEqual(none.status, 1, none.output)
        XCTAssertTrue(none.output.hasPrefix("decision: deny\nrule: default deny\nreason: spiffe://prod.org/trainer/rank1 matches no allow rule (default deny)\n"), none.output)
        let badID = try fabricauth("policy", "explain", "p.yaml", "--peer", "spiffe://Prod.org/x")
        XCTAssertNotEqual(badID.status, 0)
        XCTAssertTrue(badID.output.contains("trust domain must be lowercase"), badID.output)
    }

    func testConvertRoundTripsToTheSameDecisions() throws {
        try write("old.txt", PolicyFileTests.lines)
        let converted = try fabricauth("policy", "convert", "old.txt", "--policy-version", "2026-12-02")
        XCTAssertEqual(converted.status, 0, converted.output)
        try write("new.yaml", converted.output)
        XCTAssertTrue(converted.output.contains("  # left out, it decides nothing: allow rule \"line-6\" never decides"), converted.output)
        let check = try fabricauth("policy", "check", "new.yaml")
        XCTAssertEqual(check.status, 0, check.output)
        for peer in ["spiffe://prod.org/ns/storage/node-1", "spiffe://prod.org/ns/storage/legacy", "spiffe://prod.org/ns/db/primary",
                     "spiffe://ops.org/intruder", "spiffe://ops.org/a", "spiffe://x.org/a"] {
            let a = try fabricauth("policy", "explain", "old.txt", "--peer", peer)
            let b = try fabricauth("policy", "explain", "new.yaml", "--peer", peer)
            XCTAssertEqual(a.status, b.status, peer)
            // decision, rule (name and line: convert keeps each rule on... its own name) and reason agree.
            let lines = { (run: CLITests.Run) in run.output.split(separator: "\n").filter { $0.hasPrefix("decision:") || $0.hasPrefix("reason:") } }
            XCTAssertEqual(lines(a), lines(b), peer)
            XCTAssertTrue(b.output.contains("version: 2026-12-02\n"), b.output)
        }
        let again = try fabricauth("policy", "convert", "new.yaml")
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("already a YAML policy file"), again.output)
    }

    /// docs/operations.md's example file passes `check`, and `check` and `explain` print
    /// exactly what the document shows for it.
    func testDocumentedExampleChecksAndExplainsAsShown() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/operations.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        func block(after marker: String) throws -> String {
            let start = try XCTUnwrap(text.range(of: marker)).upperBound
            let end = try XCTUnwrap(text.range(of: "```\n", range: start..<text.endIndex)).lowerBound
            return String(text[start..<end])
        }
        try write("example.yaml", try block(after: "## Policy files").components(separatedBy: "```yaml\n")[1])
        let check = try fabricauth("policy", "check", "example.yaml")
        XCTAssertEqual(check.status, 0, check.output)
        let shownCheck = try block(after: "$ fabricauth policy check example.yaml          # the example above\n")
        XCTAssertEqual(check.output, shownCheck)
        let explainCommand = "$ fabricauth policy explain example.yaml --local spiffe://prod.example.org/trainer/rank0 --peer spiffe://prod.example.org/trainer/rank1\n"
        let explain = try fabricauth("policy", "explain", "example.yaml", "--local", "spiffe://prod.example.org/trainer/rank0",
                                     "--peer", "spiffe://prod.example.org/trainer/rank1")
        XCTAssertEqual(explain.status, 0, explain.output)
        XCTAssertEqual(explain.output, try block(after: explainCommand))
    }

    func testPolicyFlagLoadsBothFormatsAndRefusesABadFileWithItsPosition() throws {
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "prod.org").status, 0)
        XCTAssertEqual(try fabricauth("cert", "issue", "--id", "spiffe://prod.org/backup").status, 0)
        try write("p.yaml", PolicyFileTests.table)
        let yaml = try fabricauth("cert", "verify", "backup.pem", "--bundle", "ca.pem", "--policy", "p.yaml")
        XCTAssertEqual(yaml.status, 0, yaml.output)
        XCTAssertTrue(yaml.output.contains("policy: allow: spiffe://prod.org/backup allowed by rule \"backup\" (allow id spiffe://prod.org/backup) [policy version \"2026-12-01\" sha256 "), yaml.output)
        try write("old.txt", "allow prefix spiffe://prod.org\n")
        let old = try fabricauth("cert", "verify", "backup.pem", "--bundle", "ca.pem", "--policy", "old.txt")
        XCTAssertEqual(old.status, 0, old.output)
        XCTAssertTrue(old.output.contains("allowed by rule \"line-1\""), old.output)
        try write("bad.yaml", "version: \"1\"\nrules:\n  - name: a\n    effect: allow\n    peer: {id: spiffe://prod.org/x/}\n")
        let bad = try fabricauth("cert", "verify", "backup.pem", "--bundle", "ca.pem", "--policy", "bad.yaml")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("malformedPolicy: bad.yaml:5:16: invalid SPIFFE ID \"spiffe://prod.org/x/\": path must not end with \"/\""), bad.output)
    }
}
