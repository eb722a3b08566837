#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@testable import FabricAuth

/// The audit log's mechanics: rotation under concurrent writers with a
/// reader following the file as `tail -F` does, overflow, the caller never
/// waiting for the writer, and the rate limit of attacker-caused events.
@Suite struct AuditLogTests {
    static func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A reload event carrying who wrote it and its number (any event type would do).
    static func numbered(producer: Int, index: Int) -> AuditEvent {
        .reload(.init(source: .policy, path: "producer-\(producer)", outcome: .loaded, version: "\(index)"))
    }

    /// Follows `path` across rotations by inode, as log shippers do: reads
    /// to the end; when the name points at another file, reads the old one
    /// to its end (the writer no longer writes to it once renamed) and then
    /// opens the file that came after it, found as `PATH.(k-1)` (or `PATH`)
    /// where the old one is now `PATH.k`, so that several rotations between
    /// two looks skip no file.
    final class TailReader: @unchecked Sendable {
        let path: String
        private(set) var lines: [String] = []
        private var pending: [UInt8] = []
        private let stop = NSCondition()
        private var stopping = false
        private let done = DispatchSemaphore(value: 0)
        private var buffer = [UInt8](repeating: 0, count: 65536)

        init(path: String) { self.path = path }

        static func inode(_ path: String) -> ino_t? {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_ino : nil
        }

        /// Opens the file now (the log created it), before anything is written.
        func start() {
            let first = open(path, O_RDONLY)
            precondition(first >= 0, "the audit log creates its file when it opens")
            Thread.detachNewThread { [self] in
                var fd = first
                while true {
                    drain(fd)
                    var mine = stat()
                    fstat(fd, &mine)
                    if let named = Self.inode(path), named != mine.st_ino {
                        drain(fd)  // the rest the writer put there before renaming it
                        close(fd)
                        fd = successor(of: mine.st_ino)
                        continue
                    }
                    if stop.withLock({ stopping }) { break }
                    usleep(200)
                }
                close(fd)
                done.signal()
            }
        }

        /// The file written after the one with inode `old`, opened.
        private func successor(of old: ino_t) -> Int32 {
            while true {
                var k = 1
                while let i = Self.inode("\(path).\(k)"), i != old { k += 1 }
                let candidate = open(k == 1 ? path : "\(path).\(k - 1)", O_RDONLY)
                // Still where we found it: no rotation came between, so the candidate is the next file.
                if Self.inode("\(path).\(k)") == old, candidate >= 0 { return candidate }
                if candidate >= 0 { close(candidate) }
            }
        }

        private func drain(_ fd: Int32) {
            while true {
                let n = read(fd, &buffer, buffer.count)
                guard n > 0 else { return }
                pending.append(contentsOf: buffer[0..<n])
                while let newline = pending.firstIndex(of: 0x0A) {
                    lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
        }

        /// Stops once the current file is read to its end.
        func finish() -> [String] {
            stop.withLock { stopping = true }
            done.wait()
            return lines
        }
    }

    @Test func rotationUnderConcurrentWritesLosesNoLineAndKeepsOrder() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.jsonl").path
        let maxBytes = 4096, keep = 500
        let producers = 4, perProducer = 600
        let log = try AuditLog(destination: .file(path: path, maxBytes: maxBytes, keep: keep),
            capacity: producers * perProducer)
        let reader = TailReader(path: path)
        reader.start()
        DispatchQueue.concurrentPerform(iterations: producers) { p in
            for i in 0..<perProducer { #expect(log.record(Self.numbered(producer: p, index: i))) }
        }
        log.close()
        let followed = reader.finish()

        // The files, oldest first: PATH.N ... PATH.1, PATH.
        var files: [String] = []
        var n = 1
        while FileManager.default.fileExists(atPath: "\(path).\(n)") { files.insert("\(path).\(n)", at: 0); n += 1 }
        files.append(path)
        #expect(files.count > 10, "the test must rotate many times: \(files.count) files")
        var lines: [String] = []
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.utf8.count <= maxBytes, "\(file) grew past the limit: \(text.utf8.count)")
            #expect(text.hasSuffix("\n"), "\(file) ends inside a line")
            lines += text.split(separator: "\n").map(String.init)
        }
        #expect(lines.count == producers * perProducer)
        #expect(log.counters == AuditLog.Counters(written: UInt64(producers * perProducer), dropped: 0, writeErrors: 0))
        // One sequence across rotations, and each producer's events in the order recorded.
        var next = [Int](repeating: 0, count: producers)
        for (i, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["seq"] as? Int == i + 1, "line \(i + 1): \(line)")
            let producer = Int((object["path"] as! String).dropFirst("producer-".count))!
            #expect(Int(object["version"] as! String) == next[producer], "producer \(producer) out of order: \(line)")
            next[producer] += 1
        }
        #expect(next == [Int](repeating: perProducer, count: producers))
        // A reader following the file by inode saw every line, in the same order.
        #expect(followed == lines, "the following reader saw \(followed.count) of \(lines.count) lines")
        try AuditSchema.expectValid(Array(lines.prefix(50)))
    }

    @Test func rotationKeepsOnlyTheNewestFiles() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit-%p.jsonl").path
        let log = try AuditLog(destination: .file(path: path, maxBytes: 1024, keep: 2))
        for i in 0..<200 { log.record(Self.numbered(producer: 0, index: i)) }
        log.close()
        let real = path.replacingOccurrences(of: "%p", with: String(getpid()))
        #expect(log.target == real)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let base = (real as NSString).lastPathComponent
        #expect(names == [base, base + ".1", base + ".2"])
        let last = try String(contentsOfFile: real, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains(#""version":"199""#), "the newest line is in PATH: \(last)")
    }

    @Test func unwritablePathFailsAtOnce() {
        #expect(throws: AuditLogError.self) { try AuditLog(destination: .file(path: "/proc/no/such/dir/audit.jsonl")) }
        #expect(throws: AuditLogError.self) { try AuditLog(destination: .file(path: "/tmp/", maxBytes: 100, keep: 1)) }
    }

    /// With the writer stuck in its destination, `record` still returns at
    /// once; what does not fit is dropped, counted, and reported in one
    /// `events_dropped` line when the writer gets going again.
    @Test func overflowDropsCountsAndNeverBlocks() throws {
        let lines = CollectedLines()
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let first = NSLock()
        nonisolated(unsafe) var blocked = false
        let log = try AuditLog(destination: .handler { line in
            let block = first.withLock { () -> Bool in defer { blocked = true }; return !blocked }
            if block {
                entered.signal()
                _ = release.wait(timeout: .now() + 30)
            }
            lines.append(line)
        }, capacity: 8)
        log.record(Self.numbered(producer: 0, index: 0))
        #expect(entered.wait(timeout: .now() + 10) == .success, "the writer took the first event")
        let clock = ContinuousClock()
        var accepted = 0
        let elapsed = clock.measure {
            for i in 1...28 where log.record(Self.numbered(producer: 0, index: i)) { accepted += 1 }
        }
        #expect(accepted == 8)
        #expect(log.counters.dropped == 20)
        #expect(elapsed < .seconds(1), "record waited for the stuck writer: \(elapsed)")
        release.signal()
        #expect(log.flush())
        log.close()
        let events = lines.objects.map { $0["event"] as? String ?? "" }
        #expect(events == [String](repeating: "reload", count: 9) + ["events_dropped"])
        let dropped = try #require(lines.objects.last)
        #expect(dropped["dropped"] as? Int == 20 && dropped["dropped_total"] as? Int == 20)
        #expect(lines.objects.map { $0["seq"] as? Int ?? 0 } == Array(1...10))
        #expect(log.counters == AuditLog.Counters(written: 10, dropped: 20, writeErrors: 0))
        try AuditSchema.expectValid(lines.lines)
    }

    /// The limiter with the time passed in: the first refusal at once, the
    /// rest of the interval's together once it has passed, never two reports
    /// within one interval.
    @Test func rateLimiterReportsAtMostOncePerInterval() throws {
        func at(_ ms: UInt64) -> AuditInstant {
            AuditInstant(wallNanoseconds: 1_900_000_000_000_000_000 + Int64(ms) * 1_000_000, monotonicNanoseconds: ms * 1_000_000)
        }
        var limiter = AuditRateLimiter<RejectReason>(interval: .seconds(1))
        // (Each call is made before its #expect: the macros cannot call mutating methods.)
        let r0 = limiter.record(.badTag, at: at(0))
        let first = try #require(r0)
        #expect(first.total == 1 && first.counts == [.badTag: 1])
        for ms in stride(from: UInt64(10), to: 1000, by: 10) {
            let r = limiter.record(ms % 20 == 0 ? .replayed : .badTag, at: at(ms))
            #expect(r == nil, "reported at \(ms) ms")
        }
        let early = limiter.takeDue(at: at(999))
        #expect(early == nil)
        let r1000 = limiter.takeDue(at: at(1000))
        let second = try #require(r1000)
        #expect(second.total == 99 && second.counts == [.replayed: 49, .badTag: 50])
        #expect(second.start == at(10) && second.end == at(990))
        // Quiet for longer than the interval: the next one is reported at once again.
        let quiet = limiter.takeDue(at: at(1500))
        #expect(quiet == nil)
        let again = limiter.record(.tooOld, at: at(2500))
        #expect(again?.total == 1)
        let held = limiter.record(.tooOld, at: at(2600))
        #expect(held == nil)
        let rest = limiter.takeAll(at: at(2700))
        #expect(rest?.counts == [.tooOld: 1])
        #expect(!limiter.hasPending)
    }

    /// A flood of rejections on one channel becomes a handful of lines whose
    /// counts add up to the flood; the limiter's writer tick reports the tail.
    @Test func rejectedFrameFloodIsAggregated() throws {
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) }, rejectionInterval: .milliseconds(200),
            tick: .milliseconds(20))
        let channel = AuditEvent.Channel(localID: "spiffe://example.org/a", peerID: "spiffe://example.org/b",
            peerCertSHA256: String(repeating: "ab", count: 32), localQPN: 17, localGID: "::ffff:192.0.2.1", peerQPN: 18,
            peerGID: "::ffff:192.0.2.2")
        let audit = RateLimitedAudit<RejectReason>(log: log) { report, _ in
            .rejectedFrames(.init(channel: channel, counts: AuditEvent.counts(report) { SnakeCase.name($0) },
                total: report.total, windowStart: report.start.iso8601, windowEnd: report.end.iso8601, failurePolicy: "drop_and_count"))
        }
        let clock = ContinuousClock()
        let flood = 200_000
        let elapsed = clock.measure {
            for i in 0..<flood { audit.record(i % 3 == 0 ? .replayed : .badTag) }
        }
        audit.finish()
        Thread.sleep(forTimeInterval: 0.5)  // > interval + tick: the writer reports what is left
        log.close()
        let reports = lines.objects
        let total = reports.reduce(0) { $0 + ($1["total"] as? Int ?? 0) }
        #expect(total == flood)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("audit: \(flood) rejections recorded in \(elapsed) (\(Int(seconds * 1e9) / flood) ns each), \(lines.lines.count) lines")
        #expect(reports.count <= Int(seconds / 0.2) + 3, "\(reports.count) lines for \(seconds) s of flood")
        let counts = reports.map { $0["counts"] as? [String: Int] ?? [:] }
        #expect(counts.reduce(0) { $0 + ($1["replayed"] ?? 0) } == (flood + 2) / 3)
        try AuditSchema.expectValid(lines.lines)
    }
}

extension AuditRateLimiter.Report: Equatable where Reason: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        a.counts == b.counts && a.total == b.total && a.start == b.start && a.end == b.end
    }
}
