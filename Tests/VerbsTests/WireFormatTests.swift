// Host tests: endpoint encodings and layouts mirrored from C (no RDMA
// device needed). The TCP exchange's tests are in Tests/BootstrapTests.
import Foundation
import XCTest
@testable import Verbs

final class WireFormatTests: XCTestCase {
    let endpoint = QueuePairEndpoint(queuePairNumber: 0x11, packetSequenceNumber: 0xABCDEF,
        gid: Gid("::ffff:192.0.2.1")!, lid: 0, mtu: .mtu1024)

    func testEndpointRoundTrip() throws {
        let bytes = endpoint.encoded
        XCTAssertEqual(bytes.count, QueuePairEndpoint.encodedSize)
        XCTAssertEqual(Array(bytes.prefix(8)), [0, 0, 0, 0x11, 0, 0xAB, 0xCD, 0xEF])
        XCTAssertEqual(QueuePairEndpoint(encoded: bytes), endpoint)
        var bad = bytes
        bad[0] = 1  // QPN above 24 bits
        XCTAssertNil(QueuePairEndpoint(encoded: bad))
        bad = bytes
        bad[10] = 9  // no such MTU
        XCTAssertNil(QueuePairEndpoint(encoded: bad))
        XCTAssertNil(QueuePairEndpoint(encoded: bytes.dropLast()))
    }

    func testRemoteMemoryRoundTrip() {
        let r = RemoteMemory(address: 0x7f00_1234_5000, rkey: 0x1234_5678, length: 4096)
        XCTAssertEqual(RemoteMemory(encoded: r.encoded), r)
        XCTAssertEqual(r.slice(offset: 16, length: 32), RemoteMemory(address: 0x7f00_1234_5010, rkey: 0x1234_5678, length: 32))
    }

    func testLayoutsMatchC() {
        XCTAssertTrue(ScatterGatherElement.layoutMatchesC)
    }

    func testScatterGatherList() {
        var l = ScatterGatherList()
        l.append(ScatterGatherElement(address: 1, length: 10, lkey: 1))
        l.append(ScatterGatherElement(address: 2, length: 20, lkey: 1))
        XCTAssertEqual(l.count, 2)
        XCTAssertEqual(l.totalLength, 30)
        XCTAssertEqual(l[1].address, 2)
    }

    func testRandomPSNsAre24BitAndVary() {
        let psns = (0..<64).map { _ in PreparedQueuePair.randomPSN() }
        XCTAssertTrue(psns.allSatisfy { $0 <= 0xFF_FFFF })
        XCTAssertGreaterThan(Set(psns).count, 60)
    }
}
