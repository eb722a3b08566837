import Foundation

/// When a live channel next re-evaluates its peer against the trust in force
/// (``AuthenticatedQueuePair``'s send and progress paths ask, with the
/// monotonic time passed in): every `interval`, and at the peer's notAfter
/// plus the clock-skew tolerance and a grace, whichever comes first, so an
/// expired peer is cut off within the grace of its expiry even when the
/// interval is long. One comparison per call on the data path; no thread,
/// no timer.
struct TrustRecheckSchedule {
    /// Nanoseconds between periodic rechecks.
    let interval: UInt64
    /// Monotonic time after which the peer's leaf is expired (with tolerance and grace).
    let expiry: UInt64
    /// Monotonic time of the next recheck.
    private(set) var next: UInt64

    /// `peerNotAfter` is converted to the monotonic clock once, at `wallNow`/`monotonicNow`:
    /// a wall-clock step later moves the periodic recheck's verdict, not this deadline.
    init(interval: Duration, grace: Duration, peerNotAfter: Date, tolerance: TimeInterval, wallNow: Date,
         monotonicNow: UInt64) {
        self.interval = Self.nanoseconds(interval)
        let remaining = peerNotAfter.timeIntervalSince(wallNow) + tolerance
        // The recheck reads the wall clock: it must run once the leaf is past notAfter
        // (inclusive bound, RFC 5280 §4.1.2.5), hence the grace after it.
        let untilExpiry = max(0, remaining) * 1e9 + Double(Self.nanoseconds(grace))
        self.expiry = untilExpiry >= Double(UInt64.max - monotonicNow) ? .max : monotonicNow + UInt64(untilExpiry)
        self.next = min(monotonicNow &+ self.interval, expiry)
    }

    /// Whether a recheck is due at `now`.
    @inline(__always)
    func isDue(_ now: UInt64) -> Bool { now >= next }

    /// Records a recheck at `now` that the peer passed.
    mutating func checked(at now: UInt64) {
        let periodic = now &+ interval
        // Past the expiry deadline (the wall clock said "still valid": a clock behind the
        // monotonic one) the periodic interval alone paces the rechecks.
        next = now >= expiry ? periodic : min(periodic, expiry)
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return UInt64(max(0, s)) &* 1_000_000_000 &+ UInt64(max(0, atto) / 1_000_000_000)
    }
}
