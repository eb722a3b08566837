import Crypto
import Foundation
import X509
import XCTest

@testable import Identity

final class CredentialTests: XCTestCase {
    func code(_ body: () throws -> Void) -> IdentityError.Code? {
        do {
            try body()
            return nil
        } catch let error as IdentityError {
            return error.code
        } catch {
            XCTFail("unexpected error type \(error)")
            return nil
        }
    }

    func testLoadFromFilesAndMismatch() throws {
        let dir = TestPKI.temporaryDirectory()
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let other = TestPKI.leaf(under: root)
        try leaf.pem.write(toFile: dir + "/leaf.pem", atomically: true, encoding: .utf8)
        // 0600: key files others can read are refused (PrivateKeyFileTests).
        try SecureFile.write(PrivateKeyFile.pem(leaf.key), to: dir + "/leaf.key", mode: 0o600, force: false)
        try SecureFile.write(PrivateKeyFile.pem(other.key), to: dir + "/other.key", mode: 0o600, force: false)
        let credential = try Credential(certificatePath: dir + "/leaf.pem", keyPath: dir + "/leaf.key")
        XCTAssertEqual(credential.spiffeID.description, "spiffe://example.org/ns/web")
        XCTAssertEqual(credential.chainDER, [leaf.der])
        XCTAssertEqual(code { _ = try Credential(certificatePath: dir + "/leaf.pem", keyPath: dir + "/other.key") }, .keyMismatch)
        XCTAssertEqual(code { _ = try Credential(certificatePath: dir + "/missing.pem", keyPath: dir + "/leaf.key") }, .io)
    }

    func testP256SEC1KeyLoads() throws {
        let root = TestPKI.root()
        let p256 = P256.Signing.PrivateKey()
        let leaf = TestPKI.make(name: "l", key: Certificate.PrivateKey(p256), issuer: root, extensions: TestPKI.leafExtensions())
        let sec1 = p256.pemRepresentation  // "EC PRIVATE KEY"... or PKCS#8, depending on swift-crypto
        let credential = try Credential(certificatePEM: Array(leaf.pem.utf8), keyPEM: Array(sec1.utf8))
        XCTAssertEqual(credential.signatureScheme, .ecdsaP256SHA256)
    }

    func testBadInputsGetSpecificErrors() {
        let root = TestPKI.root()
        let leaf = TestPKI.leaf(under: root)
        let certPEM = Array(leaf.pem.utf8)
        let keyPEM = Array(try! PrivateKeyFile.pem(leaf.key).utf8)
        func load(_ cert: [UInt8], _ key: [UInt8]) -> IdentityError.Code? {
            code { _ = try Credential(certificatePEM: cert, keyPEM: key) }
        }
        XCTAssertEqual(load([], keyPEM), .empty)
        XCTAssertEqual(load(certPEM, []), .empty)
        // Truncated PEM: BEGIN without END.
        XCTAssertEqual(load(Array(certPEM.prefix(certPEM.count / 2)), keyPEM), .malformedPEM)
        XCTAssertEqual(load(certPEM, Array(keyPEM.prefix(40))), .malformedPEM)
        // Corrupted base64 body.
        var corrupt = leaf.pem
        corrupt = corrupt.replacingOccurrences(of: "\n", with: "\n!", options: [], range: corrupt.range(of: "\n"))
        XCTAssertEqual(load(Array(corrupt.utf8), keyPEM), .malformedPEM)
        // Valid PEM wrapping garbage DER.
        let garbage = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n"
        XCTAssertEqual(load(Array(garbage.utf8), keyPEM), .malformedDER)
        // Truncated DER.
        XCTAssertEqual(load(Array(leaf.der.prefix(100)), keyPEM), .malformedDER)
        // Binary junk that is neither DER nor UTF-8.
        XCTAssertEqual(load([0xFF, 0xFE, 0x00, 0x80], keyPEM), .malformedPEM)
        // Key file holding a certificate, not a key.
        XCTAssertEqual(load(certPEM, certPEM), .empty)
        // Two keys in one file.
        XCTAssertEqual(load(certPEM, keyPEM + keyPEM), .malformedPEM)
        // Unsupported key types.
        let p384 = Array(P384.Signing.PrivateKey().pemRepresentation.utf8)
        XCTAssertEqual(load(certPEM, p384), .unsupportedKeyType)
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        XCTAssertEqual(load(certPEM, Array(encrypted.utf8)), .unsupportedKeyType)
        // Leaf without a SPIFFE ID.
        var extensions = TestPKI.leafExtensions()
        extensions.remove(at: 2)
        let noSAN = TestPKI.make(name: "l", key: leaf.key, issuer: root, extensions: extensions)
        XCTAssertEqual(load(Array(noSAN.pem.utf8), keyPEM), .invalidSPIFFEID)
    }

    func testCertificateAuthorityIssuesValidSVIDs() async throws {
        let now = Date()
        let (ca, _) = try CertificateAuthority.create(trustDomain: "example.org", keyType: .p256, now: now)
        let (intermediate, _) = try ca.issueIntermediate(ttl: 30 * 86400, now: now)
        let (chain, key) = try intermediate.issue(id: SPIFFEID("spiffe://example.org/ns/db"), ttl: 3600, now: now)
        XCTAssertEqual(chain.count, 2, "leaf + intermediate, root left out")
        let credential = try Credential(chain: chain, privateKey: key)
        let verifier = IdentityVerifier(bundles: [try TrustBundle(trustDomain: "example.org", anchors: [ca.certificate])])
        let identity = try unwrapIdentity(await verifier.verify(chain: credential.chainDER, at: now))
        XCTAssertEqual(identity.spiffeID.path, "/ns/db")
        XCTAssertNil(CertificateReport.profileProblem(chain))
        XCTAssertNil(CertificateReport.profileProblem([ca.certificate]))
        // Refusals.
        XCTAssertThrowsError(try ca.issue(id: SPIFFEID("spiffe://other.org/x"), ttl: 3600, now: now))
        XCTAssertThrowsError(try ca.issue(id: SPIFFEID("spiffe://example.org"), ttl: 3600, now: now))
        XCTAssertThrowsError(try ca.issue(id: SPIFFEID("spiffe://example.org/x"), ttl: 400 * 86400, now: now)) { error in
            XCTAssertEqual((error as! IdentityError).code, .issuance)
        }
        // A leaf certificate cannot act as a CA.
        XCTAssertThrowsError(try CertificateAuthority(certificate: chain[0], privateKey: key)) { error in
            XCTAssertEqual((error as! IdentityError).code, .invalidCACertificate)
        }
    }

    func testSecureFileModeAndNoOverwrite() throws {
        let dir = TestPKI.temporaryDirectory()
        let path = dir + "/secret.key"
        let oldMask = umask(0)
        defer { umask(oldMask) }
        try SecureFile.write("one", to: path, mode: 0o600, force: false)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
        XCTAssertEqual(mode, 0o600)
        XCTAssertThrowsError(try SecureFile.write("two", to: path, mode: 0o600, force: false)) { error in
            XCTAssertEqual((error as! IdentityError).code, .fileExists)
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "one")
        try SecureFile.write("two", to: path, mode: 0o600, force: true)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "two")
        let forcedMode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
        XCTAssertEqual(forcedMode, 0o600)
    }
}
