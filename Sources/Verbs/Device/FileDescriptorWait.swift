#if canImport(Glibc)
import Glibc
#endif

/// Bounded waits on the file descriptors libibverbs and librdmacm expose
/// (async_fd, comp_channel fd, rdma_event_channel fd), so no wait in this
/// library can hang forever on a peer that disappeared.
enum FileDescriptorWait {
    /// True when `fd` became readable within `timeout`; retries on EINTR.
    static func readable(_ fd: Int32, timeout: Duration, function: StaticString) throws(VerbsError) -> Bool {
        let ms = timeout.milliseconds
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&pfd, 1, ms)
            if rc > 0 { return true }
            if rc == 0 { return false }
            if Glibc.errno == EINTR { continue }
            throw VerbsCall.failure(function, errno: Glibc.errno, code: .callFailed, reason: "", file: #fileID, line: #line)
        }
    }
}

extension Duration {
    /// Whole milliseconds, clamped to Int32 for poll(2); rounds up so a tiny
    /// positive timeout still waits.
    var milliseconds: Int32 {
        let (s, atto) = components
        let ms = s * 1000 + (atto + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }
}
