import Dispatch
import Foundation
import Synchronization

/// The audit trail: one JSON object per line (docs/operations.md, "Audit
/// log"; docs/audit-schema.json), written to a file with size-based rotation,
/// to standard error, or to a handler.
///
/// Never blocks the caller. `record` appends the event to a bounded queue
/// under a lock held for one append (no I/O, no allocation: the queue's
/// storage is reserved up front) and returns; one writer thread of the log's
/// own takes the whole queue at once, turns each event into a line and
/// writes it. When the queue is full the event is dropped and counted; the
/// count is written as an `events_dropped` line as soon as the writer has
/// emptied the queue, and exported as `fabricauth_audit_events_dropped_total`
/// (FabricAuthMetrics). Events an attacker can cause in bulk (rejected frames,
/// refused connections) reach the log through an ``AuditRateLimiter``, at
/// most one per channel or listener per ``rejectionInterval``.
///
/// Call ``close()`` before the process exits: it writes what is queued.
public final class AuditLog: Sendable {
    /// Where lines go.
    public enum Destination: Sendable {
        /// A file, rotated when the next line would take it past `maxBytes`:
        /// `PATH.(keep-1)` is renamed to `PATH.keep` (replacing it), ...,
        /// `PATH` to `PATH.1`, and a new `PATH` is opened. `%p` in the path is
        /// replaced by the process ID (one file per process: two processes
        /// must never rotate the same file).
        case file(path: String, maxBytes: Int = 64 << 20, keep: Int = 5)
        /// Standard error (the CLI's `--audit-log -`).
        case standardError
        /// Each line, without its newline, to `handler` on the writer thread (tests, forwarding).
        case handler(@Sendable (String) -> Void)
    }

    /// The counts since the log was opened.
    public struct Counters: Sendable, Equatable {
        /// Lines written (`events_dropped` lines included).
        public var written: UInt64
        /// Events dropped because the queue was full.
        public var dropped: UInt64
        /// Lines that could not be written (the destination failed); each is lost.
        public var writeErrors: UInt64

        public init(written: UInt64, dropped: UInt64, writeErrors: UInt64) {
            self.written = written
            self.dropped = dropped
            self.writeErrors = writeErrors
        }
    }

    /// Events the queue holds at most.
    public let capacity: Int
    /// The shortest time between two rate-limited events of one channel or listener.
    public let rejectionInterval: Duration
    /// The destination's description: the file's path, `-`, or `handler`.
    public let target: String

    private struct Entry {
        var event: AuditEvent
        var time: AuditInstant
    }

    private struct Queue: ~Copyable {
        var pending: [Entry]
        var droppedSinceReport: UInt64 = 0
        var enqueued: UInt64 = 0
        var stopping = false
        var sources: [any AuditRateLimitedSource] = []
    }

    private let queue: Mutex<Queue>
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Guards `processed`; the writer broadcasts after each batch (for `flush`).
    private let progress = NSCondition()
    nonisolated(unsafe) private var processed: UInt64 = 0
    private let written = Atomic<UInt64>(0)
    private let droppedTotal = Atomic<UInt64>(0)
    private let writeErrors = Atomic<UInt64>(0)
    private let closed = Atomic<Bool>(false)
    private let tick: Duration

    /// Opens the destination (a file that cannot be opened fails here, not
    /// later) and starts the writer thread.
    public init(destination: Destination, capacity: Int = 4096, rejectionInterval: Duration = .seconds(1),
                tick: Duration = .milliseconds(200)) throws(AuditLogError) {
        precondition(capacity > 0, "an audit queue holds at least one event")
        let output = try AuditOutput(destination)
        self.capacity = capacity
        self.rejectionInterval = rejectionInterval
        self.tick = tick
        self.target = output.target
        var pending: [Entry] = []
        pending.reserveCapacity(capacity)
        queue = Mutex(Queue(pending: pending))
        let thread = Thread { [self] in run(output) }
        thread.name = "fabricauth-audit"
        thread.start()
    }

    /// Queues `event`, stamped now; returns at once. False when the queue was
    /// full (or the log closed) and the event was dropped and counted.
    @discardableResult
    public func record(_ event: AuditEvent) -> Bool {
        record(event, at: .now())
    }

    /// Queues `event` stamped with `time`.
    @discardableResult
    public func record(_ event: AuditEvent, at time: AuditInstant) -> Bool {
        let (accepted, wasEmpty) = queue.withLock { q -> (Bool, Bool) in
            guard !q.stopping, q.pending.count < capacity else {
                q.droppedSinceReport &+= 1
                return (false, false)
            }
            let wasEmpty = q.pending.isEmpty
            q.pending.append(Entry(event: event, time: time))
            q.enqueued &+= 1
            return (true, wasEmpty)
        }
        guard accepted else {
            droppedTotal.add(1, ordering: .relaxed)
            return false
        }
        // The writer takes the whole queue per wake-up: one signal per batch is enough.
        if wasEmpty { wakeup.signal() }
        return true
    }

    /// Waits until every event queued before this call is written (or failed), up to `timeout`.
    @discardableResult
    public func flush(timeout: Duration = .seconds(10)) -> Bool {
        let target = queue.withLock { $0.enqueued }
        wakeup.signal()
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        progress.lock()
        defer { progress.unlock() }
        while processed < target {
            if !progress.wait(until: deadline) { return processed >= target }
        }
        return true
    }

    /// Writes what is queued and what rate limiters still hold, then stops
    /// the writer and closes the destination. Later events are dropped.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.withLock { $0.stopping = true }
        wakeup.signal()
        finished.wait()
    }

    /// The counts now.
    public var counters: Counters {
        Counters(written: written.load(ordering: .relaxed), dropped: droppedTotal.load(ordering: .relaxed),
            writeErrors: writeErrors.load(ordering: .relaxed))
    }

    /// Makes the writer ask `source` for due reports on every tick, and for
    /// everything it holds at close; kept until `source` says it is done.
    func register(_ source: any AuditRateLimitedSource) {
        queue.withLock { q in
            // After close nothing would ask it, and holding it would keep the log alive.
            if !q.stopping { q.sources.append(source) }
        }
    }

    // MARK: The writer thread

    private func run(_ output: AuditOutput) {
        let encoder = AuditLineEncoder()
        var batch: [Entry] = []
        batch.reserveCapacity(capacity)
        var sequence: UInt64 = 0
        func emit(_ event: AuditEvent, _ time: AuditInstant) {
            sequence += 1
            if output.write(encoder.line(event, time: time, sequence: sequence)) {
                written.add(1, ordering: .relaxed)
            } else {
                writeErrors.add(1, ordering: .relaxed)
            }
        }
        while true {
            _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(tick.components.seconds * 1_000_000_000
                + tick.components.attoseconds / 1_000_000_000)))
            var dropped: UInt64 = 0
            var stopping = false
            var sources: [any AuditRateLimitedSource] = []
            queue.withLock { q in
                swap(&q.pending, &batch)
                dropped = q.droppedSinceReport
                q.droppedSinceReport = 0
                stopping = q.stopping
                q.sources.removeAll { $0.isFinished }
                sources = q.sources
            }
            for entry in batch { emit(entry.event, entry.time) }
            let count = UInt64(batch.count)
            batch.removeAll(keepingCapacity: true)
            if dropped > 0 {
                // There is room again: say how many were lost, once.
                emit(.eventsDropped(AuditEvent.EventsDropped(dropped: dropped,
                    droppedTotal: droppedTotal.load(ordering: .relaxed))), .now())
            }
            let now = AuditInstant.now()
            for source in sources {
                for event in stopping ? source.takeAll(at: now) : source.takeDue(at: now) { emit(event, now) }
            }
            progress.lock()
            processed &+= count
            progress.broadcast()
            progress.unlock()
            if stopping && count == 0 && dropped == 0 { break }
        }
        // Each source holds the log: forget them all once closed, so that a source whose
        // owner never finished it (a listener still open at close) does not keep both alive.
        queue.withLock { $0.sources.removeAll() }
        output.close()
        finished.signal()
    }
}

/// Something that holds rate-limited counts for the log (a channel's
/// rejected frames, a listener's refusals): the writer asks it on each tick.
protocol AuditRateLimitedSource: AnyObject, Sendable {
    /// Reports whose interval has passed.
    func takeDue(at now: AuditInstant) -> [AuditEvent]
    /// Everything held (the log is closing).
    func takeAll(at now: AuditInstant) -> [AuditEvent]
    /// True once its owner is gone and nothing is pending: the log forgets it.
    var isFinished: Bool { get }
}

/// The audit log's destination could not be opened.
public struct AuditLogError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
