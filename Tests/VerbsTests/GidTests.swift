// Host tests: GID parsing, printing and the default GID choice.
import XCTest
@testable import Verbs

final class GidTests: XCTestCase {
    func testParseAndPrint() throws {
        let g = try XCTUnwrap(Gid("::ffff:192.0.2.1"))
        XCTAssertTrue(g.isIPv4Mapped)
        XCTAssertEqual(g.ipv4, "192.0.2.1")
        XCTAssertEqual(g.description, "::ffff:192.0.2.1")
        // sysfs prints eight groups of four hex digits.
        let sysfs = try XCTUnwrap(Gid("fe80:0000:0000:0000:5054:00ff:fe12:3456"))
        XCTAssertEqual(sysfs.description, "fe80::5054:ff:fe12:3456")
        XCTAssertFalse(sysfs.isIPv4Mapped)
        XCTAssertNil(Gid("not a gid"))
        XCTAssertNil(Gid(bytes: [1, 2, 3]))
        XCTAssertTrue(Gid.zero.isZero)
        XCTAssertEqual(Gid(g.ibv), g)
    }

    func testTypesFromSysfsNames() {
        XCTAssertEqual(GidType(sysfsName: "RoCE v2\n"), .roceV2)
        XCTAssertEqual(GidType(sysfsName: "IB/RoCE v1"), .roceV1)
        XCTAssertNil(GidType(sysfsName: "RoCE v3"))
        XCTAssertEqual(GidType.roceV2.description, "RoCE v2")
    }

    /// A mlx5-style RoCE table: 0/1 link-local v1/v2, 2/3 IPv4-mapped v1/v2 (rxe lists only the v2 rows).
    func testDefaultPrefersIPv4MappedRoCEv2() {
        let ll = Gid("fe80::5054:ff:fe12:3456")!
        let v4 = Gid("::ffff:192.0.2.1")!
        let table = [
            GidEntry(index: 0, gid: ll, type: .roceV1), GidEntry(index: 1, gid: ll, type: .roceV2),
            GidEntry(index: 2, gid: v4, type: .roceV1), GidEntry(index: 3, gid: v4, type: .roceV2),
        ]
        XCTAssertEqual(GidSelection.defaultEntry(in: table)?.index, 3)
        XCTAssertEqual(GidSelection.defaultEntry(in: Array(table.prefix(3)))?.index, 1, "else the first RoCE v2")
        let ib = [GidEntry(index: 0, gid: Gid("fe80::2:c903:a:1234")!, type: .infiniband)]
        XCTAssertEqual(GidSelection.defaultEntry(in: ib)?.index, 0)
        XCTAssertNil(GidSelection.defaultEntry(in: [GidEntry(index: 0, gid: .zero, type: .roceV2)]))
    }

    func testMtu() {
        XCTAssertEqual(Mtu.mtu1024.bytes, 1024)
        XCTAssertEqual(Mtu(bytes: 4096), .mtu4096)
        XCTAssertNil(Mtu(bytes: 1500))
        XCTAssertLessThan(Mtu.mtu1024, .mtu4096)
    }
}
