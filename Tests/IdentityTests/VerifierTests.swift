import Crypto
import Foundation
import SwiftASN1
import X509
import XCTest

@testable import Identity

final class VerifierTests: XCTestCase {
    let now = TestPKI.now

    func verify(_ chain: [TestPKI.Issued], anchors: [TestPKI.Issued], revocations: RevocationStore = RevocationStore(),
                at time: Date? = nil) async -> VerificationOutcome {
        await TestPKI.verifier(anchors, revocations: revocations).verify(chain: chain.map(\.der), at: time ?? now)
    }

    func testHappyPathEd25519() async throws {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let result = await verify([leaf], anchors: [root])
        let identity = try XCTUnwrap(result.identity, "\(result)")
        XCTAssertEqual(identity.spiffeID.description, "spiffe://example.org/ns/web")
        XCTAssertEqual(identity.leafFingerprint, Fingerprint(der: leaf.der))
        XCTAssertEqual(identity.chainFingerprints, [Fingerprint(der: leaf.der), Fingerprint(der: root.der)])
        XCTAssertEqual(identity.notAfter, leaf.certificate.notValidAfter)
        XCTAssertEqual(identity.publicKey.scheme, .ed25519)
    }

    func testHappyPathP256WithIntermediateAndCredentialSignature() async throws {
        let root = TestPKI.root(p256: true)
        let intermediate = TestPKI.intermediate(under: root)
        let leaf = TestPKI.leaf(under: intermediate, p256: true)
        let credential = try Credential(chain: [leaf.certificate, intermediate.certificate], privateKey: leaf.key)
        XCTAssertEqual(credential.signatureScheme, .ecdsaP256SHA256)
        let result = await TestPKI.verifier([root]).verify(chain: credential.chainDER, at: now)
        let identity = try XCTUnwrap(result.identity, "\(result)")
        XCTAssertEqual(identity.chainFingerprints.count, 3)
        XCTAssertEqual(identity.notAfter, min(leaf.certificate.notValidAfter, intermediate.certificate.notValidAfter))
        let transcript = Array("handshake transcript".utf8)
        let signature = credential.sign(transcript)
        XCTAssertTrue(identity.publicKey.isValidSignature(signature, for: transcript))
        XCTAssertFalse(identity.publicKey.isValidSignature(signature, for: transcript + [0]))
    }

    func testEd25519CredentialSignatureRoundTrip() async throws {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let credential = try Credential(certificatePEM: Array(leaf.pem.utf8), keyPEM: Array(PrivateKeyFile.pem(leaf.key).utf8))
        XCTAssertEqual(credential.signatureScheme, .ed25519)
        let signature = credential.sign([1, 2, 3])
        XCTAssertEqual(signature.count, 64)
        let identity = try unwrapIdentity(await verify([leaf], anchors: [root]))
        XCTAssertTrue(identity.publicKey.isValidSignature(signature, for: [1, 2, 3]))
        var tampered = signature
        tampered[0] ^= 1
        XCTAssertFalse(identity.publicKey.isValidSignature(tampered, for: [1, 2, 3]))
    }

    func testExpiredAndNotYetValid() async {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        assertRejected(await verify([leaf], anchors: [root], at: now.addingTimeInterval(7200)), "validity.expired")
        assertRejected(await verify([leaf], anchors: [root], at: now.addingTimeInterval(-7200)), "validity.not-yet-valid")
    }

    /// An expired intermediate expires everything under it.
    func testExpiredIntermediate() async {
        let root = TestPKI.root()
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let intermediate = TestPKI.make(name: "I", key: key, issuer: root, extensions: TestPKI.caExtensions(key: key),
                                        notBefore: now.addingTimeInterval(-86400), notAfter: now.addingTimeInterval(-10))
        let leaf = TestPKI.leaf(under: intermediate)
        let result = await verify([leaf, intermediate], anchors: [root])
        assertRejected(result, "validity.expired")
        XCTAssertEqual(result.rejection, .expired(position: 1, notAfter: intermediate.certificate.notValidAfter))
    }

    func testWrongTrustDomain() async {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf("spiffe://evil.org/ns/web", under: root)
        assertRejected(await verify([leaf], anchors: [root]), "svid.trust-domain")
    }

    func testUntrustedCA() async {
        let root = TestPKI.root()
        let other = TestPKI.root("Other")
        assertRejected(await verify([TestPKI.leaf(under: other)], anchors: [root]), "chain.untrusted")
        // Same subject name as the trusted root, different key: the signature check fails.
        let impostor = TestPKI.root("Root")
        assertRejected(await verify([TestPKI.leaf(under: impostor)], anchors: [root]), "chain.untrusted")
    }

    func testSANRules() async {
        let root = TestPKI.root()
        func leaf(_ uris: [String], extra: [GeneralName] = []) -> TestPKI.Issued {
            var extensions = TestPKI.leafExtensions(uris: uris)
            extensions[2] = try! SubjectAlternativeNames(uris.map { .uniformResourceIdentifier($0) } + extra)
                .makeCertificateExtension()
            return TestPKI.make(name: "leaf", issuer: root, extensions: extensions)
        }
        assertRejected(await verify([leaf([])], anchors: [root]), "svid.uri-san-missing")
        assertRejected(await verify([leaf([], extra: [.dnsName("web.example.org")])], anchors: [root]), "svid.uri-san-missing")
        assertRejected(
            await verify([leaf(["spiffe://example.org/a", "spiffe://example.org/b"])], anchors: [root]), "svid.uri-san-duplicated")
        assertRejected(await verify([leaf(["spiffe://example.org"])], anchors: [root]), "svid.spiffe-id")
        assertRejected(await verify([leaf(["https://example.org/a"])], anchors: [root]), "svid.spiffe-id")
        // A DNS SAN next to the one URI SAN is allowed (X509-SVID §2 constrains URI SANs only).
        assertVerified(await verify([leaf(["spiffe://example.org/a"], extra: [.dnsName("a.example.org")])], anchors: [root]))
        // No SAN extension at all.
        var noSAN = TestPKI.leafExtensions()
        noSAN.remove(at: 2)
        assertRejected(await verify([TestPKI.make(name: "leaf", issuer: root, extensions: noSAN)], anchors: [root]), "svid.uri-san-missing")
    }

    func testLeafKeyUsageAndCARules() async {
        let root = TestPKI.root()
        func leaf(_ replace: (inout [Certificate.Extension]) -> Void) -> TestPKI.Issued {
            var extensions = TestPKI.leafExtensions()
            replace(&extensions)
            return TestPKI.make(name: "leaf", issuer: root, extensions: extensions)
        }
        assertRejected(await verify([leaf { $0.remove(at: 1) }], anchors: [root]), "svid.key-usage-missing")
        assertRejected(await verify([leaf { $0[1] = try! KeyUsage(digitalSignature: true).makeCertificateExtension() }], anchors: [root]),
                       "svid.key-usage-not-critical")
        assertRejected(await verify([leaf { $0[1] = try! Critical(KeyUsage(keyEncipherment: true)).makeCertificateExtension() }], anchors: [root]),
                       "svid.leaf-digital-signature")
        assertRejected(await verify([leaf { $0[1] = try! Critical(KeyUsage(digitalSignature: true, keyCertSign: true)).makeCertificateExtension() }], anchors: [root]),
                       "svid.leaf-cert-sign")
        assertRejected(await verify([leaf { $0[1] = try! Critical(KeyUsage(digitalSignature: true, cRLSign: true)).makeCertificateExtension() }], anchors: [root]),
                       "svid.leaf-cert-sign")
        assertRejected(await verify([leaf { $0[0] = try! Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil)).makeCertificateExtension() }], anchors: [root]),
                       "svid.leaf-is-ca")
        // basicConstraints absent means not a CA (RFC 5280 §4.2.1.9): accepted.
        assertVerified(await verify([leaf { $0.remove(at: 0) }], anchors: [root]))
    }

    func testSigningCertificateRules() async {
        let root = TestPKI.root()
        func intermediate(_ replace: (inout [Certificate.Extension]) -> Void) -> TestPKI.Issued {
            let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
            var extensions = TestPKI.caExtensions(key: key)
            replace(&extensions)
            return TestPKI.make(name: "I", key: key, issuer: root, extensions: extensions)
        }
        let noCertSign = intermediate { $0[1] = try! Critical(KeyUsage(digitalSignature: true)).makeCertificateExtension() }
        assertRejected(await verify([TestPKI.leaf(under: noCertSign), noCertSign], anchors: [root]), "svid.signing-key-cert-sign")
        let noKeyUsage = intermediate { $0.remove(at: 1) }
        let result = await verify([TestPKI.leaf(under: noKeyUsage), noKeyUsage], anchors: [root])
        assertRejected(result, "svid.key-usage-missing")
        XCTAssertEqual(result.rejection, .keyUsageMissing(position: 1))
        let notCritical = intermediate { $0[1] = try! KeyUsage(keyCertSign: true).makeCertificateExtension() }
        assertRejected(await verify([TestPKI.leaf(under: notCritical), notCritical], anchors: [root]), "svid.key-usage-not-critical")
    }

    func testBundleRefusesNonCAs() {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        XCTAssertThrowsError(try TrustBundle(trustDomain: "example.org", anchors: [leaf.certificate])) { error in
            XCTAssertEqual((error as! IdentityError).code, .invalidCACertificate)
            XCTAssertTrue((error as! IdentityError).message.contains("svid.signing-not-ca"))
        }
        XCTAssertThrowsError(try TrustBundle(trustDomain: "example.org", anchors: [])) { error in
            XCTAssertEqual((error as! IdentityError).code, .empty)
        }
        XCTAssertThrowsError(try TrustBundle(trustDomain: "Bad Domain", anchors: [root.certificate])) { error in
            XCTAssertEqual((error as! IdentityError).code, .invalidSPIFFEID)
        }
    }

    func testUnsupportedKeyType() async {
        let root = TestPKI.root()
        let key = Certificate.PrivateKey(P384.Signing.PrivateKey())
        let leaf = TestPKI.make(name: "leaf", key: key, issuer: root, extensions: TestPKI.leafExtensions())
        let result = await verify([leaf], anchors: [root])
        assertRejected(result, "key.unsupported-type")
        XCTAssertTrue(result.rejection!.description.contains("P-384"))
    }

    func testChainShape() async {
        let root = TestPKI.root()
        assertRejected(await TestPKI.verifier([root]).verify(chain: [], at: now), "chain.empty")
        let leaf = TestPKI.leaf(under: root)
        // Presented chain longer than the limit.
        let six = Array(repeating: leaf.der, count: 6)
        assertRejected(await TestPKI.verifier([root]).verify(chain: six, at: now), "chain.too-long")
        // A repeated certificate is a loop.
        let intermediate = TestPKI.intermediate(under: root)
        let leaf2 = TestPKI.leaf(under: intermediate)
        let looped = await TestPKI.verifier([root]).verify(chain: [leaf2.der, intermediate.der, intermediate.der], at: now)
        assertRejected(looped, "chain.loop")
        XCTAssertEqual(looped.rejection, .chainLoop(position: 2))
        // A built chain longer than the limit: root -> i1 -> i2 -> i3 -> leaf with maximum 4.
        let i1 = TestPKI.intermediate("I1", under: root)
        let i2 = TestPKI.intermediate("I2", under: i1)
        let i3 = TestPKI.intermediate("I3", under: i2)
        let deep = TestPKI.leaf(under: i3)
        let verifier = IdentityVerifier(
            bundles: [try! TrustBundle(trustDomain: "example.org", anchors: [root.certificate])], maximumChainLength: 4
        )
        let result = await verifier.verify(chain: [deep.der, i3.der, i2.der, i1.der], at: now)
        XCTAssertEqual(result.rejection, .chainTooLong(length: 5, maximum: 4))
        assertVerified(await TestPKI.verifier([root]).verify(chain: [deep.der, i3.der, i2.der, i1.der], at: now))
    }

    func testPathLengthConstraintIsEnforcedByRFC5280Policy() async {
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let root = TestPKI.make(name: "Root", key: key, extensions: TestPKI.caExtensions(key: key, pathLength: 0),
                                notBefore: now.addingTimeInterval(-86400), notAfter: now.addingTimeInterval(86400))
        let intermediate = TestPKI.intermediate(under: root)
        let result = await verify([TestPKI.leaf(under: intermediate), intermediate], anchors: [root])
        assertRejected(result, "rfc5280")
    }

    func testMalformedAndDuplicateExtension() async {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let truncated = Array(leaf.der.prefix(leaf.der.count - 10))
        let result = await TestPKI.verifier([root]).verify(chain: [truncated], at: now)
        assertRejected(result, "certificate.malformed")
        // Duplicate SAN extension: build the TBS by hand since Extensions refuses duplicates.
        let san = TestPKI.leafExtensions()[2]
        var serializer = DER.Serializer()
        try! serializer.serialize(FakeCertificate(base: leaf.certificate, extraExtension: san))
        let duplicate = serializer.serializedBytes
        let dupResult = await TestPKI.verifier([root]).verify(chain: [duplicate], at: now)
        guard case .malformedCertificate(_, let error) = dupResult.rejection else {
            return XCTFail("\(dupResult)")
        }
        XCTAssertEqual(error.code, IdentityError.Code.duplicateExtension, "\(error)")
    }

    func testRevocationOfLeafIntermediateAndRootAndSerial() async throws {
        let root = TestPKI.root()
        let intermediate = TestPKI.intermediate(under: root)
        let leaf = TestPKI.leaf(under: intermediate)
        let other = TestPKI.leaf("spiffe://example.org/ns/other", under: root)
        for (revoked, position) in [(leaf, 0), (intermediate, 1), (root, 2)] {
            var list = RevocationList()
            list.add(fingerprint: Fingerprint(der: revoked.der))
            let result = await verify([leaf, intermediate], anchors: [root], revocations: RevocationStore(list: list))
            assertRejected(result, "revocation.revoked")
            if case .revoked(let at, _, _) = result.rejection { XCTAssertEqual(at, position) } else { XCTFail() }
        }
        // Revoking the intermediate leaves certificates issued directly by the root alone.
        var list = RevocationList()
        list.add(fingerprint: Fingerprint(der: intermediate.der))
        assertVerified(await verify([other], anchors: [root], revocations: RevocationStore(list: list)))
        // By serial, as openssl prints it (uppercase hex, with a leading 00 byte tolerated).
        let serialHex = Hex.encode(leaf.certificate.serialNumber.bytes).uppercased()
        let bySerial = try RevocationList(text: "serial:00\(serialHex)  # compromised\n")
        assertRejected(await verify([leaf, intermediate], anchors: [root], revocations: RevocationStore(list: bySerial)), "revocation.revoked")
    }

    func testCARolloverOldAndNewTrustedThenOldRemoved() async throws {
        let oldCA = TestPKI.root("Old CA")
        let newCA = TestPKI.root("New CA")
        let oldLeaf = TestPKI.leaf(under: oldCA)
        let newLeaf = TestPKI.leaf(under: newCA)
        // Phase 1: only the old CA.
        assertVerified(await verify([oldLeaf], anchors: [oldCA]))
        assertRejected(await verify([newLeaf], anchors: [oldCA]), "chain.untrusted")
        // Phase 2: both trusted (one bundle from one PEM with both CAs).
        let both = try TrustBundle(trustDomain: "example.org", pem: Array((oldCA.pem + newCA.pem).utf8))
        let during = IdentityVerifier(bundles: [both])
        let oldIdentity = try unwrapIdentity(await during.verify(chain: [oldLeaf.der], at: now))
        assertVerified(await during.verify(chain: [newLeaf.der], at: now))
        // Phase 3: old removed; sessions verified under it fail their recheck.
        let after = TestPKI.verifier([newCA])
        assertRejected(await after.verify(chain: [oldLeaf.der], at: now), "chain.untrusted")
        assertVerified(await after.verify(chain: [newLeaf.der], at: now))
        XCTAssertNil(during.recheck(oldIdentity, at: now))
        XCTAssertEqual(after.recheck(oldIdentity, at: now), .anchorRemoved(Fingerprint(der: oldCA.der)))
        // Two bundles for the same domain are merged.
        let merged = IdentityVerifier(bundles: [
            try TrustBundle(trustDomain: "example.org", anchors: [oldCA.certificate]),
            try TrustBundle(trustDomain: "example.org", anchors: [newCA.certificate]),
        ])
        assertVerified(await merged.verify(chain: [oldLeaf.der], at: now))
        assertVerified(await merged.verify(chain: [newLeaf.der], at: now))
    }

    func testSeveralTrustDomains() async throws {
        let a = TestPKI.root("A", trustDomain: "a.org")
        let b = TestPKI.root("B", trustDomain: "b.org")
        let verifier = IdentityVerifier(bundles: [
            try TrustBundle(trustDomain: "a.org", anchors: [a.certificate]),
            try TrustBundle(trustDomain: "b.org", anchors: [b.certificate]),
        ])
        assertVerified(await verifier.verify(chain: [TestPKI.leaf("spiffe://a.org/w", under: a).der], at: now))
        // b.org's CA cannot vouch for an a.org ID (X509-SVID §5).
        let crossed = await verifier.verify(chain: [TestPKI.leaf("spiffe://a.org/w", under: b).der], at: now)
        assertRejected(crossed, "chain.untrusted")
    }

    func testRecheckForEstablishedSessions() async throws {
        let dir = TestPKI.temporaryDirectory()
        let path = dir + "/revoked.txt"
        try "# empty\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try RevocationStore(path: path)
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let verifier = TestPKI.verifier([root], revocations: store)
        let identity = try unwrapIdentity(await verifier.verify(chain: [leaf.der], at: now))
        XCTAssertNil(verifier.recheck(identity, at: now))
        XCTAssertEqual(verifier.recheck(identity, at: now.addingTimeInterval(7200))?.rule, "validity.expired")
        XCTAssertEqual(verifier.recheck(identity, at: now.addingTimeInterval(-7200))?.rule, "validity.not-yet-valid")
        // The root is revoked in the file; after reload the established session fails its recheck.
        try "sha256:\(Fingerprint(der: root.der))\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertNil(verifier.recheck(identity, at: now), "not reloaded yet")
        try store.reload()
        XCTAssertEqual(store.reloadCount, 1)
        XCTAssertEqual(verifier.recheck(identity, at: now)?.rule, "revocation.revoked")
        assertRejected(await verifier.verify(chain: [leaf.der], at: now), "revocation.revoked")
    }
}

/// A certificate re-encoded with one extension repeated, to test RFC 5280 §4.2's
/// one-instance rule (swift-certificates will not build such a certificate).
struct FakeCertificate: DERSerializable {
    let base: Certificate
    let extraExtension: Certificate.Extension

    func serialize(into coder: inout DER.Serializer) throws {
        let original = try DER.parse(CertificateParsing.der(base))
        guard case .constructed(let parts) = original.content else { fatalError() }
        let nodes = Array(parts)
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            // tbsCertificate: copy every field, appending the extension inside [3] Extensions.
            guard case .constructed(let tbsParts) = nodes[0].content else { fatalError() }
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                for node in tbsParts {
                    if node.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific),
                        case .constructed(let inner) = node.content, let sequence = Array(inner).first,
                        case .constructed(let extensions) = sequence.content
                    {
                        try coder.appendConstructedNode(identifier: node.identifier) { coder in
                            try coder.appendConstructedNode(identifier: .sequence) { coder in
                                for ext in extensions { coder.serializeRawBytes(ext.encodedBytes) }
                                try coder.serialize(extraExtension)
                            }
                        }
                    } else {
                        coder.serializeRawBytes(node.encodedBytes)
                    }
                }
            }
            coder.serializeRawBytes(nodes[1].encodedBytes)
            coder.serializeRawBytes(nodes[2].encodedBytes)
        }
    }
}
