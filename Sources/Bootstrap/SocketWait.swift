#if canImport(Glibc)
import Glibc
#endif

/// Deadline-bounded poll(2) on bootstrap sockets, so no wait of the exchange
/// can hang on a peer that went silent.
enum SocketWait {
    /// True when `fd` has `events` before `deadline`; false when the deadline passed.
    static func until(_ deadline: ContinuousClock.Instant, fd: Int32, events: Int32, function: String)
        throws(BootstrapError) -> Bool
    {
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let rc = poll(&pfd, 1, milliseconds(until: deadline))
            if rc > 0 { return true }
            if rc == 0 {
                if ContinuousClock.now >= deadline { return false }
                continue  // poll rounds to milliseconds; wait out the rest
            }
            if errno == EINTR { continue }
            throw BootstrapError.socket(function, errno: errno)
        }
    }

    /// Milliseconds from now to `deadline` for poll(2): rounded up so a tiny
    /// positive wait still waits, never negative, clamped to Int32.
    static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let (s, atto) = (deadline - ContinuousClock.now).components
        let ms = s * 1000 + (atto + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }

    /// Makes `fd` non-blocking, so one slow peer can never block a read or a write.
    static func setNonBlocking(_ fd: Int32) throws(BootstrapError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw BootstrapError.socket("fcntl(O_NONBLOCK)", errno: errno)
        }
    }
}
