#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time as nanoseconds since the Unix epoch. The machine never reads a
/// clock itself: every call takes `now` (nebula/wireguard habit; tests stay deterministic).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    public static func seconds(_ s: Int64) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: s.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? (s < 0 ? .min : .max) : s * 1_000_000_000)
    }

    /// Saturating addition of a duration.
    public func adding(_ d: Duration) -> Timestamp {
        let (s, atto) = d.components
        let ns = s.multipliedReportingOverflow(by: 1_000_000_000)
        if ns.overflow { return Timestamp(nanosecondsSinceEpoch: s < 0 ? .min : .max) }
        let total = ns.partialValue.addingReportingOverflow(atto / 1_000_000_000)
        if total.overflow { return Timestamp(nanosecondsSinceEpoch: s < 0 ? .min : .max) }
        let r = nanosecondsSinceEpoch.addingReportingOverflow(total.partialValue)
        if r.overflow { return Timestamp(nanosecondsSinceEpoch: total.partialValue < 0 ? .min : .max) }
        return Timestamp(nanosecondsSinceEpoch: r.partialValue)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }

    public var description: String { "t=\(nanosecondsSinceEpoch)ns" }
}

/// Where callers get `now` from. Tests pass fixed timestamps instead.
public protocol HandshakeClock: Sendable {
    func now() -> Timestamp
}

/// The default clock: CLOCK_REALTIME (certificate validity is wall-clock time).
public struct SystemClock: HandshakeClock {
    public init() {}
    public func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
