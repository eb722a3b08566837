import Synchronization

/// An ``AuditRateLimiter`` shared by the thread that counts (a channel's
/// receive pipeline, a listener's screening) and the audit log's writer,
/// which writes its due report on each tick, so that counts never wait for
/// the next refusal to be reported.
///
/// `record` takes a lock for one dictionary update and allocates nothing
/// unless a report is due (at most once per interval).
final class RateLimitedAudit<Reason: Hashable & Sendable>: AuditRateLimitedSource, Sendable {
    typealias Report = AuditRateLimiter<Reason>.Report
    private struct State {
        var limiter: AuditRateLimiter<Reason>
        /// A detail of the first refusal of the window (a listener: the peer's address).
        var firstDetail: String?
        var ownerGone = false
    }

    private let log: AuditLog
    private let state: Mutex<State>
    private let makeEvent: @Sendable (Report, String?) -> AuditEvent

    init(log: AuditLog, makeEvent: @escaping @Sendable (Report, String?) -> AuditEvent) {
        self.log = log
        self.makeEvent = makeEvent
        state = Mutex(State(limiter: AuditRateLimiter(interval: log.rejectionInterval)))
        log.register(self)
    }

    /// Counts one refusal; queues a report when one is due.
    func record(_ reason: Reason, detail: @autoclosure () -> String? = nil, at now: AuditInstant = .now()) {
        let due = state.withLock { s -> (Report, String?)? in
            if !s.limiter.hasPending { s.firstDetail = detail() }
            guard let report = s.limiter.record(reason, at: now) else { return nil }
            defer { s.firstDetail = nil }
            return (report, s.firstDetail)
        }
        if let (report, detail) = due { log.record(makeEvent(report, detail), at: now) }
    }

    /// The owner is gone: what is pending is still written when due, then the log forgets this.
    func finish() {
        state.withLock { $0.ownerGone = true }
    }

    func takeDue(at now: AuditInstant) -> [AuditEvent] {
        take { $0.takeDue(at: now) }
    }

    func takeAll(at now: AuditInstant) -> [AuditEvent] {
        take { $0.takeAll(at: now) }
    }

    var isFinished: Bool { state.withLock { $0.ownerGone && !$0.limiter.hasPending } }

    private func take(_ body: (inout AuditRateLimiter<Reason>) -> Report?) -> [AuditEvent] {
        let due = state.withLock { s -> (Report, String?)? in
            guard let report = body(&s.limiter) else { return nil }
            defer { s.firstDetail = nil }
            return (report, s.firstDetail)
        }
        guard let (report, detail) = due else { return [] }
        return [makeEvent(report, detail)]
    }
}

extension AuditEvent {
    /// Counts keyed by the snake_case names the metrics use (`bad_tag`).
    static func counts<R: Hashable & Sendable>(_ report: AuditRateLimiter<R>.Report, name: (R) -> String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for (reason, n) in report.counts { out[name(reason), default: 0] += n }
        return out
    }
}
