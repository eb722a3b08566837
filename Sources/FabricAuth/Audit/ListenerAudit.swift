import Synchronization

/// A listener's refusals in the audit trail: `listener_refused` events,
/// rate-limited like rejected frames, since anyone who can reach the port
/// can cause them.
final class ListenerAudit: Sendable {
    private final class PortCell: Sendable {
        let value = Atomic<UInt16>(0)
    }

    private let limiter: RateLimitedAudit<String>
    private let boundPort: PortCell

    /// The port in the events (set once the listener is bound, when it was 0).
    var port: UInt16 {
        get { boundPort.value.load(ordering: .relaxed) }
        set { boundPort.value.store(newValue, ordering: .relaxed) }
    }

    init(log: AuditLog, transport: AuditEvent.Handshake.Transport, port: UInt16) {
        let boundPort = PortCell()
        boundPort.value.store(port, ordering: .relaxed)
        self.boundPort = boundPort
        limiter = RateLimitedAudit(log: log) { report, firstPeer in
            .listenerRefused(AuditEvent.ListenerRefused(transport: transport, port: boundPort.value.load(ordering: .relaxed),
                counts: AuditEvent.counts(report) { $0 }, total: report.total, windowStart: report.start.iso8601,
                windowEnd: report.end.iso8601, firstPeer: firstPeer))
        }
    }

    func refused(_ reason: String, peer: String?) {
        limiter.record(reason, detail: peer)
    }

    func finish() { limiter.finish() }
}
