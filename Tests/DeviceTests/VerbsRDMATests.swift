// One-sided operations on rxe: RDMA WRITE, WRITE_WITH_IMM, READ, chains,
// scatter/gather, and a wrong rkey surfacing as a typed completion error.
import Verbs
import XCTest

final class VerbsRDMATests: XCTestCase {
    func testWriteWriteWithImmediateAndRead() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        let size = 192 * 1024
        let local = try pair.pd.allocateRegion(bytes: size)
        let remote = try pair.pd.allocateRegion(bytes: size, access: .remoteReadWrite)

        // WRITE: A's bytes land in B's region; B sees no completion.
        local.fill(seed: 1)
        try pair.a.post(SendRequest(id: 10, operation: .write(remote.remote()), element: local.element(0..<size)))
        let w = try pair.cqA.expectSuccess(1)[0]
        XCTAssertEqual(w.opcode, .rdmaWrite)
        XCTAssertTrue(remote.matches(seed: 1, count: size))
        XCTAssertNil(try pair.cqB.pollOne(), "a plain WRITE must not consume a receive or complete at the target")

        // WRITE_WITH_IMM at an offset: consumes a receive at B carrying the immediate.
        local.fill(seed: 2, count: 1000)
        try pair.b.post(ReceiveRequest(id: 20))
        try pair.a.post(SendRequest(id: 11, operation: .writeWithImmediate(remote.remote().slice(offset: 5000, length: 1000), immediate: 0xC0FFEE),
            element: local.element(0..<1000)))
        try pair.cqA.expectSuccess(1)
        let imm = try pair.cqB.expectSuccess(1)[0]
        XCTAssertEqual(imm.opcode, .receiveWithImmediate)
        XCTAssertEqual(imm.immediateData, 0xC0FFEE)
        XCTAssertEqual(imm.byteLength, 1000)
        XCTAssertTrue(remote.matches(seed: 2, count: 1000, offset: 5000))

        // READ: B's region comes back into a fresh local buffer.
        remote.fill(seed: 3)
        let readBack = try pair.pd.allocateRegion(bytes: size)
        try pair.a.post(SendRequest(id: 12, operation: .read(remote.remote()), element: readBack.element(0..<size)))
        let r = try pair.cqA.expectSuccess(1)[0]
        XCTAssertEqual(r.opcode, .rdmaRead)
        XCTAssertTrue(readBack.matches(seed: 3, count: size))
    }

    /// A chain of unsignaled writes with a gather list, closed by one signaled
    /// write: one post call, one completion, all bytes in place.
    func testChainAndScatterGather() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        let local = try pair.pd.allocateRegion(bytes: 64 * 1024)
        let remote = try pair.pd.allocateRegion(bytes: 64 * 1024, access: .remoteReadWrite)
        local.fill(seed: 9)
        var chain: [SendRequest] = []
        for i in 0..<8 {
            // Each request gathers two 2 KiB pieces into 4 KiB of the target.
            let base = i * 4096
            let sg = ScatterGatherList(local.element(base..<(base + 2048)), local.element((base + 2048)..<(base + 4096)))
            chain.append(SendRequest(id: UInt64(100 + i), operation: .write(remote.remote().slice(offset: base, length: 4096)),
                elements: sg, flags: i == 7 ? .signaled : []))
        }
        try pair.a.post(chain: chain)
        let wcs = try pair.cqA.expectSuccess(1)
        XCTAssertEqual(wcs[0].id, 107)
        XCTAssertTrue(remote.matches(seed: 9, count: 8 * 4096))
        XCTAssertNil(try pair.cqA.pollOne(), "unsignaled requests must not produce completions")

        // Scatter on receive: one SEND split over three receive elements.
        let recv = try pair.pd.allocateRegion(bytes: 3000)
        try pair.b.post(ReceiveRequest(id: 1, elements: ScatterGatherList(recv.element(0..<1000), recv.element(1000..<2000), recv.element(2000..<3000))))
        try pair.a.post(SendRequest(id: 2, operation: .send, element: local.element(0..<3000)))
        try pair.cqA.expectSuccess(1)
        XCTAssertEqual(try pair.cqB.expectSuccess(1)[0].byteLength, 3000)
        XCTAssertTrue(recv.matches(seed: 9, count: 3000))
    }

    /// A WRITE with an rkey nobody registered fails with IBV_WC_REM_ACCESS_ERR,
    /// reported as a typed error naming the status; the QP ends in ERR.
    func testWrongRKeyIsARemoteAccessError() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context, parameters: .shortRetry)
        let local = try pair.pd.allocateRegion(bytes: 4096)
        let remote = try pair.pd.allocateRegion(bytes: 4096, access: .remoteReadWrite)
        var wrong = remote.remote()
        wrong.rkey ^= 0x5A5A00
        try pair.a.post(SendRequest(id: 1, operation: .write(wrong), element: local.element(0..<64)))
        let wc = try pair.cqA.poll(count: 1)[0]
        XCTAssertEqual(wc.status, .remoteAccessError)
        XCTAssertThrowsError(try wc.check()) { error in
            guard let e = error as? VerbsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .completionFailed)
            XCTAssertEqual(e.completionStatus, .remoteAccessError)
            XCTAssertTrue(e.description.contains("remote access error"), e.description)
        }
        XCTAssertEqual(try pair.a.state(), .error)
    }

    /// Re-registration: a region registered for local access only, re-registered
    /// with remote write (in place, or by rxe's fallback of register-then-deregister),
    /// accepts a remote WRITE through its current rkey.
    func testReregisterChangesAccess() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        let local = try pair.pd.allocateRegion(bytes: 4096)
        let target = try pair.pd.allocateRegion(bytes: 4096, access: .localWrite)
        let oldKey = target.rkey
        let inPlace = try target.reregister(access: .remoteReadWrite)
        print("reregister: in place \(inPlace), rkey \(oldKey) -> \(target.rkey)")
        XCTAssertEqual(target.access, .remoteReadWrite)
        local.fill(seed: 17)
        try pair.a.post(SendRequest(id: 1, operation: .write(target.remote()), element: local.element(0..<4096)))
        try pair.cqA.expectSuccess(1)
        XCTAssertTrue(target.matches(seed: 17, count: 4096))
    }
}
