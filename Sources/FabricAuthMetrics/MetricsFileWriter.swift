#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Writes the registry's exposition to a file, for processes that must not
/// open a port (the NCCL plug-in, `FABRICAUTH_METRICS_FILE`): node_exporter's
/// textfile collector reads `*.prom` files in its directory.
///
/// Each write goes to a hidden temporary file in the same directory (a name
/// not ending in `.prom`, so the collector never reads it), is synced, and is
/// renamed over the target: rename(2) within one file system replaces the
/// name atomically, so a reader sees the old file or the new one, never part
/// of one. Periodic writes run on a thread of their own.
public final class MetricsFileWriter: Sendable {
    /// The file written.
    public let path: String
    /// Time between periodic writes.
    public let interval: Duration

    private let registry: MetricsRegistry
    private let temporaryPath: String
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// The last periodic write's failure, if it failed (said once by the owner).
    private let lastFailure = Mutex<MetricsError?>(nil)
    /// Held while the temporary file is written and renamed.
    private let writing = Mutex<Int>(0)

    /// The default of `FABRICAUTH_METRICS_INTERVAL` and `--metrics-interval`.
    public static let defaultInterval: Duration = .seconds(5)

    public init(registry: MetricsRegistry, path: String, interval: Duration = defaultInterval) {
        self.registry = registry
        self.path = path
        self.interval = interval
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        temporaryPath = "\(directory)/.\(url.lastPathComponent).\(getpid()).tmp"
    }

    /// Writes the exposition now, atomically. Thread-safe: the periodic
    /// thread and a caller's final write share one temporary file in turn.
    public func write() throws(MetricsError) {
        let bytes = registry.expositionBytes()
        let failure = writing.withLock { _ -> MetricsError? in
            do throws(MetricsError) { try replace(with: bytes) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    private func replace(with bytes: [UInt8]) throws(MetricsError) {
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MetricsError("\(temporaryPath): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporaryPath)
                throw MetricsError("\(temporaryPath): \(reason)")
            }
            offset += n
        }
        // Synced before the rename, so a crash leaves the old file or the whole new one.
        fsync(fd)
        close(fd)
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw MetricsError("\(path): \(reason)")
        }
    }

    /// Starts writing every `interval` (the first write at once) until `stop`.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            defer { finished.signal() }
            while !stopping.load(ordering: .acquiring) {
                do throws(MetricsError) { try write() } catch { lastFailure.withLock { $0 = error } }
                let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
                _ = wake.wait(timeout: .now() + seconds)
            }
        }
        thread.name = "fabricauth-metrics-file"
        thread.start()
    }

    /// The failure of the last periodic write, nil if it succeeded.
    public var failure: MetricsError? { lastFailure.withLock { $0 } }

    /// Stops the periodic writes and writes once more (the final counters).
    public func stop() throws(MetricsError) {
        if started.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) {
            wake.signal()
            finished.wait()
        }
        try write()
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
