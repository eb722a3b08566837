import Crypto
import Foundation
import SwiftASN1
import X509
import XCTest

@testable import Identity

/// X509-SVID §4.4: an extendedKeyUsage, when present, must allow both ends of FabricAuth's
/// symmetric handshake (id-kp-serverAuth and id-kp-clientAuth).
final class ExtendedKeyUsageTests: XCTestCase {
    let now = TestPKI.now

    func eku(_ usages: [ExtendedKeyUsage.Usage], critical: Bool = false) -> Certificate.Extension {
        try! Certificate.Extension(ExtendedKeyUsage(usages), critical: critical)
    }

    func leaf(under issuer: TestPKI.Issued, with extra: [Certificate.Extension]) -> TestPKI.Issued {
        TestPKI.make(name: "leaf", issuer: issuer, extensions: TestPKI.leafExtensions() + extra)
    }

    func verify(_ chain: [TestPKI.Issued], root: TestPKI.Issued) async -> VerificationOutcome {
        await TestPKI.verifier([root]).verify(chain: chain.map(\.der), at: now)
    }

    func assertMissing(_ result: VerificationOutcome, position: Int, _ missing: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        assertRejected(result, "svid.extended-key-usage", file: file, line: line)
        XCTAssertEqual(result.rejection, .extendedKeyUsageDisallowsRole(position: position, missing: missing),
                       file: file, line: line)
    }

    func testLeafWithoutEKUAccepted() async {
        let root = TestPKI.root()
        assertVerified(await verify([TestPKI.leaf(under: root)], root: root))
    }

    func testLeafWithServerAndClientAuthAccepted() async {
        let root = TestPKI.root()
        assertVerified(await verify([leaf(under: root, with: [eku([.serverAuth, .clientAuth])])], root: root))
        assertVerified(await verify(
            [leaf(under: root, with: [eku([.codeSigning, .clientAuth, .serverAuth])])], root: root))
    }

    /// §4.4: the extension "MAY be marked as critical"; swift-certificates' RFC5280Policy does not
    /// list it as understood, so this was refused as an unhandled critical extension before.
    func testLeafWithCriticalEKUAccepted() async {
        let root = TestPKI.root()
        assertVerified(await verify([leaf(under: root, with: [eku([.serverAuth, .clientAuth], critical: true)])],
                                    root: root))
    }

    func testLeafWithServerAuthOnlyRejected() async {
        let root = TestPKI.root()
        assertMissing(await verify([leaf(under: root, with: [eku([.serverAuth])])], root: root),
                      position: 0, ["id-kp-clientAuth"])
    }

    func testLeafWithClientAuthOnlyRejected() async {
        let root = TestPKI.root()
        assertMissing(await verify([leaf(under: root, with: [eku([.clientAuth], critical: true)])], root: root),
                      position: 0, ["id-kp-serverAuth"])
    }

    /// The leaf must name both purposes itself (§4.4 "MUST be set"); anyExtendedKeyUsage is not enough.
    func testLeafWithOnlyAnyOrUnrelatedPurposeRejected() async {
        let root = TestPKI.root()
        assertMissing(await verify([leaf(under: root, with: [eku([.any])])], root: root),
                      position: 0, ["id-kp-serverAuth", "id-kp-clientAuth"])
        assertMissing(await verify([leaf(under: root, with: [eku([.emailProtection])])], root: root),
                      position: 0, ["id-kp-serverAuth", "id-kp-clientAuth"])
    }

    func testUndecodableEKURejectedAsMalformed() async {
        let root = TestPKI.root()
        let garbage = Certificate.Extension(oid: .X509ExtensionID.extendedKeyUsage, critical: false, value: [0x05, 0x00])
        let result = await verify([leaf(under: root, with: [garbage])], root: root)
        assertRejected(result, "certificate.malformed")
    }

    /// A CA whose EKU allows only one purpose restricts everything below it.
    func testIntermediateRestrictedToServerAuthRejected() async {
        let root = TestPKI.root()
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let intermediate = TestPKI.make(name: "I", key: key, issuer: root,
                                        extensions: TestPKI.caExtensions(key: key) + [eku([.serverAuth], critical: true)])
        let result = await verify([TestPKI.leaf(under: intermediate), intermediate], root: root)
        assertMissing(result, position: 1, ["id-kp-clientAuth"])
    }

    func testIntermediateWithBothOrAnyAccepted() async {
        let root = TestPKI.root()
        for usages: [ExtendedKeyUsage.Usage] in [[.serverAuth, .clientAuth], [.any]] {
            let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
            let intermediate = TestPKI.make(name: "I", key: key, issuer: root,
                                            extensions: TestPKI.caExtensions(key: key) + [eku(usages)])
            assertVerified(await verify([TestPKI.leaf(under: intermediate), intermediate], root: root))
        }
    }

    func testTrustBundleRefusesRootRestrictedToOnePurpose() {
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let root = TestPKI.make(name: "R", key: key, extensions: TestPKI.caExtensions(key: key) + [eku([.clientAuth])])
        XCTAssertThrowsError(try TrustBundle(trustDomain: "example.org", anchors: [root.certificate])) { error in
            XCTAssertTrue("\(error)".contains("svid.extended-key-usage"), "\(error)")
        }
    }

    /// A CA restricted to one purpose could only issue leaves peers refuse: refused up front.
    func testCertificateAuthorityRefusesCARestrictedToOnePurpose() {
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let ca = TestPKI.make(name: "R", key: key, extensions: TestPKI.caExtensions(key: key) + [eku([.serverAuth])])
        XCTAssertThrowsError(try CertificateAuthority(certificate: ca.certificate, privateKey: key)) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .invalidCACertificate)
            XCTAssertTrue("\(error)".contains("svid.extended-key-usage"), "\(error)")
        }
    }

    /// FabricAuth's own CA (`fabricauth cert issue`) sets both purposes, so its leaves pass.
    func testCertificateAuthorityLeavesCarryBothPurposesAndVerify() async throws {
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: now)
        let (chain, _) = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"), now: now)
        let usages = try XCTUnwrap(chain[0].extensions.extendedKeyUsage)
        XCTAssertTrue(usages.contains(.serverAuth) && usages.contains(.clientAuth), "\(usages)")
        XCTAssertEqual(chain[0].extensions[oid: .X509ExtensionID.extendedKeyUsage]?.critical, false)
        XCTAssertNil(try authority.certificate.extensions.extendedKeyUsage, "CA certificates carry no EKU")
        let verifier = IdentityVerifier(bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])])
        assertVerified(await verifier.verify(chain: chain.map(CertificateParsing.der), at: now))
    }

    func testInspectReportsTheRule() {
        let root = TestPKI.root()
        let bad = leaf(under: root, with: [eku([.serverAuth])])
        XCTAssertEqual(CertificateReport.profileProblem([bad.certificate])?.rule, "svid.extended-key-usage")
        XCTAssertTrue(CertificateReport.describe([bad.certificate])[0].contains("ext. key usage: serverAuth"))
    }
}
