#if canImport(Glibc)
import Glibc
#endif
import Handshake

/// The two clocks a channel reads: monotonic nanoseconds for the data path's
/// rekey timers (immune to wall-clock steps), wall-clock time for certificate
/// validity in the handshake.
enum ChannelClock {
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func wall() -> Timestamp { SystemClock().now() }

    static func deadline(after timeout: Duration) -> UInt64 {
        let (s, atto) = timeout.components
        return monotonicNanoseconds() &+ UInt64(max(0, s)) &* 1_000_000_000 &+ UInt64(max(0, atto) / 1_000_000_000)
    }
}
