// The isolation events of the audit trail: `quarantine` lines for every
// quarantine a PeerQuarantine starts, lifts or lets run out (from
// misbehaviour, the denied-handshake threshold, the list file, the API), and
// `fabric_under_attack` lines, rate-limited, from a channel's fabric alarms;
// each line validated against docs/audit-schema.json.
import Foundation
import Handshake
import Identity
import Testing
@testable import FabricAuth

@Suite struct AuditIsolationTests {
    let peer = try! SPIFFEID("spiffe://cluster.example/node/7")
    let listed = try! SPIFFEID("spiffe://cluster.example/node/9")
    let denied = try! SPIFFEID("spiffe://cluster.example/outsider")

    static func quarantines(_ lines: CollectedLines) -> [[String: Any]] {
        lines.objects.filter { $0["event"] as? String == "quarantine" }
    }

    /// Waits up to 5 s for `condition` (the writer's tick is 20 ms here).
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date() + 5
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }

    @Test func everyQuarantineChangeIsRecorded() throws {
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) }, tick: .milliseconds(20))
        var configuration = PeerQuarantine.Configuration()
        configuration.deniedHandshakeThreshold = 2
        let quarantine = PeerQuarantine(configuration: configuration)
        log.recordQuarantines(of: quarantine)
        let channelA = FakeChannel(peer), channelB = FakeChannel(peer)
        let now = Date()
        #expect(quarantine.register(channelA.cutoff, peer: peer, now: now) == nil)
        #expect(quarantine.register(channelB.cutoff, peer: peer, now: now) == nil)

        // Misbehaviour: both channels cut off; a short quarantine that runs out on its own.
        quarantine.quarantine(peer, reason: "protocol violation: READ done for nothing", cause: .misbehaviour,
            for: .milliseconds(300), now: now)
        // Two policy denials reach the threshold.
        quarantine.recordDeniedHandshake(denied, reason: "default deny", now: now)
        quarantine.recordDeniedHandshake(denied, reason: "default deny", now: now)
        // A list entry appears, then goes.
        var list = QuarantineList()
        list.add(listed, until: nil, reason: "detector: forged READ responses")
        quarantine.apply(list, now: now)
        quarantine.apply(QuarantineList(), now: now)
        // The operator's own quarantine, lifted.
        let manual = try SPIFFEID("spiffe://cluster.example/node/3")
        quarantine.quarantine(manual, reason: "maintenance", cause: .manual, now: now)
        #expect(quarantine.lift(manual))

        // Nobody looks at node/7 again: the writer's tick finds its end.
        #expect(Self.eventually { Self.quarantines(lines).contains { $0["action"] as? String == "expired" } },
            "no expired line: \(lines.lines)")
        log.close()

        let events = Self.quarantines(lines)
        let summary = events.map { "\($0["action"] as? String ?? "") \($0["peer_id"] as? String ?? "") \($0["origin"] as? String ?? "")" }
        #expect(summary == [
            "started spiffe://cluster.example/node/7 local",
            "started spiffe://cluster.example/outsider local",
            "started spiffe://cluster.example/node/9 list_file",
            "lifted spiffe://cluster.example/node/9 list_file",
            "started spiffe://cluster.example/node/3 operator",
            "lifted spiffe://cluster.example/node/3 operator",
            "expired spiffe://cluster.example/node/7 local",
        ], "\(lines.lines)")
        #expect(events[0]["reason"] as? String == "misbehaviour")
        #expect(events[0]["detail"] as? String == "protocol violation: READ done for nothing")
        #expect(events[0]["channels_closed"] as? Int == 2)
        #expect(channelA.stops == 1 && channelB.stops == 1)
        #expect(events[0]["until"] as? String == AuditInstant.iso8601(wallNanoseconds: Int64((now + 0.3).timeIntervalSince1970 * 1e9)))
        #expect(events[1]["reason"] as? String == "denied_handshakes")
        #expect(events[1]["channels_closed"] as? Int == 0)
        #expect(events[2]["reason"] as? String == "list_file" && events[2]["until"] == nil)
        #expect(events[2]["detail"] as? String == "detector: forged READ responses")
        #expect(events[6]["channels_closed"] == nil)
        try AuditSchema.expectValid(lines.lines)
    }

    /// A log that subscribes after quarantines began (the NCCL plug-in opens its
    /// log after its quarantine applied the list) records each one in force as
    /// started, once, and nothing for one already over.
    @Test func aLateLogRecordsTheQuarantinesInForce() throws {
        let quarantine = PeerQuarantine()
        let now = Date()
        var list = QuarantineList()
        list.add(listed, until: now + 3600, reason: "detector")
        quarantine.apply(list, now: now)
        quarantine.quarantine(peer, reason: "gone", cause: .manual, for: .seconds(-1), now: now)
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) })
        log.recordQuarantines(of: quarantine)
        log.close()
        let events = Self.quarantines(lines)
        #expect(events.count == 1, "\(lines.lines)")
        #expect(events.first?["action"] as? String == "started" && events.first?["peer_id"] as? String == listed.description)
        #expect(events.first?["origin"] as? String == "list_file" && events.first?["channels_closed"] == nil)
        try AuditSchema.expectValid(lines.lines)
    }

    /// A list entry whose `until=` has passed when the list is applied again is reported expired, not lifted.
    @Test func aListEntryPastItsTimeExpires() throws {
        let quarantine = PeerQuarantine()
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) })
        log.recordQuarantines(of: quarantine)
        let t0 = Date()
        var list = QuarantineList()
        list.add(listed, until: t0 + 60, reason: "for a minute")
        quarantine.apply(list, now: t0)
        quarantine.apply(list, now: t0 + 61)
        log.close()
        #expect(Self.quarantines(lines).map { $0["action"] as? String } == ["started", "expired"], "\(lines.lines)")
    }

    /// Fabric alarms become `fabric_under_attack` lines under the rejection
    /// rate limit: a flood of 50,000 forged frames over about a second is a
    /// handful of lines whose counts add up, naming both QPs and the peer's GID.
    @Test func fabricAlarmsAreRecordedRateLimited() throws {
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) }, rejectionInterval: .milliseconds(200),
            tick: .milliseconds(20))
        let (a, b) = try AuditSchemaTests.endpoints(policy: AuditSchemaTests.allowTrainers)
        let result = try #require(AuditSchemaTests.handshake(initiator: a, responder: b)[1].result)
        let workload = try #require(result.peer as? VerifiedWorkload).workload
        let audit = ChannelAudit(log: log, localID: b.credential.spiffeID, peer: workload, local: result.localBinding,
            remote: result.remoteBinding, failurePolicy: .dropAndCount)
        let flood = 50_000
        let start = Date()
        for i in 0..<flood {
            audit.fabricAlarm(i % 5 == 0 ? .replayed : .badTag)
            if i % 5_000 == 0 { Thread.sleep(forTimeInterval: 0.1) }
        }
        let seconds = Date().timeIntervalSince(start)
        audit.closed(.application, detail: nil, qpState: nil, sent: DataPathMetrics(), received: DataPathMetrics())
        Thread.sleep(forTimeInterval: 0.5)  // > interval + tick: the writer reports what is left
        log.close()
        let reports = lines.objects.filter { $0["event"] as? String == "fabric_under_attack" }
        #expect(reports.reduce(0) { $0 + ($1["total"] as? Int ?? 0) } == flood)
        #expect(reports.count >= 2 && reports.count <= Int(seconds / 0.2) + 3, "\(reports.count) lines for \(seconds) s")
        #expect(reports.first?["counts"] as? [String: Int] == ["replayed": 1], "the first alarm is written at once")
        let counts = reports.map { $0["counts"] as? [String: Int] ?? [:] }
        #expect(counts.reduce(0) { $0 + ($1["replayed"] ?? 0) } == flood / 5)
        let channel = try #require(reports.first?["channel"] as? [String: Any])
        #expect(channel["local_qpn"] as? Int == Int(result.localBinding.qpn))
        #expect(channel["peer_qpn"] as? Int == Int(result.remoteBinding.qpn))
        #expect(channel["peer_gid"] as? String == "::ffff:192.0.2.1")
        #expect(channel["peer_id"] as? String == "spiffe://example.org/trainer/rank0")
        try AuditSchema.expectValid(lines.lines)
    }
}
