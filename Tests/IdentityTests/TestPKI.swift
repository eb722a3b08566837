import Crypto
import Foundation
import SwiftASN1
import X509
import XCTest

@testable import Identity

/// Builds certificates for tests, including ones that break exactly one rule, with
/// swift-certificates directly (FabricAuth's own CA never makes bad certificates).
enum TestPKI {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)

    struct Issued {
        let certificate: Certificate
        let key: Certificate.PrivateKey
        var der: [UInt8] { CertificateParsing.der(certificate) }
        var pem: String { CertificateParsing.pem(certificate) }
    }

    /// Extensions of a good CA certificate.
    static func caExtensions(
        key: Certificate.PrivateKey, trustDomain: String = "example.org", pathLength: Int? = nil
    ) -> [Certificate.Extension] {
        [
            try! Critical(BasicConstraints.isCertificateAuthority(maxPathLength: pathLength)).makeCertificateExtension(),
            try! Critical(KeyUsage(keyCertSign: true, cRLSign: true)).makeCertificateExtension(),
            try! SubjectAlternativeNames([.uniformResourceIdentifier("spiffe://\(trustDomain)")]).makeCertificateExtension(),
            try! SubjectKeyIdentifier(hash: key.publicKey).makeCertificateExtension(),
        ]
    }

    /// Extensions of a good leaf X.509-SVID.
    static func leafExtensions(uris: [String] = ["spiffe://example.org/ns/web"]) -> [Certificate.Extension] {
        [
            try! Critical(BasicConstraints.notCertificateAuthority).makeCertificateExtension(),
            try! Critical(KeyUsage(digitalSignature: true)).makeCertificateExtension(),
            try! SubjectAlternativeNames(uris.map { .uniformResourceIdentifier($0) }).makeCertificateExtension(),
        ]
    }

    static func make(
        name: String,
        key: Certificate.PrivateKey = Certificate.PrivateKey(Curve25519.Signing.PrivateKey()),
        issuer: Issued? = nil,
        extensions: [Certificate.Extension],
        notBefore: Date = now.addingTimeInterval(-3600),
        notAfter: Date = now.addingTimeInterval(3600),
        serial: [UInt8]? = nil
    ) -> Issued {
        let subject = try! DistinguishedName { CommonName(name) }
        let signer = issuer?.key ?? key
        let algorithm: Certificate.SignatureAlgorithm =
            Curve25519.Signing.PublicKey(signer.publicKey) != nil ? .ed25519 : .ecdsaWithSHA256
        let certificate = try! Certificate(
            version: .v3,
            serialNumber: serial.map { Certificate.SerialNumber(bytes: $0) } ?? Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: issuer?.certificate.subject ?? subject,
            subject: subject,
            signatureAlgorithm: algorithm,
            extensions: try! Certificate.Extensions(extensions),
            issuerPrivateKey: signer
        )
        return Issued(certificate: certificate, key: key)
    }

    /// A good root CA.
    static func root(_ name: String = "Root", trustDomain: String = "example.org", p256: Bool = false) -> Issued {
        let key = p256 ? Certificate.PrivateKey(P256.Signing.PrivateKey()) : Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        return make(name: name, key: key, extensions: caExtensions(key: key, trustDomain: trustDomain),
                    notBefore: now.addingTimeInterval(-86400), notAfter: now.addingTimeInterval(86400 * 365))
    }

    /// A good intermediate CA under `issuer`.
    static func intermediate(_ name: String = "Intermediate", under issuer: Issued) -> Issued {
        let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        return make(name: name, key: key, issuer: issuer, extensions: caExtensions(key: key),
                    notBefore: now.addingTimeInterval(-86400), notAfter: now.addingTimeInterval(86400 * 30))
    }

    /// A good leaf under `issuer`.
    static func leaf(
        _ id: String = "spiffe://example.org/ns/web", under issuer: Issued, p256: Bool = false
    ) -> Issued {
        let key = p256 ? Certificate.PrivateKey(P256.Signing.PrivateKey()) : Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        return make(name: "leaf", key: key, issuer: issuer, extensions: leafExtensions(uris: [id]))
    }

    static func verifier(_ anchors: [Issued], revocations: RevocationStore = RevocationStore(), trustDomain: String = "example.org") -> IdentityVerifier {
        IdentityVerifier(
            bundles: [try! TrustBundle(trustDomain: trustDomain, anchors: anchors.map(\.certificate))],
            revocations: revocations
        )
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "fabricauth-identity-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

// Assertion helpers taking the outcome as a plain argument, so call sites can `await`
// (XCTest's autoclosures cannot).

func assertRejected(_ result: VerificationOutcome, _ rule: String, file: StaticString = #filePath, line: UInt = #line) {
    guard case .rejected(let rejection) = result else {
        return XCTFail("expected rejection \(rule), got \(result)", file: file, line: line)
    }
    XCTAssertEqual(rejection.rule, rule, "\(rejection)", file: file, line: line)
    XCTAssertTrue(rejection.description.hasPrefix("[\(rule)]"), file: file, line: line)
}

func assertVerified(_ result: VerificationOutcome, file: StaticString = #filePath, line: UInt = #line) {
    if case .rejected(let rejection) = result {
        XCTFail("expected a verified identity, got \(rejection)", file: file, line: line)
    }
}

func unwrapIdentity(_ result: VerificationOutcome, file: StaticString = #filePath, line: UInt = #line) throws -> WorkloadIdentity {
    try XCTUnwrap(result.identity, "\(result)", file: file, line: line)
}
