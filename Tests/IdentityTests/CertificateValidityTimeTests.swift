import Foundation
import XCTest

@testable import Identity

/// Regression tests for a finding of Fuzz/FuzzCertificateParsing: a validity time with
/// seconds 61 parsed (swift-asn1 accepts it), then reading `notValidBefore` trapped in
/// swift-certificates' `timestampFromUTCDate` assertion (debug builds). Now it is refused
/// at parse time with a specific error (CertificateParsing+Validity.swift).
final class CertificateValidityTimeTests: XCTestCase {
    /// A genuine SVID from FabricAuth's CA, with the seconds of its `which`-th validity
    /// time (0: notBefore, 1: notAfter) rewritten. The signature no longer matches, which
    /// parsing does not check; the time fields are what is under test.
    func svid(secondsOf which: Int, to seconds: String) throws -> [UInt8] {
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: TestPKI.now)
        let (chain, _) = try authority.issue(id: SPIFFEID("spiffe://example.org/w"), now: TestPKI.now)
        var der = CertificateParsing.der(chain[0])
        // UTCTime "YYMMDDHHMMSSZ": tag 0x17, length 13 (RFC 5280 §4.1.2.5.1).
        var start = 0
        var found: [Int] = []
        while let i = der[start...].firstIndex(of: 0x17), found.count < 2 {
            if i + 1 < der.count, der[i + 1] == 13 { found.append(i) }
            start = i + 1
        }
        XCTAssertEqual(found.count, 2, "notBefore and notAfter are UTCTime")
        let offset = found[which] + 2 + 10
        der.replaceSubrange(offset..<(offset + 2), with: Array(seconds.utf8))
        return der
    }

    func code(_ der: [UInt8]) -> IdentityError.Code? {
        do {
            _ = try CertificateParsing.certificate(der: der)
            return nil
        } catch {
            return error.code
        }
    }

    func testSeconds61IsMalformedNotATrap() throws {
        XCTAssertEqual(code(try svid(secondsOf: 0, to: "61")), .malformedDER)
        XCTAssertEqual(code(try svid(secondsOf: 1, to: "61")), .malformedDER)
        // The same through a PEM file, as `fabricauth cert inspect` reads one.
        let pem = "-----BEGIN CERTIFICATE-----\n"
            + Data(try svid(secondsOf: 1, to: "61")).base64EncodedString(options: .lineLength64Characters)
            + "\n-----END CERTIFICATE-----\n"
        XCTAssertThrowsError(try CertificateParsing.certificates(pemOrDER: Array(pem.utf8))) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .malformedDER)
        }
    }

    func testLeapSecond60StillParsesAndReads() throws {
        let certificate = try CertificateParsing.certificate(der: try svid(secondsOf: 0, to: "60"))
        // Reading the time is what trapped for 61; 60 is inside swift-certificates' range.
        XCTAssertLessThan(certificate.notValidBefore, certificate.notValidAfter)
        XCTAssertFalse(CertificateReport.describe([certificate], at: TestPKI.now).isEmpty)
    }
}
