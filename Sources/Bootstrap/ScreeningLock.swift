#if canImport(Glibc)
import Glibc
#endif

/// A mutex whose acquisition gives up at a deadline, so a caller of
/// `EndpointExchangeListener.nextClient` waiting for another thread's
/// screening still returns within its own timeout. `Synchronization.Mutex`
/// has no timed acquisition; pthread_mutex_timedlock (POSIX.1-2008) does.
final class ScreeningLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Takes the lock, or returns false once `deadline` has passed.
    func lock(until deadline: ContinuousClock.Instant) -> Bool {
        // pthread_mutex_timedlock measures against CLOCK_REALTIME; the wait is
        // converted from the monotonic deadline at the call, so a clock step
        // during the wait can only lengthen or shorten this one wait.
        let (seconds, attoseconds) = max(.zero, deadline - ContinuousClock.now).components
        var until = timespec()
        clock_gettime(CLOCK_REALTIME, &until)
        let nanoseconds = Int(until.tv_nsec) + Int(attoseconds / 1_000_000_000)
        until.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        until.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_mutex_timedlock(mutex, &until) == 0
    }

    func unlock() { pthread_mutex_unlock(mutex) }
}
