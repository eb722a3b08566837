/// One measured path between the two ends: raw verbs (`PlainTransport`) or
/// FabricAuth's authenticated queue pairs (`AuthenticatedTransport`). The
/// session runs every size on each transport it set up, side by side, so a
/// new path (e.g. authenticated RDMA WRITE through memory windows) plugs in
/// here without touching the session, the report or the control protocol.
protocol BenchTransport: AnyObject {
    var mode: BenchMode { get }
    /// The client's side of one size: drives the traffic and measures.
    /// Returns the row and how many messages went across (the END count).
    func runClient(_ run: BenchRun, guard: BenchGuard) throws -> (row: BenchRow, messages: Int)
    /// The server's side of one size: serves until the client's END
    /// (or its end marker) and returns how many messages it served.
    func runServer(_ run: BenchRun, guard: BenchGuard) throws -> Int
    /// Moves the QPs to ERROR so a peer still waiting sees the end at once.
    func close()
}

/// One size of one test.
struct BenchRun {
    var test: BenchTest
    var size: Int
    /// Per QP; ignored when `duration` is set.
    var iterations: Int
    var duration: Int?
    var queuePairs: Int
    var txDepth: Int
    var reportGbits: Bool

    /// Messages in all, or nil for a -D run.
    var totalMessages: Int? { duration == nil ? iterations * (test.isLatency ? 1 : queuePairs) : nil }

    /// The end of a -D run on the monotonic clock.
    func endTime(from start: UInt64) -> UInt64 {
        duration.map { start + UInt64($0) * 1_000_000_000 } ?? .max
    }
}

/// Preallocated per-message timestamps and latency samples, made once per
/// run before the hot loop starts, so the loop itself never allocates.
/// -D runs keep at most `capacity` entries (later messages are counted, and
/// bandwidth's peak comes from one-second intervals instead).
final class BenchSamples {
    let capacity: Int
    let posted: UnsafeMutableBufferPointer<UInt64>
    let completed: UnsafeMutableBufferPointer<UInt64>
    let latencies: UnsafeMutableBufferPointer<Double>

    init(messages: Int?) {
        capacity = max(1, min(messages ?? (1 << 20), 1 << 24))
        posted = .allocate(capacity: capacity)
        completed = .allocate(capacity: capacity)
        latencies = .allocate(capacity: capacity)
        posted.initialize(repeating: 0)
        completed.initialize(repeating: 0)
        latencies.initialize(repeating: 0)
    }

    deinit {
        posted.deallocate()
        completed.deallocate()
        latencies.deallocate()
    }

    func latencySamples(count: Int) -> [Double] { Array(latencies[0..<min(count, capacity)]) }
}

/// Best rate over one-second intervals of a -D run, in messages per second.
struct IntervalPeak {
    private var intervalStart: UInt64 = 0
    private var countAtStart = 0
    private(set) var best: Double = 0

    @inline(__always)
    mutating func record(count: Int, now: UInt64) {
        if intervalStart == 0 { intervalStart = now; countAtStart = count; return }
        if now - intervalStart >= 1_000_000_000 {
            let rate = Double(count - countAtStart) / (Double(now - intervalStart) / 1e9)
            if rate > best { best = rate }
            intervalStart = now
            countAtStart = count
        }
    }
}
