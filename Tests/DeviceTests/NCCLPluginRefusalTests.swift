// Ranks the plug-in must refuse, driven through its ABI by the C harness
// (Tests/NCCLPluginHarness) as two processes on the device: rank 1 holds a
// certificate that is expired, revoked (FABRICAUTH_REVOCATIONS) or issued by
// a CA outside FABRICAUTH_BUNDLE, with an ID the policy allows, so the
// certificate is the only thing wrong. connect and accept fail with
// ncclSystemError on both ranks and return no comm (the harness checks both),
// so NCCL has no buffer the peer could reach; no handshake produced keys and
// no payload byte was verified (the metrics textfile); and each refusal is a
// WARN line naming its reason: rank 0 verified the certificate and says what
// is wrong with it, rank 1 learns only that its peer refused its certificate.
import Foundation
import XCTest

final class NCCLPluginRefusalTests: XCTestCase {
    /// Runs the harness with rank 1 holding `rank1` (a file prefix in `dir`) and checks the refusal on both ranks.
    func checkRefused(_ dir: URL, harness: URL, rank1: String, reason: String, extra: [String: String] = [:]) throws {
        var environment = NCCLPluginTests.environment(in: dir, rank1: rank1)
        let textfile = dir.appendingPathComponent("\(rank1).prom").path
        environment["FABRICAUTH_METRICS_FILE"] = textfile
        environment["NCCL_DEBUG"] = "INFO"
        for (name, value) in extra { environment[name] = value }
        let result = try NCCLPluginTests.run(harness, [NCCLPluginTests.library.path, "--loads", "1", "--expect-refused"],
            environment: environment, in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("rank 0: PASS (1 loads, refused as expected)"), result.output)
        XCTAssertTrue(result.output.contains("rank 1: PASS (1 loads, refused as expected)"), result.output)
        XCTAssertFalse(result.output.contains("ring"), "no data may move: \(result.output)")

        let lines = result.output.split(separator: "\n")
        let verifier = lines.filter { $0.hasPrefix("rank 0 [WARN] NET/FabricAuth : ") && $0.contains(" refused: \(reason); ") }
        XCTAssertEqual(verifier.filter { $0.contains(": connect to ") }.count, 1, "rank 0's connect: \(result.output)")
        XCTAssertEqual(verifier.filter { $0.contains(": accept on port ") }.count, 1, "rank 0's accept: \(result.output)")
        let refusedRank = lines.filter {
            $0.hasPrefix("rank 1 [WARN] NET/FabricAuth : ") && $0.contains(" refused: peer refused this rank's certificate; ")
        }
        XCTAssertEqual(refusedRank.count, 2, "rank 1's connect and accept: \(result.output)")
        XCTAssertFalse(lines.contains { $0.contains(" verified; ") }, "no peer verified: \(result.output)")

        // Whichever rank finalized last wrote the textfile; on neither did a handshake make keys or a byte verify.
        let metrics = try String(contentsOfFile: textfile, encoding: .utf8)
        XCTAssertEqual(CLIMetricsTests.sample("fabricauth_opened_payload_bytes_total", in: metrics), 0, metrics)
        XCTAssertEqual(CLIMetricsTests.sample("fabricauth_opened_messages_total", in: metrics), 0, metrics)
        XCTAssertTrue(metrics.contains("fabricauth_handshakes_accepted_total{mode=\"full\"} 0"), metrics)
    }

    func testExpiredCertificateIsRefusedAtConnectAndAccept() throws {
        _ = try DeviceTestSupport.openContext()  // fail clearly without a device
        let (dir, harness) = try NCCLPluginTests.prepare("expired")
        defer { try? FileManager.default.removeItem(at: dir) }
        let issued = try CLIPingTests.run(["cert", "issue", "--id", "spiffe://ping.test/rank1", "--ttl", "1s",
            "--out", "expired.pem", "--key-out", "expired.key"], in: dir)
        XCTAssertEqual(issued.status, 0, issued.output)
        Thread.sleep(forTimeInterval: 3)  // past notAfter (whole seconds in the certificate)
        try checkRefused(dir, harness: harness, rank1: "expired", reason: "peer certificate expired")
    }

    func testRevokedCertificateIsRefusedAtConnectAndAccept() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try NCCLPluginTests.prepare("revoked")
        defer { try? FileManager.default.removeItem(at: dir) }
        let issued = try CLIPingTests.run(["cert", "issue", "--id", "spiffe://ping.test/rank1",
            "--out", "revoked.pem", "--key-out", "revoked.key"], in: dir)
        XCTAssertEqual(issued.status, 0, issued.output)
        let revoked = try CLIPingTests.run(["cert", "revoke", "revoked.pem", "--revocations", "revoked.txt"], in: dir)
        XCTAssertEqual(revoked.status, 0, revoked.output)
        try checkRefused(dir, harness: harness, rank1: "revoked", reason: "peer certificate revoked",
            extra: ["FABRICAUTH_REVOCATIONS": dir.appendingPathComponent("revoked.txt").path])
    }

    func testCertificateFromAnotherCAIsRefusedAtConnectAndAccept() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try NCCLPluginTests.prepare("otherca")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Another CA for the same trust domain, not in FABRICAUTH_BUNDLE (ca.pem).
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        XCTAssertEqual(try CLIPingTests.run(["ca", "init", "--trust-domain", "ping.test"], in: other).status, 0)
        let issued = try CLIPingTests.run(["cert", "issue", "--id", "spiffe://ping.test/rank1",
            "--out", "../foreign.pem", "--key-out", "../foreign.key"], in: other)
        XCTAssertEqual(issued.status, 0, issued.output)
        try checkRefused(dir, harness: harness, rank1: "foreign",
            reason: "peer certificate not issued by a CA in FABRICAUTH_BUNDLE")
    }
}
