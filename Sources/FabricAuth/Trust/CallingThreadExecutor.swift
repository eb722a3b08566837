import Foundation

/// Runs an async operation to completion on the calling thread, for synchronous APIs that must
/// call async code: ``CertificatePeerVerifier`` answers the handshake machine synchronously,
/// while swift-certificates 1.21's `Verifier.validate` is async and has no synchronous form.
///
/// Why not a semaphore: blocking the caller until a task on the global executor finishes
/// deadlocks as soon as every thread of Swift's cooperative pool (one per core) is such a
/// caller, since the tasks they wait for need a pool thread to run. Here the operation runs
/// as a task whose executor preference (SE-0417) is this executor, and the caller's thread
/// runs that task's jobs itself, so it needs no other thread, cooperative or not. Nonisolated
/// async code and default actors follow the preference; an actor with its own executor
/// (`@MainActor`) would not, and must not be awaited by the operation: if the caller held
/// that executor, the job could never run.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *)
final class CallingThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `finished` are only touched under `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `operation` on the calling thread and returns its result.
    static func run<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
        let executor = CallingThreadExecutor()
        let result = AsyncResultBox<T>()
        // Detached, so the operation does not inherit an actor the caller may be isolated to.
        Task.detached(executorPreference: executor) {
            let value = await operation()
            executor.finish { result.value = value }
        }
        executor.runJobsUntilFinished()
        return result.value!
    }

    private func finish(_ store: () -> Void) {
        condition.lock()
        store()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func runJobsUntilFinished() {
        while true {
            condition.lock()
            // The wait is reached only if the operation suspends on something another thread
            // resumes; FabricAuth's verification (in-memory trust stores) never does, so in
            // practice every job is already queued when the previous one returns.
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Carries a value out of a task; the lock (a condition's, or a semaphore's signal/wait)
/// orders the write before the read.
final class AsyncResultBox<T>: @unchecked Sendable {
    var value: T?
}
