#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Set by the SIGINT handler; read by the loops. A global because a C signal
/// handler cannot capture context.
private let interruptRequested = Atomic<Bool>(false)
/// The control socket the watchdog writes its last STOP to (-1: none yet).
private let watchdogControlFD = Atomic<Int32>(-1)

/// Ctrl-C handling. The handler only sets a flag; the hot loops see it at
/// their next check and end cleanly (tell the peer, close the QPs). A
/// watchdog thread covers waits this process does not control (the
/// authenticated handshake, rdma_cm): if the main thread has not ended
/// within two seconds of Ctrl-C, it sends STOP itself and exits, so the
/// peer never waits on a process that is gone. A second Ctrl-C exits at once.
final class BenchStop: Sendable {
    static let shared = BenchStop()

    private init() {}

    func install() {
        signal(SIGINT) { _ in
            if interruptRequested.exchange(true, ordering: .relaxed) {
                _exit(130)  // second Ctrl-C
            }
        }
        Thread.detachNewThread {
            while !interruptRequested.load(ordering: .relaxed) { usleep(50_000) }
            usleep(2_000_000)
            let fd = watchdogControlFD.load(ordering: .relaxed)
            if fd >= 0 {
                let line = Array("STOP interrupted (Ctrl-C) on the peer\n".utf8)
                _ = line.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            let message = Array("fabricauth bench: interrupted (Ctrl-C)\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
            _exit(130)
        }
    }

    /// Lets the watchdog tell the peer when the main thread cannot.
    func watch(_ control: BenchControl) { watchdogControlFD.store(control.fileDescriptor, ordering: .relaxed) }
    func unwatch() { watchdogControlFD.store(-1, ordering: .relaxed) }

    var interrupted: Bool { interruptRequested.load(ordering: .relaxed) }

    @inline(__always)
    func checkInterrupted() throws(BenchError) {
        if interruptRequested.load(ordering: .relaxed) { throw .interrupted }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: what every timestamp of the bench uses
/// (vDSO, no system call, no allocation).
@inline(__always)
func benchNow() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// The checks a hot loop makes between messages, cheap enough for every
/// iteration: Ctrl-C (one relaxed load); every 16 calls a clock read; and at
/// most every 20 ms the control connection (the peer's STOP, or its END), the
/// stall limit, and the once-a-second ALIVE and progress line.
///
/// The slow checks are paced by time, not by a count of calls: one iteration
/// can take tens of milliseconds (rxe on Linux 6.1 runs the requester in the
/// posting process's system call, and under QEMU/TCG building and checksumming
/// 128 queued 4 KiB WRITEs is slow), and a count of 256 iterations then
/// delayed the client's first ALIVE past a passive server's 5 s stall limit.
final class BenchGuard {
    let control: BenchControl
    let stop: BenchStop
    private let label: String
    private let stallNanoseconds: UInt64
    private var counter = 0
    private var nextSlowCheck: UInt64 = 0
    private var lastProgress: UInt64
    private let started: UInt64
    private var nextReport: UInt64
    /// A control line the loop must act on (END from the client).
    private(set) var pendingLine: String?
    /// Messages done so far, for the progress line; the loop updates it.
    var done = 0

    /// A passive server (write and read tests) sees no traffic of its own:
    /// the client's once-a-second ALIVE is its sign of progress.
    private let passive: Bool

    init(control: BenchControl, stop: BenchStop, label: String, passive: Bool = false, stall: Duration = BenchLimits.stall) {
        self.control = control
        self.passive = passive
        self.stop = stop
        self.label = label
        let (s, atto) = stall.components
        stallNanoseconds = UInt64(s) * 1_000_000_000 + UInt64(atto / 1_000_000_000)
        started = benchNow()
        lastProgress = started
        nextReport = started + 1_000_000_000
    }

    /// Marks progress (a completion, a delivered message): resets the stall clock.
    @inline(__always)
    func progressed() { lastProgress = 0 }

    @inline(__always)
    func tick() throws(BenchError) {
        try stop.checkInterrupted()
        counter &+= 1
        if counter & 15 == 0 {
            let now = benchNow()
            if now >= nextSlowCheck {
                nextSlowCheck = now + BenchGuard.slowCheckInterval
                try slowCheck()
            }
        }
    }

    func takePendingLine() -> String? {
        defer { pendingLine = nil }
        return pendingLine
    }

    /// The message count of a pending "END count ..." line, if one arrived.
    var expectedCount: Int? {
        guard let line = pendingLine, line.hasPrefix("END ") else { return nil }
        return Int(line.dropFirst(4).prefix { $0 != " " })
    }

    /// The slow checks now (for loops that block between ticks).
    func checkNow() throws(BenchError) {
        try stop.checkInterrupted()
        try slowCheck()
    }

    /// A passive server's wait: until the client's END.
    func waitForEnd() throws(BenchError) {
        while pendingLine == nil {
            try checkNow()
            usleep(1000)
        }
    }

    private static let slowCheckInterval: UInt64 = 20_000_000

    private func slowCheck() throws(BenchError) {
        let now = benchNow()
        if lastProgress == 0 { lastProgress = now }
        if now - lastProgress > stallNanoseconds {
            throw .stalled("\(label): no progress for \(stallNanoseconds / 1_000_000_000) s after \(done) messages")
        }
        while pendingLine == nil, let line = try control.pollLine() {
            if line == "ALIVE" {
                if passive { lastProgress = 0 }
                continue
            }
            pendingLine = try BenchControl.checkStop(line)
        }
        if now >= nextReport {
            nextReport = now + 1_000_000_000
            if !passive { control.tell("ALIVE") }
            let seconds = Double(now - started) / 1e9
            FileHandle.standardError.write(Data(String(format: "  %@: %.0f s, %d messages\n", label, seconds, done).utf8))
        }
    }
}
