import XCTest

@testable import Identity

final class SPIFFEIDTests: XCTestCase {
    func testValidIDs() throws {
        let id = try SPIFFEID("spiffe://prod.example-1.org/ns/storage_v2/node.7")
        XCTAssertEqual(id.trustDomain, "prod.example-1.org")
        XCTAssertEqual(id.path, "/ns/storage_v2/node.7")
        XCTAssertEqual(id.description, "spiffe://prod.example-1.org/ns/storage_v2/node.7")
        XCTAssertEqual(try SPIFFEID("spiffe://td").path, "")
    }

    func testInvalidIDsNameTheRule() {
        let cases: [(String, String)] = [
            ("", "scheme"),
            ("https://example.org/x", "scheme"),
            ("SPIFFE://example.org/x", "scheme"),
            ("spiffe://", "trust domain is empty"),
            ("spiffe:///x", "trust domain is empty"),
            ("spiffe://Example.org/x", "lowercase"),
            ("spiffe://example.org:8080/x", "port"),
            ("spiffe://user@example.org/x", "userinfo"),
            ("spiffe://exa mple.org/x", "[a-z0-9._-]"),
            ("spiffe://example.org/", "end with"),
            ("spiffe://example.org/a//b", "empty segment"),
            ("spiffe://example.org/a/./b", "\".\" or \"..\""),
            ("spiffe://example.org/a/..", "\".\" or \"..\""),
            ("spiffe://example.org/a?x=1", "query"),
            ("spiffe://example.org/a#frag", "query"),
            ("spiffe://example.org/a%20b", "[A-Za-z0-9._-]"),
            ("spiffe://example.org/ü", "[A-Za-z0-9._-]"),
            ("spiffe://" + String(repeating: "a", count: 256) + "/x", "255"),
            ("spiffe://example.org/" + String(repeating: "a", count: 2100), "2048"),
        ]
        for (input, rule) in cases {
            XCTAssertThrowsError(try SPIFFEID(input), input) { error in
                let error = error as! IdentityError
                XCTAssertEqual(error.code, .invalidSPIFFEID, input)
                XCTAssertTrue(error.message.contains(rule), "\(input): \(error.message)")
            }
        }
    }

    func testSVIDNeedsANonRootPath() throws {
        XCTAssertThrowsError(try SPIFFEID("spiffe://example.org").requiringWorkload()) { error in
            XCTAssertTrue((error as! IdentityError).message.contains("X509-SVID §2"))
        }
        XCTAssertNoThrow(try SPIFFEID("spiffe://example.org/w").requiringWorkload())
    }

    func testPrefixMatchingIsSegmentWise() throws {
        let prefix = try SPIFFEID("spiffe://example.org/ns/prod")
        XCTAssertTrue(try SPIFFEID("spiffe://example.org/ns/prod").isEqualOrBelow(prefix))
        XCTAssertTrue(try SPIFFEID("spiffe://example.org/ns/prod/web").isEqualOrBelow(prefix))
        XCTAssertFalse(try SPIFFEID("spiffe://example.org/ns/production").isEqualOrBelow(prefix))
        XCTAssertFalse(try SPIFFEID("spiffe://other.org/ns/prod/web").isEqualOrBelow(prefix))
        XCTAssertTrue(try SPIFFEID("spiffe://example.org/any").isEqualOrBelow(SPIFFEID(trustDomain: "example.org")))
    }

    func testDurationParser() throws {
        XCTAssertEqual(try DurationParser.parse("24h"), 86400)
        XCTAssertEqual(try DurationParser.parse("1h30m"), 5400)
        XCTAssertEqual(try DurationParser.parse("7d"), 7 * 86400)
        for bad in ["", "h", "24", "24x", "0h", "-1h", "99999999h", "1h 30m", "١h"] {
            XCTAssertThrowsError(try DurationParser.parse(bad), bad) { error in
                XCTAssertEqual((error as! IdentityError).code, .invalidDuration, bad)
            }
        }
    }
}
