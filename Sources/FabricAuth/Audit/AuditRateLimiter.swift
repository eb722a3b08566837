/// Counts by reason, written out at most once per interval: the rate limit
/// of the audit events an attacker can cause (rejected frames, refused
/// connections), so that no flood of them can fill the disk or the queue.
///
/// The first refusal after a quiet interval is reported at once (its count
/// is 1); those that follow are counted and reported together by the first
/// `record` or `takeDue` once the interval since that report has passed.
/// Each report starts a new interval, so there is at most one report per
/// interval. Pure state with the time passed in (tests drive it with made-up
/// instants); ``RejectionAudit`` shares it between a channel and the audit
/// log's writer, which calls `takeDue` on its tick so that counts never wait
/// for the next refusal.
///
/// Recording allocates nothing once every reason has been seen in a window:
/// the dictionary keeps its capacity when a report empties it.
public struct AuditRateLimiter<Reason: Hashable & Sendable>: Sendable {
    /// One report: counts by reason over `start...end`.
    public struct Report: Sendable {
        public var counts: [Reason: UInt64]
        public var total: UInt64
        public var start: AuditInstant
        public var end: AuditInstant
    }

    /// Nanoseconds between reports.
    public let interval: UInt64
    private var counts: [Reason: UInt64]
    private var total: UInt64 = 0
    private var start = AuditInstant(wallNanoseconds: 0, monotonicNanoseconds: 0)
    private var end = AuditInstant(wallNanoseconds: 0, monotonicNanoseconds: 0)
    /// Monotonic time of the last report; nil before the first.
    private var lastReport: UInt64?

    public init(interval: Duration, reasons: Int = 16) {
        let (s, atto) = interval.components
        self.interval = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
        counts = Dictionary(minimumCapacity: reasons)
    }

    /// Whether counts wait for their report.
    public var hasPending: Bool { total > 0 }

    /// Counts one refusal at `now`; returns a report when one is due.
    public mutating func record(_ reason: Reason, at now: AuditInstant) -> Report? {
        if total == 0 { start = now }
        end = now
        counts[reason, default: 0] &+= 1
        total &+= 1
        return takeDue(at: now)
    }

    /// The pending counts if the interval since the last report has passed.
    public mutating func takeDue(at now: AuditInstant) -> Report? {
        guard total > 0 else { return nil }
        if let last = lastReport, now.monotonicNanoseconds &- last < interval { return nil }
        return take(at: now)
    }

    /// The pending counts, due or not (a channel's last report at close).
    public mutating func takeAll(at now: AuditInstant) -> Report? {
        total > 0 ? take(at: now) : nil
    }

    private mutating func take(at now: AuditInstant) -> Report {
        let report = Report(counts: counts, total: total, start: start, end: end)
        counts.removeAll(keepingCapacity: true)
        total = 0
        lastReport = now.monotonicNanoseconds
        return report
    }
}
