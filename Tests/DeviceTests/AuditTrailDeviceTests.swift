// The audit trail of real runs on the device: channels set up through the
// listener and connector with an AuditLog, a forged frame injected through
// the raw QP, a peer refused by policy, and `fabricauth ping --audit-log`;
// every line validated against docs/audit-schema.json (python3-jsonschema).
import Foundation
@_spi(RawQueuePair) @testable import FabricAuth
import Identity
import Verbs
import XCTest

final class AuditTrailDeviceTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Validates every line of `file`; returns the parsed lines.
    static func validatedLines(_ file: String, file testFile: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [repository.appendingPathComponent("Tests/Support/validate-audit-log.py").path,
            repository.appendingPathComponent("docs/audit-schema.json").path, file]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        XCTAssertEqual(process.terminationStatus, 0, "\(file) does not match the schema:\n\(output)\n\(text)", file: testFile, line: line)
        return text.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
    }

    static func events(_ lines: [[String: Any]], _ name: String) -> [[String: Any]] {
        lines.filter { $0["event"] as? String == name }
    }

    func testAuditTrailOfARealRun() throws {
        let context = try DeviceTestSupport.openContext()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-device-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.jsonl").path
        let log = try AuditLog(destination: .file(path: path, maxBytes: 1 << 20, keep: 2))

        let cluster = try AuthenticatedChannelTests.Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow prefix spiffe://cluster.test/trainer")
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        server.audit = log
        client.audit = log
        // A rekey every 3 messages: 4 messages move both directions' views to epoch 1.
        server.dataPath.rekeyAfterMessages = 3
        client.dataPath.rekeyAfterMessages = 3

        // Accepted at both ends; four messages; a forged frame tears the responder's channel down.
        let (s, c) = try AuthenticatedChannelTests.establish(context: context, server: server, client: client)
        let victim = try s.get()
        let sender = try c.get()
        for _ in 0..<4 {
            try sender.send([UInt8](repeating: 0x42, count: 100))
            XCTAssertEqual(try victim.receive(), [UInt8](repeating: 0x42, count: 100))
        }
        XCTAssertEqual(sender.sendEpoch, 1)
        try sender.flush()
        var forged = Array(UnsafeRawBufferPointer(rebasing:
            sender.resources.sendSlot(sender.resources.lastPostedSendSlot)[0..<(DataPathLimits.frameOverhead + 100)]))
        forged[DataPathLimits.headerSize + 50] ^= 0xFF
        forged[23] &+= 1  // the next sequence number, so the tag decides
        try FrameInjector(queuePair: sender.queuePair).inject(forged)
        XCTAssertThrowsError(try victim.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.rejected(.badTag, tornDown: true) = error else { return XCTFail("\(error)") }
        }
        sender.close()

        // Refused by policy: the responder allows trainers only.
        var outsider = try cluster.configuration(id: "spiffe://cluster.test/inference/web", policy: "allow domain cluster.test")
        outsider.audit = log
        let (refusedServer, refusedClient) = try AuthenticatedChannelTests.establish(context: context, server: server, client: outsider)
        guard case .failure = refusedServer, case .failure = refusedClient else { return XCTFail("the outsider was accepted") }
        log.close()

        let lines = try Self.validatedLines(path)
        let handshakes = Self.events(lines, "handshake")
        let accepted = handshakes.filter { $0["outcome"] as? String == "accepted" }
        XCTAssertEqual(Set(accepted.compactMap { $0["role"] as? String }), ["initiator", "responder"], "\(accepted)")
        for h in accepted {
            let peer = h["peer"] as? [String: Any] ?? [:]
            XCTAssertNotNil(peer["cert_sha256"], "\(h)")
            XCTAssertEqual(h["transport"] as? String, "tcp")
        }
        let responderAccept = try XCTUnwrap(accepted.first { $0["role"] as? String == "responder" })
        XCTAssertEqual((responderAccept["peer"] as? [String: Any])?["qpn"] as? Int, Int(sender.queuePairNumber))
        XCTAssertEqual((responderAccept["local"] as? [String: Any])?["qpn"] as? Int, Int(victim.queuePairNumber))
        XCTAssertEqual((responderAccept["policy"] as? [String: Any])?["rule"] as? String, "line-1")

        let refused = handshakes.filter { $0["outcome"] as? String == "refused" }
        let denial = try XCTUnwrap(refused.first { $0["role"] as? String == "responder" }, "\(refused)")
        XCTAssertEqual(denial["reason"] as? String, "policy_denied")
        XCTAssertEqual((denial["peer"] as? [String: Any])?["spiffe_id"] as? String, "spiffe://cluster.test/inference/web")
        XCTAssertEqual((denial["policy"] as? [String: Any])?["rule"] as? String, "default deny")
        let told = try XCTUnwrap(refused.first { $0["role"] as? String == "initiator" }, "\(refused)")
        XCTAssertEqual(told["reason"] as? String, "peer_aborted")
        XCTAssertEqual(told["peer_reason"] as? String, "policy_denied")

        let rejected = Self.events(lines, "rejected_frames")
        XCTAssertEqual(rejected.count, 1, "\(rejected)")
        XCTAssertEqual(rejected.first?["counts"] as? [String: Int], ["bad_tag": 1])
        XCTAssertEqual((rejected.first?["channel"] as? [String: Any])?["local_qpn"] as? Int, Int(victim.queuePairNumber))

        let closes = Self.events(lines, "channel_closed")
        let byQP = Dictionary(closes.map { (($0["channel"] as? [String: Any])?["local_qpn"] as? Int ?? -1, $0) }) { a, _ in a }
        XCTAssertEqual(byQP[Int(victim.queuePairNumber)]?["reason"] as? String, "rejected_frame", "\(closes)")
        XCTAssertEqual(byQP[Int(victim.queuePairNumber)]?["frames_rejected"] as? Int, 1)
        XCTAssertEqual(byQP[Int(sender.queuePairNumber)]?["reason"] as? String, "application", "\(closes)")
        XCTAssertEqual(byQP[Int(sender.queuePairNumber)]?["messages_sealed"] as? Int, 4)

        let epochs = Self.events(lines, "epoch_change").map {
            ((($0["channel"] as? [String: Any])?["local_qpn"] as? Int) ?? -1, $0["direction"] as? String ?? "", $0["epoch"] as? Int ?? -1)
        }
        XCTAssertTrue(epochs.contains { $0 == (Int(sender.queuePairNumber), "send", 1) }, "\(epochs)")
        XCTAssertTrue(epochs.contains { $0 == (Int(victim.queuePairNumber), "receive", 1) }, "\(epochs)")
    }

    func testPingWritesTheAuditLog() throws {
        _ = try DeviceTestSupport.openContext()
        let binary = CLIPingTests.binary
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "build fabricauth first: \(binary.path)")
        let dir = try CLIPingTests.makeIdentities(["a", "b"], in: "audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = String(20000 + Int(getpid() % 20000) + Int.random(in: 0..<1000))
        let responder = Process()
        responder.executableURL = binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/b",
            "-p", port, "-n", "10", "--wait", "60", "--once", "--audit-log", "server.jsonl"]
        let output = Pipe()
        responder.standardOutput = output
        responder.standardError = output
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }
        var initiator: (status: Int32, output: String) = (1, "")
        for _ in 0..<20 {
            initiator = try CLIPingTests.run(["ping", "127.0.0.1", "--cert", "b.pem", "--key", "b.key", "--bundle", "ca.pem",
                "--allow", "id spiffe://ping.test/a", "-p", port, "-n", "10", "--audit-log", "client-%p.jsonl"], in: dir)
            if !initiator.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        responder.waitUntilExit()
        let served = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(initiator.status, 0, initiator.output)
        XCTAssertEqual(responder.terminationStatus, 0, served)

        let serverLines = try Self.validatedLines(dir.appendingPathComponent("server.jsonl").path)
        let clientFile = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .first { $0.hasPrefix("client-") && $0.hasSuffix(".jsonl") }, "%p names the initiator's file")
        let clientLines = try Self.validatedLines(dir.appendingPathComponent(clientFile).path)
        for (lines, peer) in [(serverLines, "spiffe://ping.test/b"), (clientLines, "spiffe://ping.test/a")] {
            let accepted = Self.events(lines, "handshake").filter { $0["outcome"] as? String == "accepted" }
            XCTAssertEqual(accepted.count, 1, "\(lines)")
            XCTAssertEqual((accepted.first?["peer"] as? [String: Any])?["spiffe_id"] as? String, peer)
            let closed = Self.events(lines, "channel_closed")
            XCTAssertEqual(closed.count, 1, "\(lines)")
            XCTAssertEqual(closed.first?["reason"] as? String, "application")
            XCTAssertEqual(closed.first?["messages_sealed"] as? Int, 10)
        }
    }
}
