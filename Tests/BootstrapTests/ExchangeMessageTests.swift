// Host tests of the exchange's wire form: every malformed header is refused
// with its own code, before any payload is read.
import Bootstrap
import Verbs
import XCTest

final class ExchangeMessageTests: XCTestCase {
    static let endpoint = QueuePairEndpoint(queuePairNumber: 0x11, packetSequenceNumber: 0xABCDEF,
        gid: Gid("::ffff:192.0.2.1")!, lid: 0, mtu: .mtu1024)

    func testRoundTripOfTheHeaderAndItsLayout() throws {
        let message = ExchangeMessage(endpoint: Self.endpoint, payload: [1, 2, 3])
        let bytes = message.encoded
        XCTAssertEqual(Array(bytes.prefix(4)), Array("FAX2".utf8))
        XCTAssertEqual(bytes.count, ExchangeMessage.headerSize + 3)
        XCTAssertEqual(Array(bytes[ExchangeMessage.headerSize - 2..<ExchangeMessage.headerSize]), [0, 3])
        let (endpoint, length) = try ExchangeMessage.parseHeader(bytes.prefix(ExchangeMessage.headerSize))
        XCTAssertEqual(endpoint, Self.endpoint)
        XCTAssertEqual(length, 3)
    }

    func testMalformedHeadersAreRefusedWithTheirOwnCode() {
        let good = ExchangeMessage(endpoint: Self.endpoint).encoded
        func code(_ bytes: [UInt8]) -> BootstrapError.Code? {
            do { _ = try ExchangeMessage.parseHeader(bytes) } catch { return error.code }
            return nil
        }
        XCTAssertNil(code(good))
        XCTAssertEqual(code(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n1234567".utf8).prefix(ExchangeMessage.headerSize).map { $0 }), .badMagic)
        var oversized = good
        oversized[ExchangeMessage.headerSize - 2] = 0xFF
        oversized[ExchangeMessage.headerSize - 1] = 0xFF
        XCTAssertEqual(code(oversized), .oversized)
        var badEndpoint = good
        badEndpoint[4] = 1  // QPN above 24 bits
        XCTAssertEqual(code(badEndpoint), .malformedEndpoint)
        XCTAssertEqual(code(Array(good.prefix(10))), .truncated)
    }

    func testAnOlderExchangeIsNamedInTheError() {
        var old = ExchangeMessage(endpoint: Self.endpoint).encoded
        old.replaceSubrange(0..<4, with: Array("FAX1".utf8))
        XCTAssertThrowsError(try ExchangeMessage.parseHeader(old)) { error in
            guard let e = error as? BootstrapError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .badMagic)
            XCTAssertTrue(e.reason.contains("older fabricauth"), e.reason)
        }
    }

    func testClientTokensAreSixteenRandomBytes() {
        let tokens = (0..<32).map { _ in ExchangeMessage.randomClientToken() }
        XCTAssertTrue(tokens.allSatisfy { $0.count == ExchangeMessage.clientTokenSize })
        XCTAssertEqual(Set(tokens).count, tokens.count)
    }

    func testNonNumericAddressesAreRefused() {
        XCTAssertThrowsError(try EndpointExchange.exchange(host: "not-an-ip", port: 1,
            local: ExchangeMessage(endpoint: Self.endpoint))) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .invalidAddress)
        }
        XCTAssertThrowsError(try EndpointExchangeListener(address: "::ffff:not")) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .invalidAddress)
        }
    }
}
