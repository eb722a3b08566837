#if canImport(Glibc)
import Glibc
#endif

/// One moment as the audit trail needs it: wall-clock time for the line's
/// timestamp, monotonic time for rate limits (immune to wall-clock steps).
/// Reading it is two `clock_gettime` calls, no allocation.
public struct AuditInstant: Sendable, Equatable {
    /// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
    public var wallNanoseconds: Int64
    /// Nanoseconds of CLOCK_MONOTONIC.
    public var monotonicNanoseconds: UInt64

    public init(wallNanoseconds: Int64, monotonicNanoseconds: UInt64) {
        self.wallNanoseconds = wallNanoseconds
        self.monotonicNanoseconds = monotonicNanoseconds
    }

    public static func now() -> AuditInstant {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return AuditInstant(wallNanoseconds: Int64(wall.tv_sec) &* 1_000_000_000 &+ Int64(wall.tv_nsec),
            monotonicNanoseconds: ChannelClock.monotonicNanoseconds())
    }

    /// ISO 8601 in UTC with milliseconds, `2026-12-02T16:49:31.123Z` (RFC 3339 section 5.6).
    public var iso8601: String { AuditInstant.iso8601(wallNanoseconds: wallNanoseconds) }

    /// Formats with gmtime_r: no locale, no formatter object, the same on every host.
    public static func iso8601(wallNanoseconds ns: Int64) -> String {
        var seconds = time_t(ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000)
        let millis = Int((ns - Int64(seconds) * 1_000_000_000) / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
