// The operations side of the audit trail on a real rxe device
// (docs/operations.md, Audit log and Isolation): a forged frame's
// `fabric_under_attack` line and a misbehaving peer's `quarantine` lines
// (started, lifted) with the closes they caused; and a policy file
// rewritten under traffic, first to a version that still allows the peer
// (no message lost, new handshakes record the new version and hash), then
// to one that denies it (the live channel closes within the recheck bound,
// a new handshake is refused by the policy). Every line is validated
// against docs/audit-schema.json.
import Dispatch
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
import Identity
import Verbs
import XCTest

final class OperationsAuditDeviceTests: XCTestCase {
    typealias Support = AuthenticatedChannelTests
    static let victimID = "spiffe://cluster.test/trainer/rank0"
    static let peerID = "spiffe://cluster.test/trainer/rank1"

    static func makeDirectory(_ name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "fabricauth-\(name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func events(_ lines: [[String: Any]], _ name: String) -> [[String: Any]] {
        AuditTrailDeviceTests.events(lines, name)
    }

    static func localQPN(_ event: [String: Any]) -> Int? {
        (event["channel"] as? [String: Any])?["local_qpn"] as? Int
    }

    /// A frame with a forged tag, posted on the peer's own QP with the next
    /// sequence number, is dropped under drop-and-count and written as a
    /// `fabric_under_attack` line naming both QPs and the peer's GID; it
    /// quarantines nobody. Then an authentic out-of-state READ done
    /// quarantines the peer: a `quarantine` started line, the peer's other
    /// channel closed with reason `quarantined`; lifting it writes `lifted`
    /// and the peer connects again.
    func testForgedFrameAndQuarantineAreAudited() throws {
        let context = try DeviceTestSupport.openContext()
        let dir = try Self.makeDirectory("ops-audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.jsonl"
        let log = try AuditLog(destination: .file(path: path, maxBytes: 1 << 20, keep: 2))
        let quarantine = PeerQuarantine()
        log.recordQuarantines(of: quarantine)
        let cluster = try Support.Cluster()
        var server = try cluster.configuration(id: Self.victimID, policy: "allow domain cluster.test")
        server.quarantine = quarantine
        server.audit = log
        server.dataPath.failurePolicy = .dropAndCount
        let client = try cluster.configuration(id: Self.peerID, policy: "allow domain cluster.test")
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        func connect() throws -> (victim: AuthenticatedQueuePair, peer: AuthenticatedQueuePair) {
            let (v, p) = try Support.establish(context: context, listener: listener, client: client)
            return (try v.get(), try p.get())
        }
        let (victim1, peer1) = try connect()
        let (victim2, _) = try connect()

        let genuine = [UInt8](repeating: 0x42, count: 100)
        try peer1.send(genuine)
        XCTAssertEqual(try victim1.receive(), genuine)
        try peer1.flush()
        var forged = Array(UnsafeRawBufferPointer(rebasing:
            peer1.resources.sendSlot(peer1.resources.lastPostedSendSlot)[0..<(DataPathLimits.frameOverhead + 100)]))
        forged[DataPathLimits.headerSize + 50] ^= 0xFF
        forged[23] &+= 1  // the next sequence number, so the tag decides
        try FrameInjector(queuePair: peer1.queuePair).inject(forged)
        try peer1.send(Array("after the forgery".utf8))
        XCTAssertEqual(try victim1.receive(), Array("after the forgery".utf8), "dropped and counted; the channel goes on")
        XCTAssertEqual(victim1.receiveMetrics.failures[.badTag], 1)
        XCTAssertTrue(quarantine.active(at: Date()).isEmpty, "a forged frame quarantined the honest peer")

        let readDone: [UInt8] = [0, 0, 0, 3, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        let slot = try peer1.resources.acquireSendSlot(deadline: .max)
        try peer1.sendControl(.readDone, slot: slot, length: readDone.count) { p in
            readDone.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        XCTAssertThrowsError(try victim1.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.protocolViolation = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try victim2.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.peerQuarantined = error else { return XCTFail("\(error)") }
        }
        let peer = try SPIFFEID(Self.peerID)
        XCTAssertTrue(quarantine.lift(peer))
        let (victim3, peer3) = try connect()
        try peer3.send(Array("back".utf8))
        XCTAssertEqual(try victim3.receive(), Array("back".utf8))
        victim3.close()
        log.close()

        let lines = try AuditTrailDeviceTests.validatedLines(path)
        let alarms = Self.events(lines, "fabric_under_attack")
        XCTAssertEqual(alarms.count, 1, "\(alarms)")
        let alarm = try XCTUnwrap(alarms.first)
        XCTAssertEqual(alarm["counts"] as? [String: Int], ["bad_tag": 1])
        XCTAssertEqual(alarm["total"] as? Int, 1)
        let channel = try XCTUnwrap(alarm["channel"] as? [String: Any])
        XCTAssertEqual(channel["local_qpn"] as? Int, Int(victim1.queuePairNumber))
        XCTAssertEqual(channel["peer_qpn"] as? Int, Int(peer1.queuePairNumber))
        XCTAssertEqual(channel["peer_id"] as? String, Self.peerID)
        XCTAssertEqual((channel["peer_gid"] as? String)?.isEmpty, false)

        let quarantines = Self.events(lines, "quarantine")
        XCTAssertEqual(quarantines.map { $0["action"] as? String }, ["started", "lifted"], "\(quarantines)")
        let started = try XCTUnwrap(quarantines.first)
        XCTAssertEqual(started["peer_id"] as? String, Self.peerID)
        XCTAssertEqual(started["origin"] as? String, "local")
        XCTAssertEqual(started["reason"] as? String, "misbehaviour")
        XCTAssertTrue((started["detail"] as? String)?.contains("READ done") == true, "\(started)")
        XCTAssertEqual(started["channels_closed"] as? Int, 1, "the peer's other channel")
        XCTAssertNotNil(started["until"])

        let closes = Dictionary(Self.events(lines, "channel_closed").map { (Self.localQPN($0) ?? -1, $0) }) { a, _ in a }
        XCTAssertEqual(closes[Int(victim1.queuePairNumber)]?["reason"] as? String, "protocol_violation", "\(closes)")
        XCTAssertEqual(closes[Int(victim2.queuePairNumber)]?["reason"] as? String, "quarantined", "\(closes)")
        XCTAssertEqual(closes[Int(victim3.queuePairNumber)]?["reason"] as? String, "application", "\(closes)")
    }

    static func policy(version: String, denyPeer: Bool) -> String {
        var text = """
            version: "\(version)"
            rules:
              - name: cluster-\(version)
                effect: allow
                peer: {domain: cluster.test}

            """
        if denyPeer {
            text += """
                  - name: no-rank1
                    effect: deny
                    peer: {id: \(peerID)}

                """
        }
        return text
    }

    /// One message from the initiator, received by the responder, checked by number.
    static func roundTrip(_ initiator: AuthenticatedQueuePair, _ responder: AuthenticatedQueuePair, _ n: Int) throws {
        var message = [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 512)
        withUnsafeBytes(of: UInt32(n).bigEndian) { message.replaceSubrange(0..<4, with: $0) }
        try initiator.send(message)
        let got = try responder.receive(timeout: .seconds(10))
        XCTAssertEqual(got, message, "message \(n) lost or changed")
    }

    /// The policy file is rewritten while a channel carries messages: to v2,
    /// which still allows the peer (the stream goes on without loss, the reload
    /// line and a new handshake's line carry v2's version and hash), then to v3,
    /// which denies it (the responder closes with `policy denies peer` within
    /// the 2 s recheck bound, and a new handshake is refused by the policy).
    func testPolicyReloadUnderTraffic() throws {
        let context = try DeviceTestSupport.openContext()
        let (v1, v2, v3) = (Self.policy(version: "v1", denyPeer: false), Self.policy(version: "v2", denyPeer: false),
            Self.policy(version: "v3", denyPeer: true))
        let d = try TrustChangeTests.Deployment(policy: v1)
        try d.writeCredential(Self.victimID, name: "rank0")
        try d.writeCredential(Self.peerID, name: "rank1")
        let path = d.dir + "/audit.jsonl"
        let log = try AuditLog(destination: .file(path: path, maxBytes: 4 << 20, keep: 2))
        log.recordReloads()
        var server = try d.configuration(name: "rank0")
        var client = try d.configuration(name: "rank1")
        server.audit = log
        client.audit = log
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        let (s, c) = try Support.establish(context: context, listener: listener, client: client)
        let responder = try s.get(), initiator = try c.get()

        // v2 under traffic: every message arrives, in order.
        var sent = 0
        try TrustChangeTests.Deployment.replace(d.policyPath, with: v2)
        let reloadDeadline = Date() + 10
        while d.policy.policy.version != "v2" && Date() < reloadDeadline {
            try Self.roundTrip(initiator, responder, sent)
            sent += 1
        }
        XCTAssertEqual(d.policy.policy.version, "v2", "the policy file was not reloaded")
        // Past the 2 s recheck bound with v2 in force: the channel stays.
        let keepUntil = Date() + 3
        while Date() < keepUntil {
            try Self.roundTrip(initiator, responder, sent)
            sent += 1
        }
        XCTAssertEqual(responder.receiveMetrics.messagesOpened, UInt64(sent), "zero loss across the reload")
        XCTAssertTrue(responder.isOpen && initiator.isOpen)
        let (s2, c2) = try Support.establish(context: context, listener: listener, client: client)
        let second = try s2.get()
        try c2.get().close()
        second.close()

        // v3 denies the peer: the responder's next recheck closes the channel.
        try TrustChangeTests.Deployment.replace(d.policyPath, with: v3)
        let changed = Date()
        var why: String?
        while why == nil && Date().timeIntervalSince(changed) < 15 {
            do {
                try Self.roundTrip(initiator, responder, sent)
                sent += 1
            } catch ChannelError.peerNoLongerValid(let reason) {
                why = reason
            }
        }
        let after = Date().timeIntervalSince(changed)
        XCTAssertTrue(why?.hasPrefix("policy denies peer") == true, "\(why ?? "still open after 15 s")")
        XCTAssertLessThanOrEqual(after, 2 + TrustChangeTests.slack, "closed \(after) s after the change; bound 2 s")
        XCTAssertFalse(responder.isOpen)
        let (s3, _) = try Support.establish(context: context, listener: listener, client: client)
        guard case .failure(.handshake(let refusal)) = s3 else { return XCTFail("v3 accepted the peer: \(s3)") }
        XCTAssertEqual(refusal.code, .policyDenied)
        initiator.close()
        log.close()

        let lines = try AuditTrailDeviceTests.validatedLines(path)
        let reloads = Self.events(lines, "reload").filter { $0["path"] as? String == d.policyPath }
        XCTAssertEqual(reloads.map { $0["outcome"] as? String }, ["loaded", "loaded"], "\(reloads)")
        XCTAssertEqual(reloads.map { $0["version"] as? String }, ["v2", "v3"])
        XCTAssertEqual(reloads.map { $0["sha256"] as? String },
            [PolicyFile.sha256Hex(Array(v2.utf8)), PolicyFile.sha256Hex(Array(v3.utf8))])

        let decisions = Self.events(lines, "handshake").filter { $0["role"] as? String == "responder" }
            .map { ($0["outcome"] as? String ?? "", $0["policy"] as? [String: Any] ?? [:]) }
        XCTAssertEqual(decisions.map(\.0), ["accepted", "accepted", "refused"], "\(decisions)")
        for ((_, policy), (text, version)) in zip(decisions, zip([v1, v2, v3], ["v1", "v2", "v3"])) {
            XCTAssertEqual(policy["version"] as? String, version, "\(policy)")
            XCTAssertEqual(policy["sha256"] as? String, PolicyFile.sha256Hex(Array(text.utf8)), "\(policy)")
        }
        XCTAssertEqual(decisions.last?.1["rule"] as? String, "no-rank1")
        XCTAssertEqual(decisions.last?.1["decision"] as? String, "deny")

        let closed = Self.events(lines, "channel_closed").first { Self.localQPN($0) == Int(responder.queuePairNumber) }
        XCTAssertEqual(closed?["reason"] as? String, "peer_no_longer_valid", "\(String(describing: closed))")
        XCTAssertTrue((closed?["detail"] as? String)?.contains("policy denies peer") == true)
        XCTAssertEqual(closed?["messages_opened"] as? Int, sent, "every message sent before the close arrived")
    }

    /// `fabricauth ping --quarantine-file --audit-log`: the CLI's wiring. The
    /// responder applies the list before it opens its log, so the entry in
    /// force is written as started when the log subscribes; the quarantined
    /// initiator's handshake is refused with `quarantined` and written too.
    func testPingAuditsItsQuarantineList() throws {
        _ = try DeviceTestSupport.openContext()
        let binary = CLIPingTests.binary
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "build fabricauth first: \(binary.path)")
        let dir = try CLIPingTests.makeIdentities(["a", "b"], in: "quarantine-audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        try "spiffe://ping.test/b  # detector: forged grants\n".write(to: dir.appendingPathComponent("quarantine.txt"),
            atomically: true, encoding: .utf8)
        let port = String(20000 + Int(getpid() % 20000) + Int.random(in: 0..<1000))
        let responder = Process()
        responder.executableURL = binary
        responder.currentDirectoryURL = dir
        responder.arguments = ["ping", "--cert", "a.pem", "--key", "a.key", "--bundle", "ca.pem", "--allow", "id spiffe://ping.test/b",
            "-p", port, "-n", "3", "--wait", "60", "--once", "--quarantine-file", "quarantine.txt", "--audit-log", "server.jsonl"]
        let output = Pipe()
        responder.standardOutput = output
        responder.standardError = output
        try responder.run()
        defer { if responder.isRunning { responder.terminate() } }
        var initiator: (status: Int32, output: String) = (1, "")
        for _ in 0..<20 {
            initiator = try CLIPingTests.run(["ping", "127.0.0.1", "--cert", "b.pem", "--key", "b.key", "--bundle", "ca.pem",
                "--allow", "id spiffe://ping.test/a", "-p", port, "-n", "3"], in: dir)
            if !initiator.output.contains("Connection refused") { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        responder.waitUntilExit()
        let served = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(initiator.status, 0, initiator.output)
        XCTAssertTrue(initiator.output.contains("quarantined"), initiator.output)
        XCTAssertNotEqual(responder.terminationStatus, 0, served)

        let lines = try AuditTrailDeviceTests.validatedLines(dir.appendingPathComponent("server.jsonl").path)
        let quarantines = Self.events(lines, "quarantine")
        XCTAssertEqual(quarantines.count, 1, "\(lines)")
        XCTAssertEqual(quarantines.first?["action"] as? String, "started")
        XCTAssertEqual(quarantines.first?["peer_id"] as? String, "spiffe://ping.test/b")
        XCTAssertEqual(quarantines.first?["origin"] as? String, "list_file")
        XCTAssertEqual(quarantines.first?["detail"] as? String, "detector: forged grants")
        let refused = Self.events(lines, "handshake").filter { $0["outcome"] as? String == "refused" }
        XCTAssertEqual(refused.first?["reason"] as? String, "quarantined", "\(lines)")
    }
}
