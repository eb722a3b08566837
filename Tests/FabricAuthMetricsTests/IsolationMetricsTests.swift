@testable import FabricAuth
import Foundation
import Identity
import Testing
@testable import FabricAuthMetrics

/// The isolation metrics: fabric alarms by reason, quarantined peers now,
/// quarantines started by cause; each equals what was done, and the
/// exposition passes promtool.
@Suite struct IsolationMetricsTests {
    @Test func alarmsAndQuarantinesAreCounted() throws {
        let registry = MetricsRegistry()
        let quarantine = PeerQuarantine()
        registry.watch(quarantine)
        let now = Date()
        quarantine.quarantine(try SPIFFEID("spiffe://a.org/w1"), reason: "protocol violation", cause: .misbehaviour, now: now)
        quarantine.quarantine(try SPIFFEID("spiffe://a.org/w2"), reason: "gone", cause: .manual, for: .seconds(-1), now: now)
        var list = QuarantineList()
        list.add(try SPIFFEID("spiffe://a.org/w3"), until: nil, reason: "detector")
        quarantine.apply(list, now: now)
        for reason in [RejectReason.badTag, .badTag, .replayed] {
            registry.fabricAlarm(FabricAlarm(reason: reason, peer: "spiffe://a.org/w1", localQPN: 1, remoteQPN: 2,
                remoteGID: [UInt8](repeating: 0, count: 16), count: 1, total: 1))
        }
        let text = registry.exposition()
        let e = Exposition(text)
        #expect(e["fabricauth_fabric_alarms_total", ["reason": "bad_tag"]] == 2)
        #expect(e["fabricauth_fabric_alarms_total", ["reason": "replayed"]] == 1)
        #expect(e["fabricauth_fabric_alarms_total", ["reason": "wrong_qpn"]] == 0)
        #expect(e["fabricauth_fabric_alarms_total", ["reason": "session_closed"]] == nil)
        // w2's quarantine is already over: two in force.
        #expect(e["fabricauth_quarantined_peers"] == 2)
        #expect(e["fabricauth_quarantine_events_total", ["cause": "misbehaviour"]] == 1)
        #expect(e["fabricauth_quarantine_events_total", ["cause": "manual"]] == 1)
        #expect(e["fabricauth_quarantine_events_total", ["cause": "list_file"]] == 1)
        #expect(e["fabricauth_quarantine_events_total", ["cause": "denied_handshakes"]] == 0)
        #expect(e.types["fabricauth_quarantined_peers"] == "gauge")
        try checkWithPromtool(text)
    }
}
