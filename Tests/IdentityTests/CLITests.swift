import Foundation
import XCTest

@testable import Identity

/// End-to-end tests of the `fabricauth ca` and `fabricauth cert` commands, running the built
/// binary (next to the test bundle, or FABRICAUTH_BIN).
final class CLITests: XCTestCase {
    var dir = ""

    struct Run {
        let status: Int32
        let output: String
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["FABRICAUTH_BIN"] { return path }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("fabricauth").path
    }

    override func setUp() {
        dir = TestPKI.temporaryDirectory()
    }

    @discardableResult
    func fabricauth(_ arguments: String..., file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary),
                      "build the CLI first (swift build); looked for \(Self.binary)", file: file, line: line)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    func mode(_ name: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.posixPermissions] as! NSNumber).intValue
    }

    func assertFails(_ run: Run, containing text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(run.status, 0, run.output, file: file, line: line)
        XCTAssertTrue(run.output.contains(text), "expected \"\(text)\" in: \(run.output)", file: file, line: line)
    }

    func testCAInitWritesKeyWith0600AndRefusesOverwrite() throws {
        let run = try fabricauth("ca", "init", "--trust-domain", "example.org")
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(try mode("ca.key"), 0o600)
        XCTAssertEqual(try mode("ca.pem") & 0o077, 0o044)
        let before = try String(contentsOfFile: dir + "/ca.key", encoding: .utf8)
        assertFails(try fabricauth("ca", "init", "--trust-domain", "example.org"), containing: "refusing to overwrite")
        XCTAssertEqual(try String(contentsOfFile: dir + "/ca.key", encoding: .utf8), before, "key untouched")
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org", "--force").status, 0)
        XCTAssertNotEqual(try String(contentsOfFile: dir + "/ca.key", encoding: .utf8), before)
        XCTAssertEqual(try mode("ca.key"), 0o600)
        assertFails(try fabricauth("ca", "init", "--trust-domain", "Bad_Domain!", "--out", "x.pem", "--key-out", "x.key"),
                    containing: "SPIFFE-ID §2.1")
        assertFails(try fabricauth("ca", "init", "--trust-domain", "a.org", "--key-type", "rsa", "--out", "y.pem", "--key-out", "y.key"),
                    containing: "ed25519 or p256")
    }

    func testIssueInspectVerifyRevoke() throws {
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org", "--key-type", "p256").status, 0)
        let issue = try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web", "--ttl", "2h")
        XCTAssertEqual(issue.status, 0, issue.output)
        XCTAssertEqual(try mode("web.key"), 0o600)
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web"), containing: "refusing to overwrite")
        XCTAssertEqual(try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web", "--force").status, 0)
        XCTAssertEqual(try mode("web.key"), 0o600)
        let p256 = try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/db", "--key-type", "p256",
                                  "--ca", "ca", "--out", "db-cert.pem", "--key-out", "db-key.pem")
        XCTAssertEqual(p256.status, 0, p256.output)

        // Default leaf lifetime is short (24 h).
        let inspect = try fabricauth("cert", "inspect", "web.pem")
        XCTAssertEqual(inspect.status, 0, inspect.output)
        XCTAssertTrue(inspect.output.contains("\"spiffe://example.org/ns/web\""), inspect.output)
        XCTAssertTrue(inspect.output.contains("digitalSignature (critical)"), inspect.output)
        let credential = try Credential(certificatePath: dir + "/web.pem", keyPath: dir + "/web.key")
        let lifetime = credential.leaf.notValidAfter.timeIntervalSince(credential.leaf.notValidBefore)
        XCTAssertEqual(lifetime, 24 * 3600 + CertificateAuthority.backdate, accuracy: 5)

        let verify = try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--key", "web.key")
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("verified: spiffe://example.org/ns/web"), verify.output)
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--key", "db-key.pem"), containing: "keyMismatch")
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--at", "2099-01-01T00:00:00Z"),
                    containing: "[validity.expired]")
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--trust-domain", "other.org"),
                    containing: "[svid.trust-domain]")
        assertFails(try fabricauth("cert", "verify", "web.pem"), containing: "--bundle")

        // Policy: allowed and denied, each with its reason.
        try "allow prefix spiffe://example.org/ns\ndeny id spiffe://example.org/ns/db\n"
            .write(toFile: dir + "/policy.txt", atomically: true, encoding: .utf8)
        let allowed = try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--policy", "policy.txt")
        XCTAssertEqual(allowed.status, 0, allowed.output)
        XCTAssertTrue(allowed.output.contains("allowed by rule \"line-1\" (allow prefix spiffe://example.org/ns)"), allowed.output)
        assertFails(try fabricauth("cert", "verify", "db-cert.pem", "--bundle", "ca.pem", "--policy", "policy.txt"),
                    containing: "denied by rule")

        // A second CA: its bundle does not trust our leaf; both bundles do (rollover).
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org", "--out", "new-ca.pem", "--key-out", "new-ca.key").status, 0)
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "new-ca.pem"), containing: "[chain.untrusted]")
        XCTAssertEqual(try fabricauth("cert", "verify", "web.pem", "--bundle", "new-ca.pem", "--bundle", "ca.pem").status, 0)

        // Revoke the leaf; then the CA, which revokes the db leaf too.
        let revoke = try fabricauth("cert", "revoke", "web.pem", "--revocations", "revoked.txt")
        XCTAssertEqual(revoke.status, 0, revoke.output)
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--revocations", "revoked.txt"),
                    containing: "[revocation.revoked]")
        XCTAssertEqual(try fabricauth("cert", "verify", "db-cert.pem", "--bundle", "ca.pem", "--revocations", "revoked.txt").status, 0)
        XCTAssertEqual(try fabricauth("cert", "revoke", "ca.pem", "--revocations", "revoked.txt").status, 0)
        assertFails(try fabricauth("cert", "verify", "db-cert.pem", "--bundle", "ca.pem", "--revocations", "revoked.txt"),
                    containing: "[revocation.revoked] certificate 1")
        let list = try RevocationStore(path: dir + "/revoked.txt").list
        XCTAssertEqual(list.fingerprints.count, 2)
        XCTAssertEqual(try fabricauth("cert", "revoke", "--serial", "0A1B", "--revocations", "revoked.txt").status, 0)
        XCTAssertEqual(try RevocationStore(path: dir + "/revoked.txt").list.count, 3)
        assertFails(try fabricauth("cert", "revoke", "--fingerprint", "abc", "--revocations", "revoked.txt"), containing: "32 bytes")
        assertFails(try fabricauth("cert", "revoke", "--revocations", "revoked.txt"), containing: "name certificates")
    }

    /// Key files others can read, or that another user owns, are refused with advice; what the
    /// CLI writes (`ca init`, `cert issue --key-out`, also over a looser file with --force) is 0600.
    func testKeyFilesOthersCanAccessAreRefusedWithChmodAdvice() throws {
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org").status, 0)
        XCTAssertEqual(chmod(dir + "/ca.key", 0o644), 0)
        let refused = try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web")
        assertFails(refused, containing: "insecureKeyFile")
        XCTAssertTrue(refused.output.contains("chmod 600 ca.key"), refused.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/web.pem"))
        XCTAssertEqual(chmod(dir + "/ca.key", 0o600), 0)

        try "stale".write(toFile: dir + "/custom.key", atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(dir + "/custom.key", 0o644), 0)
        let issue = try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web", "--key-out", "custom.key", "--force")
        XCTAssertEqual(issue.status, 0, issue.output)
        XCTAssertEqual(try mode("custom.key"), 0o600)
        XCTAssertTrue(try fabricauth("cert", "inspect", "web.pem").output.contains("ext. key usage: serverAuth, clientAuth"))
        XCTAssertEqual(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--key", "custom.key").status, 0)

        XCTAssertEqual(chmod(dir + "/custom.key", 0o640), 0)
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--key", "custom.key"),
                    containing: "chmod 600 custom.key")
    }

    /// `--clock-skew` widens the validity period by that much on both sides.
    func testClockSkewFlag() throws {
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org").status, 0)
        XCTAssertEqual(try fabricauth("cert", "issue", "--id", "spiffe://example.org/ns/web").status, 0)
        let leaf = try Credential(certificatePath: dir + "/web.pem", keyPath: dir + "/web.key").leaf
        let formatter = ISO8601DateFormatter()
        let justAfter = formatter.string(from: leaf.notValidAfter.addingTimeInterval(60))
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--at", justAfter),
                    containing: "[validity.expired]")
        let tolerated = try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--at", justAfter, "--clock-skew", "1m")
        XCTAssertEqual(tolerated.status, 0, tolerated.output)
        assertFails(try fabricauth("cert", "verify", "web.pem", "--bundle", "ca.pem", "--at", justAfter, "--clock-skew", "59s"),
                    containing: "[validity.expired]")
    }

    func testBadInputFilesExitNonZeroWithSpecificErrors() throws {
        XCTAssertEqual(try fabricauth("ca", "init", "--trust-domain", "example.org").status, 0)
        XCTAssertEqual(try fabricauth("cert", "issue", "--id", "spiffe://example.org/w").status, 0)
        let pem = try String(contentsOfFile: dir + "/w.pem", encoding: .utf8)
        try String(pem.prefix(pem.count / 2)).write(toFile: dir + "/truncated.pem", atomically: true, encoding: .utf8)
        try "hello\n".write(toFile: dir + "/text.pem", atomically: true, encoding: .utf8)
        try Data([0x30, 0x82, 0x01]).write(to: URL(fileURLWithPath: dir + "/short.der"))
        assertFails(try fabricauth("cert", "inspect", "truncated.pem"), containing: "malformedPEM")
        assertFails(try fabricauth("cert", "inspect", "text.pem"), containing: "no PEM block")
        assertFails(try fabricauth("cert", "inspect", "short.der"), containing: "malformedDER")
        assertFails(try fabricauth("cert", "inspect", "missing.pem"), containing: "cannot open")
        assertFails(try fabricauth("cert", "verify", "truncated.pem", "--bundle", "ca.pem"), containing: "malformedPEM")
        assertFails(try fabricauth("cert", "verify", "w.pem", "--bundle", "w.pem"), containing: "invalidCACertificate")
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://example.org"), containing: "X509-SVID §2")
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://other.org/x"), containing: "trust domain")
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://example.org/x", "--ttl", "forever"), containing: "invalidDuration")
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://example.org/x", "--ca-key", "w.key"), containing: "keyMismatch")
        assertFails(try fabricauth("cert", "issue", "--id", "spiffe://example.org/x", "--ca-cert", "w.pem", "--ca-key", "w.key"),
                    containing: "invalidCACertificate")
        // inspect names the profile rule a non-SVID breaks (a CA's file passes as signing certificates).
        XCTAssertEqual(try fabricauth("cert", "inspect", "ca.pem").status, 0)
    }
}
