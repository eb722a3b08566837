// The first device smoke test (issue 2) and device/port/GID queries on rxe.
import Verbs
import XCTest

final class VerbsSmokeTests: XCTestCase {
    func testDevicePortAndGidTable() throws {
        let context = try DeviceTestSupport.openContext()
        let devices = try RDMADevice.all()
        XCTAssertTrue(devices.contains { $0.name == context.deviceName }, "\(devices)")
        let attributes = try context.queryDevice()
        XCTAssertGreaterThanOrEqual(attributes.portCount, 1)
        let port = try context.queryPort(1)
        XCTAssertEqual(port.state, .active)
        XCTAssertEqual(port.linkLayer, .ethernet)
        XCTAssertGreaterThanOrEqual(port.activeMTU, .mtu1024)
        let table = try context.gidTable(port: 1)
        XCTAssertFalse(table.isEmpty)
        let chosen = try context.defaultGid(port: 1)
        XCTAssertEqual(chosen.type, .roceV2)
        XCTAssertTrue(chosen.gid.isIPv4Mapped, "\(chosen)")
        if let expected = DeviceTestSupport.gidIndex { XCTAssertEqual(chosen.index, expected) }
        if let ip = DeviceTestSupport.ipv4 { XCTAssertEqual(chosen.gid.ipv4, ip) }
        // A port the device lacks is a typed error, not EINVAL.
        XCTAssertThrowsError(try context.queryPort(UInt8(attributes.portCount + 1))) { error in
            XCTAssertEqual((error as? VerbsError)?.code, .portNotFound)
        }
    }

    /// Open the device, create PD/CQ/two RC QPs, connect them, exchange a message, check the bytes.
    func testTwoQueuePairsExchangeAMessage() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        XCTAssertEqual(try pair.a.state(), .readyToSend)
        let message = Array("hello over rxe, from QP A to QP B".utf8)
        let src = try pair.pd.allocateRegion(bytes: 4096)
        let dst = try pair.pd.allocateRegion(bytes: 4096, access: .localWrite)
        src.bytes.copyBytes(from: message)
        try pair.b.post(ReceiveRequest(id: 7, element: dst.element(0..<4096)))
        try pair.a.post(SendRequest(id: 1, operation: .send, element: src.element(0..<message.count)))
        let sent = try pair.cqA.expectSuccess(1)
        XCTAssertEqual(sent[0].id, 1)
        XCTAssertEqual(sent[0].opcode, .send)
        let received = try pair.cqB.expectSuccess(1)
        XCTAssertEqual(received[0].id, 7)
        XCTAssertEqual(received[0].opcode, .receive)
        XCTAssertEqual(Int(received[0].byteLength), message.count)
        XCTAssertEqual(Array(dst.bytes.prefix(message.count)), message)
    }

    /// RC ping-pong across sizes around the MTU and inline limits.
    func testPingPongManySizes() throws {
        let context = try DeviceTestSupport.openContext()
        let pair = try LoopbackPair(context: context)
        let maxSize = 256 * 1024
        let bufA = try pair.pd.allocateRegion(bytes: maxSize)
        let bufB = try pair.pd.allocateRegion(bytes: maxSize)
        var sizes = [1, 2, 63, 64, 65, 255, 1023, 1024, 1025, 2048, 4095, 4096, 4097, 65536, maxSize]
        if pair.a.maxInlineData > 0 { sizes.append(pair.a.maxInlineData) }
        for (round, size) in sizes.enumerated() {
            let seed = UInt8(truncatingIfNeeded: round)
            // ping A -> B
            bufA.fill(seed: seed, count: size)
            try pair.b.post(ReceiveRequest(id: UInt64(round), element: bufB.element(0..<maxSize)))
            let inline = size <= pair.a.maxInlineData
            try pair.a.post(SendRequest(id: UInt64(round), operation: .send, element: bufA.element(0..<size),
                flags: inline ? [.signaled, .inline] : .signaled))
            try pair.cqA.expectSuccess(1)
            let wc = try pair.cqB.expectSuccess(1)[0]
            XCTAssertEqual(Int(wc.byteLength), size, "ping size \(size)")
            XCTAssertTrue(bufB.matches(seed: seed, count: size), "ping bytes differ at size \(size)")
            // pong B -> A, with immediate data
            bufB.fill(seed: seed &+ 100, count: size)
            try pair.a.post(ReceiveRequest(id: UInt64(round), element: bufA.element(0..<maxSize)))
            try pair.b.post(SendRequest(id: UInt64(round), operation: .sendWithImmediate(UInt32(size)), element: bufB.element(0..<size)))
            try pair.cqB.expectSuccess(1)
            let back = try pair.cqA.expectSuccess(1)[0]
            XCTAssertEqual(back.opcode, .receive)
            XCTAssertEqual(back.immediateData, UInt32(size))
            XCTAssertTrue(bufA.matches(seed: seed &+ 100, count: size), "pong bytes differ at size \(size)")
        }
    }
}
