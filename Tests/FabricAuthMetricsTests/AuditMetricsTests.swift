import Dispatch
import FabricAuth
import Foundation
import Testing

@testable import FabricAuthMetrics

/// A watched audit log's counts in the exposition: lines written, events
/// dropped while its writer was stuck, checked by promtool and by value.
@Suite struct AuditMetricsTests {
    @Test func auditCountsAreExported() throws {
        let registry = MetricsRegistry()
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let log = try AuditLog(destination: .handler { line in
            if line.contains(#""version":"0""#) {
                entered.signal()
                _ = release.wait(timeout: .now() + 30)
            }
        }, capacity: 2)
        registry.watch(log)
        func event(_ i: Int) -> AuditEvent { .reload(.init(source: .policy, path: nil, outcome: .loaded, version: "\(i)")) }
        log.record(event(0))
        #expect(entered.wait(timeout: .now() + 10) == .success)
        for i in 1...5 { log.record(event(i)) }  // 2 queued, 3 dropped
        var e = Exposition(registry.exposition())
        #expect(e["fabricauth_audit_events_dropped_total"] == 3)
        release.signal()
        #expect(log.flush())
        log.close()
        let text = registry.exposition()
        try checkWithPromtool(text)
        e = Exposition(text)
        #expect(e["fabricauth_audit_events_written_total"] == 4)  // 3 events and one events_dropped line
        #expect(e["fabricauth_audit_events_dropped_total"] == 3)
        #expect(e["fabricauth_audit_write_errors_total"] == 0)
    }
}
