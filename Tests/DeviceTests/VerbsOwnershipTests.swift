// Ownership on rxe: resources released in any order tear down in the right
// order; repeated full QP set-ups leak neither verbs objects nor memory.
import Foundation
import Verbs
import XCTest

final class VerbsOwnershipTests: XCTestCase {
    /// Dropping the PD, CQs and context references before the QP is safe:
    /// the QP holds them, and its deinit destroys it first.
    func testChildrenKeepParentsAlive() throws {
        var context: Context? = try DeviceTestSupport.openContext()
        var pd: ProtectionDomain? = try context!.makeProtectionDomain()
        var cq: CompletionQueue? = try CompletionQueue(context: context!, capacity: 16)
        let prepared = try pd!.makeQueuePair(completionQueue: cq!, configuration: DeviceTestSupport.configuration())
        var mr: MemoryRegion? = try pd!.allocateRegion(bytes: 4096)
        context = nil
        pd = nil
        cq = nil
        XCTAssertNil(context)
        XCTAssertNil(pd)
        XCTAssertNil(cq)
        // The QP still works: it loops back to itself.
        let loop = prepared.endpoint
        let qp = try prepared.connect(to: loop)
        try qp.post(ReceiveRequest(id: 1, element: mr!.element(2048..<4096)))
        mr!.fill(seed: 6, count: 100)
        try qp.post(SendRequest(id: 2, operation: .send, element: mr!.element(0..<100)))
        try qp.sendCompletionQueue.expectSuccess(2)
        mr = nil
        XCTAssertNil(mr)
    }

    /// Full QP set-up and teardown in a loop (count from FABRICAUTH_CYCLES,
    /// default 200 under TCG): file descriptors and heap stay flat.
    func testCreateDestroyCyclesLeakNothing() throws {
        let cycles = ProcessInfo.processInfo.environment["FABRICAUTH_CYCLES"].flatMap(Int.init) ?? 200
        let context = try DeviceTestSupport.openContext()
        func oneCycle() throws {
            let pd = try context.makeProtectionDomain()
            let channel = try CompletionChannel(context: context)
            let cqA = try CompletionQueue(context: context, capacity: 16, channel: channel)
            let cqB = try CompletionQueue(context: context, capacity: 16)
            let mr = try pd.allocateRegion(bytes: 4096, access: .remoteReadWrite)
            let pa = try pd.makeQueuePair(completionQueue: cqA, configuration: DeviceTestSupport.configuration())
            let pb = try pd.makeQueuePair(completionQueue: cqB, configuration: DeviceTestSupport.configuration())
            let ea = pa.endpoint
            let a = try pa.connect(to: pb.endpoint)
            let b = try pb.connect(to: ea)
            try a.post(SendRequest(id: 1, operation: .write(mr.remote(0..<64)), element: mr.element(64..<128)))
            var wc = [WorkCompletion](repeating: WorkCompletion(), count: 4)
            let n = try wc.withUnsafeMutableBufferPointer { try cqA.wait(into: $0, timeout: .seconds(5)) }
            XCTAssertEqual(n, 1)
            try wc[0].check()
            _ = b
        }
        try oneCycle()  // warm-up: first-use allocations of libibverbs and the runtime
        let fdsBefore = openFileDescriptors()
        let heapBefore = heapInUse()
        for _ in 0..<cycles { try oneCycle() }
        let fdsAfter = openFileDescriptors()
        let heapAfter = heapInUse()
        XCTAssertEqual(fdsAfter, fdsBefore, "file descriptors leaked over \(cycles) cycles")
        // Allow allocator slack, but not growth proportional to the cycles.
        XCTAssertLessThan(heapAfter - heapBefore, 256 * 1024, "heap grew by \(heapAfter - heapBefore) bytes over \(cycles) cycles")
        print("VerbsOwnershipTests: \(cycles) cycles, heap delta \(heapAfter - heapBefore) bytes, fds \(fdsBefore) -> \(fdsAfter)")
    }

    private func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// VmData from /proc/self/status (bytes): data segment and anonymous mappings.
    private func heapInUse() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmData:") })
        else { return -1 }
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? -1
        return kb * 1024
    }
}
