#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

@testable import NCCLNetPlugin

/// The hand-off between NCCL's thread and a comm's MAC worker, without a
/// device: the slot queue keeps NCCL's order across threads and never holds
/// more than the comm's slots, and a pool's threads start, sleep when idle and
/// are gone after the pool (the runtime that owns it) is released. The
/// sealing, verifying and copying on the workers run through the plug-in's
/// entry points on rxe in DeviceTests.NCCLPluginTests.
final class MACWorkerTests: XCTestCase {
    func testQueueKeepsOrderAndHoldsEverySlotOfAComm() {
        XCTAssertEqual(PluginComm.queueCapacity, 32, "one place per request slot (NCCL_NET_MAX_REQUESTS)")
        let queue = SlotQueue(capacity: PluginComm.queueCapacity)
        XCTAssertNil(queue.peek())
        XCTAssertTrue(queue.isEmpty)
        // Many rounds, so the indices wrap around the storage several times.
        for round in 0..<5 {
            for i in 0..<32 { XCTAssertTrue(queue.push(round * 100 + i)) }
            XCTAssertFalse(queue.push(-1), "a 33rd request does not fit")
            for i in 0..<32 {
                XCTAssertEqual(queue.peek(), round * 100 + i)
                XCTAssertEqual(queue.peek(), round * 100 + i, "peek leaves the value queued")
                queue.removeFirst()
            }
            XCTAssertNil(queue.peek())
        }
        XCTAssertTrue(queue.push(7))
        queue.removeFirst()
        XCTAssertTrue(queue.isEmpty)
    }

    func testQueueCapacityMustBeAPowerOfTwo() {
        XCTAssertEqual(SlotQueue(capacity: 1).capacity, 1)
        XCTAssertEqual(SlotQueue(capacity: 64).capacity, 64)
    }

    /// One producer and one consumer thread, as NCCL's thread and the worker:
    /// every value arrives once, in order, while the queue is full much of the time.
    func testQueueAcrossTwoThreadsDeliversEveryValueInOrder() {
        final class Received: @unchecked Sendable {  // written by the consumer, read after the semaphore
            var values: [Int] = []
        }
        let queue = SlotQueue(capacity: 4)
        let count = 200_000
        let received = Received()
        received.values.reserveCapacity(count)
        let done = DispatchSemaphore(value: 0)
        let consumer = Thread {
            while received.values.count < count {
                guard let v = queue.peek() else { continue }
                received.values.append(v)
                queue.removeFirst()
            }
            done.signal()
        }
        consumer.start()
        var next = 0
        while next < count {
            if queue.push(next) { next += 1 }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(received.values, Array(0..<count), "every value once, in the order pushed")
    }

    /// The MAC worker threads of this process, by name (/proc/self/task/TID/comm): other
    /// threads (Dispatch's, those of earlier tests winding down) come and go on their own.
    static func workerThreadCount() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            return name?.hasPrefix("fa-mac-") ?? false
        }.count
    }

    /// A pool's threads exist while it does and are joined when it goes
    /// (when a later init replaces the runtime and its comms are closed).
    /// Idle, they sleep: no busy pass is counted.
    func testPoolThreadsSleepWhenIdleAndStopWithThePool() throws {
        let before = Self.workerThreadCount()
        var pool: MACWorkerPool? = try MACWorkerPool(threads: 3)
        // Each thread names itself as it starts.
        let started = Date().addingTimeInterval(10)
        while Self.workerThreadCount() < before + 3, Date() < started { usleep(1000) }
        XCTAssertEqual(Self.workerThreadCount(), before + 3)
        let workers = pool!.workers
        XCTAssertEqual(Set([pool!.assign(), pool!.assign(), pool!.assign(), pool!.assign()].map(\.index)), [0, 1, 2],
            "comms are spread round-robin")
        // With nothing to serve, each thread naps at once and stays asleep.
        let deadline = Date().addingTimeInterval(10)
        while workers.contains(where: { $0.naps.load(ordering: .relaxed) == 0 }), Date() < deadline { usleep(1000) }
        let naps = workers.map { $0.naps.load(ordering: .relaxed) }
        XCTAssertTrue(naps.allSatisfy { $0 >= 1 }, "\(naps)")
        usleep(200_000)
        XCTAssertEqual(workers.map { $0.naps.load(ordering: .relaxed) }, naps, "no wake-up without work")
        XCTAssertEqual(workers.map { $0.passes.load(ordering: .relaxed) }, [0, 0, 0], "no busy polling when idle")
        // A wake-up without work: the thread looks, finds nothing and naps again.
        workers[0].wake()
        while workers[0].naps.load(ordering: .relaxed) == naps[0], Date() < deadline { usleep(1000) }
        XCTAssertEqual(workers[0].naps.load(ordering: .relaxed), naps[0] + 1)
        XCTAssertEqual(workers[0].passes.load(ordering: .relaxed), 0)
        pool = nil
        // pthread_join returns once the kernel clears the thread's TID, which is
        // before the task leaves /proc/self/task: give the kernel a moment to reap it.
        let reaped = Date().addingTimeInterval(5)
        while Self.workerThreadCount() > before, Date() < reaped { usleep(1000) }
        XCTAssertEqual(Self.workerThreadCount(), before, "the pool's threads were joined")
    }
}
