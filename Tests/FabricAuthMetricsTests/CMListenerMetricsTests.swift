@testable import FabricAuth
import Foundation
import Testing
@testable import FabricAuthMetrics

/// The rdma_cm listeners' screening counts reach the exposition as the TCP
/// listeners' do: each equals what the listener counted, promtool passes,
/// and a listener's counts stay in the totals once it is gone. (The counts
/// themselves are driven by a real rdma_cm listener on rxe in
/// DeviceTests' CMListenerScreeningTests.)
@Suite struct CMListenerMetricsTests {
    @Test func rdmaCMListenerCountsAreExported() throws {
        let registry = MetricsRegistry()
        let before = Exposition(registry.exposition())
        #expect(before["fabricauth_cm_listener_requests_total"] == 0)
        #expect(before["fabricauth_cm_listener_refused_total", ["reason": "too_many_pending"]] == 0)

        var first: CMListenerMetrics? = CMListenerMetrics()
        let second = CMListenerMetrics()
        registry.watch(first!)
        registry.watch(second)
        registry.watch(second)  // once only
        for _ in 0..<5 { first!.recordRequest() }
        first!.recordRejectedOverBound()
        first!.recordTimedOut()
        first!.recordFailed()
        first!.recordFailed()
        first!.recordAuthenticated()
        second.recordRequest()
        second.recordAuthenticated()

        let text = registry.exposition()
        try checkWithPromtool(text)
        let e = Exposition(text)
        #expect(e["fabricauth_cm_listener_requests_total"] == 6)
        #expect(e["fabricauth_cm_listener_refused_total", ["reason": "too_many_pending"]] == 1)
        #expect(e["fabricauth_cm_listener_refused_total", ["reason": "timed_out"]] == 1)
        #expect(e["fabricauth_cm_listener_refused_total", ["reason": "failed"]] == 2)
        #expect(e["fabricauth_cm_listener_authenticated_total"] == 2)
        #expect(e.types["fabricauth_cm_listener_refused_total"] == "counter")

        // Gone: its counts are folded into the total once and stay.
        first = nil
        for _ in 0..<2 {
            let later = Exposition(registry.exposition())
            #expect(later["fabricauth_cm_listener_requests_total"] == 6)
            #expect(later["fabricauth_cm_listener_refused_total", ["reason": "failed"]] == 2)
        }
    }
}
