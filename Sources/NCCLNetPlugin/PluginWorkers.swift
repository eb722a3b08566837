#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

// MAC work off NCCL's proxy thread (FABRICAUTH_MAC_THREADS, issue 14).
//
// NCCL drives all of a GPU's network traffic from one proxy thread; sealing
// and verifying 400 Gb/s in each direction is about 2 cores of AES-GMAC
// (docs/performance.md). With K > 0 workers, a comm's MAC work and copies run
// on the one worker it was given at creation (round-robin), so NCCL's
// channels x peers comms are sealed and verified in parallel, while each
// channel is still used by one thread only:
//
//   NCCL's thread (PluginComm+Workers.swift)   the comm's worker
//   isend/irecv: take a free slot, fill it,
//     push its index (SlotQueue), wake  ---->  take slots in order: a send copies
//     the worker if it sleeps                    NCCL's bytes into the shadow, then
//                                                channel.isend (seal, WRITE; retried
//                                                while the peer granted no window);
//                                                a receive: channel.irecv (grants)
//                                              poll posted slots: channel.testSizes
//                                                (verifies WRITEs); a verified
//                                                receive is copied into NCCL's
//                                                buffers; then sizes, then a
//                                                release-store of `done`
//   test: acquire-load the slot's state; <---
//     done: report the sizes, free the slot
//
// NCCL's thread never waits for MAC work: it takes only the comm's own lock,
// for O(1) bookkeeping the worker never touches. A worker polls while any of
// its comms has work queued or in flight (pausing 50 µs every 64 polls once
// nothing has moved for a millisecond), and sleeps on its condition
// otherwise. Nothing here allocates per message: slots, queues and sizes are
// made with the comm.

/// The runtime's workers. Stopped (threads joined) when the runtime goes,
/// which can happen only after every comm made with it was closed.
final class MACWorkerPool {
    let workers: [MACWorker]
    private let next = Atomic<Int>(0)

    init(threads: Int) throws(PluginSettingsError) {
        var started: [MACWorker] = []
        for i in 0..<threads {
            do {
                started.append(try MACWorker(index: i))
            } catch {
                for w in started { w.stop() }
                throw error
            }
        }
        workers = started
    }

    /// The worker for a new comm: round-robin, so a rank's comms spread evenly.
    func assign() -> MACWorker {
        workers[next.wrappingAdd(1, ordering: .relaxed).oldValue % workers.count]
    }

    deinit {
        for w in workers { w.stop() }
    }
}

/// One worker thread and the comms it serves.
final class MACWorker: @unchecked Sendable {  // mutable state guarded by `condition` or owned by the thread
    let index: Int
    private let condition = NSCondition()
    /// The comms this worker serves (guarded by `condition`). Unretained: a comm
    /// is removed, and the worker has let go of it, before NCCL's close releases it,
    /// so the last reference to a comm (and to its runtime) is never dropped here.
    private var comms: [Unmanaged<PluginComm>] = []
    /// Bumped (under `condition`) by every change of `comms` and by `stop`.
    private let generation = Atomic<Int>(0)
    /// The generation of the list the thread last took (guarded by `condition`).
    private var seenGeneration = 0
    private var wakeRequested = false
    private var stopping = false
    private var exited = false
    /// True while the thread is about to sleep or sleeping; see `wake`.
    private let sleeping = Atomic<Bool>(false)
    private var thread = pthread_t()

    /// Busy passes over its comms (each a poll of every outstanding request),
    /// naps (sleeps until woken) and 50 µs pauses while waiting; for tests.
    let passes = Atomic<UInt64>(0)
    let naps = Atomic<UInt64>(0)
    let pauses = Atomic<UInt64>(0)

    init(index: Int) throws(PluginSettingsError) {
        self.index = index
        let retained = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { argument in
            let worker = Unmanaged<MACWorker>.fromOpaque(argument!).takeRetainedValue()
            worker.run()
            return nil
        }, retained)
        guard rc == 0 else {
            Unmanaged<MACWorker>.fromOpaque(retained).release()
            throw PluginSettingsError("FABRICAUTH_MAC_THREADS: starting worker \(index) failed: \(String(cString: strerror(rc))); "
                + "set FABRICAUTH_MAC_THREADS=0 to seal and verify on NCCL's thread")
        }
    }

    /// Starts serving `comm` (its creation, on NCCL's thread).
    func add(_ comm: PluginComm) {
        condition.lock()
        comms.append(Unmanaged.passUnretained(comm))
        changed()
        condition.unlock()
    }

    /// Stops serving `comm` and returns once the thread no longer uses it:
    /// after this the channel may be closed and the comm released.
    func remove(_ comm: PluginComm) {
        condition.lock()
        comms.removeAll { $0.toOpaque() == Unmanaged.passUnretained(comm).toOpaque() }
        let target = changed()
        while seenGeneration < target && !exited { condition.wait() }
        condition.unlock()
    }

    /// After NCCL's thread queued a request: wakes the thread if it sleeps.
    /// The common case, a thread already polling, costs one atomic load.
    func wake() {
        guard sleeping.load(ordering: .sequentiallyConsistent) else { return }
        condition.lock()
        wakeRequested = true
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the thread and joins it (the pool's deinit).
    func stop() {
        condition.lock()
        stopping = true
        changed()
        condition.unlock()
        pthread_join(thread, nil)
    }

    /// Under `condition`: publishes a change and wakes the thread. Returns the new generation.
    @discardableResult
    private func changed() -> Int {
        let g = generation.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        wakeRequested = true
        condition.broadcast()
        return g
    }

    /// While requests are in flight and nothing moves: spin (a completion on
    /// a real NIC takes microseconds), yielding every 64 passes, and once
    /// nothing has moved for `spinNanoseconds`, pause 50 µs every 64 passes,
    /// so a worker waiting on its peer does not hold a core (on the 2-vCPU
    /// test bed, the emulated NIC's kernel work competes with it). NCCL's
    /// proxy thread only yields; the pause costs a completion noticed up to
    /// 50 µs late, and only after a millisecond of silence, when the data
    /// path is waiting on the peer anyway.
    private func backOff(_ idlePasses: inout Int, since idleSince: inout UInt64) {
        idlePasses += 1
        if idlePasses == 1 {
            idleSince = Self.monotonicNanoseconds()
        } else if idlePasses & 63 == 0 {
            if Self.monotonicNanoseconds() - idleSince > Self.spinNanoseconds {
                pauses.add(1, ordering: .relaxed)
                usleep(50)
            } else {
                sched_yield()
            }
        }
    }

    /// How long a worker spins without progress before it starts pausing.
    static let spinNanoseconds: UInt64 = 1_000_000

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The thread's name (`top -H`, /proc/PID/task/TID/comm): at most 15 bytes.
    static func threadName(_ index: Int) -> String { "fa-mac-\(index)" }

    /// Names the calling thread through /proc/thread-self/comm (Linux 3.17+):
    /// Glibc's pthread_setname_np is a GNU extension Swift does not import.
    /// Best effort: an unnamed worker works the same.
    static func nameCallingThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        _ = name.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    private func run() {
        Self.nameCallingThread(Self.threadName(index))
        var served: [Unmanaged<PluginComm>] = []
        var idlePasses = 0
        var idleSince: UInt64 = 0
        var seen = -1
        while true {
            if generation.load(ordering: .sequentiallyConsistent) != seen {
                condition.lock()
                if stopping {
                    exited = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                served = comms  // copy-on-write: a new buffer only when the list changed
                seen = generation.load(ordering: .relaxed)
                seenGeneration = seen
                condition.broadcast()  // a `remove` may be waiting for this
                condition.unlock()
            }
            var outcome = ServeOutcome.idle
            for comm in served { outcome = max(outcome, comm.takeUnretainedValue().serve()) }
            if outcome == .progressed {
                idlePasses = 0
                passes.add(1, ordering: .relaxed)
                continue
            }
            if outcome == .waiting {
                passes.add(1, ordering: .relaxed)
                backOff(&idlePasses, since: &idleSince)
                continue
            }
            // Idle. Announce the sleep, then look once more: a request queued
            // before NCCL's thread could see `sleeping` is found here; one
            // queued after it makes `wake` signal (SlotQueue.push and this
            // store are sequentially consistent).
            sleeping.store(true, ordering: .sequentiallyConsistent)
            if served.contains(where: { $0.takeUnretainedValue().hasQueuedRequests })
                || generation.load(ordering: .sequentiallyConsistent) != seen {
                sleeping.store(false, ordering: .relaxed)
                continue
            }
            naps.add(1, ordering: .relaxed)
            condition.lock()
            while !wakeRequested { condition.wait() }
            wakeRequested = false
            condition.unlock()
            sleeping.store(false, ordering: .relaxed)
        }
    }
}
