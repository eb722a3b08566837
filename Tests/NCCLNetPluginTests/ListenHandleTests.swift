import XCTest

@testable import NCCLNetPlugin

final class ListenHandleTests: XCTestCase {
    private let route = (0..<16).map { UInt8($0 * 7 + 1) }

    func testRoundTripFillsTheWholeHandle() throws {
        var raw = [UInt8](repeating: 0xAB, count: ListenHandle.size)
        try raw.withUnsafeMutableBytes { try ListenHandle(host: "10.0.2.15", port: 41234, route: route).encode(into: $0) }
        XCTAssertEqual(Array(raw[0..<4]), Array("FAN1".utf8))
        XCTAssertEqual(raw[4], 2, "layout 2: with a route")
        XCTAssertEqual(raw[6], 0xA1, "port 41234 = 0xA112, big-endian")
        XCTAssertEqual(raw[7], 0x12)
        XCTAssertEqual(Array(raw[16..<32]), route)
        XCTAssertEqual(Array(raw[32..<41]), Array("10.0.2.15".utf8))
        XCTAssertTrue(raw[(32 + 9)...].allSatisfy { $0 == 0 }, "no stale bytes after the host")
        let decoded = try raw.withUnsafeBytes { try ListenHandle.decode($0) }
        XCTAssertEqual(decoded, ListenHandle(host: "10.0.2.15", port: 41234, route: route))
        XCTAssertEqual(raw.withUnsafeBytes { ListenHandle.setupID(in: $0) }, 0, "a fresh handle has no setup")
    }

    func testSetupIDLeavesTheAddressIntact() throws {
        var raw = [UInt8](repeating: 0, count: ListenHandle.size)
        try raw.withUnsafeMutableBytes { try ListenHandle(host: "fe80::1", port: 7, route: route).encode(into: $0) }
        raw.withUnsafeMutableBytes { ListenHandle.setSetupID(0x1234_5678_9abc_def0, in: $0) }
        XCTAssertEqual(raw.withUnsafeBytes { ListenHandle.setupID(in: $0) }, 0x1234_5678_9abc_def0)
        XCTAssertEqual(try raw.withUnsafeBytes { try ListenHandle.decode($0) }, ListenHandle(host: "fe80::1", port: 7, route: route))
    }

    func testLongestHostFitsAndLongerIsRefused() throws {
        var raw = [UInt8](repeating: 0, count: ListenHandle.size)
        let longest = String(repeating: "h", count: ListenHandle.maxHostBytes)
        try raw.withUnsafeMutableBytes { try ListenHandle(host: longest, port: 1, route: route).encode(into: $0) }
        XCTAssertEqual(try raw.withUnsafeBytes { try ListenHandle.decode($0) }.host, longest)
        XCTAssertThrowsError(try raw.withUnsafeMutableBytes { try ListenHandle(host: longest + "h", port: 1, route: route).encode(into: $0) })
        XCTAssertThrowsError(try raw.withUnsafeMutableBytes { try ListenHandle(host: "", port: 1, route: route).encode(into: $0) })
    }

    func testForeignAndDamagedHandlesAreRefused() throws {
        var good = [UInt8](repeating: 0, count: ListenHandle.size)
        try good.withUnsafeMutableBytes { try ListenHandle(host: "10.0.0.1", port: 5000, route: route).encode(into: $0) }
        let cases: [(String, (inout [UInt8]) -> Void, String)] = [
            ("IB plug-in's handle", { $0[0] = 0x00 }, "magic"),
            ("layout 1, without a route", { $0[4] = 1 }, "layout"),
            ("newer layout", { $0[4] = 3 }, "layout"),
            ("zero host length", { $0[5] = 0 }, "host length"),
            ("host length past the handle", { $0[5] = 97 }, "host length"),
            ("port 0", { $0[6] = 0; $0[7] = 0 }, "port 0"),
            ("host not UTF-8", { $0[32] = 0xff }, "UTF-8"),
        ]
        for (name, damage, expected) in cases {
            var raw = good
            damage(&raw)
            XCTAssertThrowsError(try raw.withUnsafeBytes { try ListenHandle.decode($0) }, name) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try good.withUnsafeBytes { try ListenHandle.decode(UnsafeRawBufferPointer(rebasing: $0[0..<64])) })
    }
}
