import Foundation
import Identity
import XCTest

@testable import NCCLNetPlugin

/// FABRICAUTH_POLICY goes through Identity's one policy loader: both formats, and a bad
/// file refused with the same FILE:LINE:COLUMN error `fabricauth policy check` prints.
final class PluginPolicyTests: XCTestCase {
    let identity = [
        "FABRICAUTH_CERT": "/etc/fa/rank0.pem", "FABRICAUTH_KEY": "/etc/fa/rank0.key", "FABRICAUTH_BUNDLE": "/etc/fa/ca.pem",
    ]

    func settings(policy: String, allow: String? = nil) throws -> PluginSettings {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fa-plugin-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("policy").path
        try policy.write(toFile: path, atomically: true, encoding: .utf8)
        var env = identity
        env["FABRICAUTH_POLICY"] = path
        env["FABRICAUTH_ALLOW"] = allow
        return try PluginSettings.parse(env)
    }

    func testYAMLPolicyAndAllowRule() throws {
        let s = try settings(policy: """
            version: "7"
            rules:
              - name: ranks
                effect: allow
                peer: {pattern: spiffe://cluster.example/job/*/rank}
                local: {domain: cluster.example}

            """, allow: "domain ops.example")
        let policy = try PluginRuntime.loadPolicy(s)
        let local = try SPIFFEID("spiffe://cluster.example/job/a/rank")
        let ranks = policy.decide(local: local, peer: try SPIFFEID("spiffe://cluster.example/job/b/rank"))
        XCTAssertEqual(ranks.ruleName, "ranks")
        XCTAssertEqual(ranks.policyVersion, "7")
        XCTAssertEqual(policy.decide(local: local, peer: try SPIFFEID("spiffe://ops.example/x")).ruleName, "FABRICAUTH_ALLOW")
        XCTAssertFalse(policy.decide(local: local, peer: try SPIFFEID("spiffe://cluster.example/job/b/c/rank")).allowed)
    }

    func testLineFormatStillReads() throws {
        let policy = try PluginRuntime.loadPolicy(try settings(policy: "# old\nallow prefix spiffe://cluster.example/trainer\n"))
        XCTAssertEqual(policy.decide(spiffeID: try SPIFFEID("spiffe://cluster.example/trainer/r1")).ruleName, "line-2")
    }

    func testBadFileIsRefusedWithItsPosition() throws {
        let s = try settings(policy: "version: \"1\"\nrules:\n  - name: a\n    effect: alow\n    peer: {domain: cluster.example}\n")
        XCTAssertThrowsError(try PluginRuntime.loadPolicy(s)) { error in
            XCTAssertTrue("\(error)".hasPrefix("FABRICAUTH_POLICY=\(s.policyPath!): malformedPolicy: \(s.policyPath!):4:13: effect must be allow or deny, not \"alow\""), "\(error)")
        }
    }
}
