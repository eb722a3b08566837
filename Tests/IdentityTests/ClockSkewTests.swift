import Crypto
import Foundation
import X509
import XCTest

@testable import Identity

/// The verifier's clock-skew tolerance: a certificate is accepted when
/// notBefore - tolerance <= time <= notAfter + tolerance, for every certificate, and in recheck.
final class ClockSkewTests: XCTestCase {
    let root = TestPKI.root()
    lazy var leaf = TestPKI.leaf(under: root)  // notBefore now-3600, notAfter now+3600
    var notBefore: Date { leaf.certificate.notValidBefore }
    var notAfter: Date { leaf.certificate.notValidAfter }

    func verifier(tolerance: TimeInterval) -> IdentityVerifier {
        IdentityVerifier(bundles: [try! TrustBundle(trustDomain: "example.org", anchors: [root.certificate])],
                         clockSkewTolerance: tolerance)
    }

    func verify(at time: Date, tolerance: TimeInterval, chain: [TestPKI.Issued]? = nil) async -> VerificationOutcome {
        await verifier(tolerance: tolerance).verify(chain: (chain ?? [leaf]).map(\.der), at: time)
    }

    func testDefaultIsZero() {
        XCTAssertEqual(IdentityVerifier(bundles: []).clockSkewTolerance, 0)
    }

    /// RFC 5280 §4.1.2.5: notBefore through notAfter, inclusive; one second outside is refused.
    func testZeroToleranceBoundaries() async {
        assertVerified(await verify(at: notBefore, tolerance: 0))
        assertVerified(await verify(at: notAfter, tolerance: 0))
        assertRejected(await verify(at: notBefore.addingTimeInterval(-1), tolerance: 0), "validity.not-yet-valid")
        assertRejected(await verify(at: notAfter.addingTimeInterval(1), tolerance: 0), "validity.expired")
    }

    func testToleranceBoundaries() async {
        let tolerance: TimeInterval = 300
        assertVerified(await verify(at: notBefore.addingTimeInterval(-300), tolerance: tolerance))
        assertVerified(await verify(at: notAfter.addingTimeInterval(300), tolerance: tolerance))
        let early = await verify(at: notBefore.addingTimeInterval(-301), tolerance: tolerance)
        assertRejected(early, "validity.not-yet-valid")
        XCTAssertEqual(early.rejection, .notYetValid(position: 0, notBefore: notBefore))
        let late = await verify(at: notAfter.addingTimeInterval(301), tolerance: tolerance)
        assertRejected(late, "validity.expired")
        XCTAssertEqual(late.rejection, .expired(position: 0, notAfter: notAfter))
    }

    /// The tolerance applies to every certificate in the chain, not just the leaf.
    func testToleranceAppliesToIntermediates() async {
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let expiry = TestPKI.now.addingTimeInterval(-60)
        let intermediate = TestPKI.make(name: "I", key: key, issuer: root, extensions: TestPKI.caExtensions(key: key),
                                        notBefore: TestPKI.now.addingTimeInterval(-86400), notAfter: expiry)
        let chain = [TestPKI.leaf(under: intermediate), intermediate]
        assertVerified(await verify(at: TestPKI.now, tolerance: 60, chain: chain))
        let result = await verify(at: TestPKI.now, tolerance: 59, chain: chain)
        XCTAssertEqual(result.rejection, .expired(position: 1, notAfter: expiry))
    }

    /// No tolerance makes a certificate whose notAfter precedes its notBefore acceptable.
    func testInvertedValidityRefusedWhateverTheTolerance() async {
        let inverted = TestPKI.make(name: "leaf", issuer: root, extensions: TestPKI.leafExtensions(),
                                    notBefore: TestPKI.now.addingTimeInterval(10), notAfter: TestPKI.now.addingTimeInterval(-10))
        assertRejected(await verify(at: TestPKI.now, tolerance: 3600, chain: [inverted]), "rfc5280")
    }

    func testRecheckUsesTheTolerance() async throws {
        let identity = try unwrapIdentity(await verify(at: TestPKI.now, tolerance: 0))
        XCTAssertNil(verifier(tolerance: 120).recheck(identity, at: notAfter.addingTimeInterval(120)))
        XCTAssertEqual(verifier(tolerance: 120).recheck(identity, at: notAfter.addingTimeInterval(121))?.rule,
                       "validity.expired")
        XCTAssertNil(verifier(tolerance: 120).recheck(identity, at: notBefore.addingTimeInterval(-120)))
        XCTAssertEqual(verifier(tolerance: 120).recheck(identity, at: notBefore.addingTimeInterval(-121))?.rule,
                       "validity.not-yet-valid")
        XCTAssertEqual(verifier(tolerance: 0).recheck(identity, at: notAfter.addingTimeInterval(1))?.rule,
                       "validity.expired")
    }
}
