import Foundation
import XCTest

@testable import Identity

/// Interoperability with an existing PKI: the openssl CLI makes the CA and leaves, FabricAuth
/// must accept the good ones and reject each variant that breaks one X.509-SVID rule, naming it.
final class OpenSSLInteropTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = TestPKI.temporaryDirectory()
    }

    @discardableResult
    func openssl(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "openssl \(arguments.joined(separator: " ")): \(text)", file: file, line: line)
        return text
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    func read(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
    }

    /// An Ed25519 root CA made by openssl, with the extensions X509-SVID §4 asks of signing certificates.
    func makeCA(_ name: String = "ca", keyUsage: String? = "critical,keyCertSign,cRLSign") throws {
        try openssl(["genpkey", "-algorithm", "ed25519", "-out", "\(name).key"])
        var arguments = ["req", "-x509", "-new", "-key", "\(name).key", "-subj", "/CN=OpenSSL \(name)", "-days", "30",
                         "-addext", "basicConstraints=critical,CA:TRUE",
                         "-addext", "subjectAltName=URI:spiffe://example.org", "-out", "\(name).pem"]
        if let keyUsage { arguments += ["-addext", "keyUsage=\(keyUsage)"] }
        try openssl(arguments)
    }

    /// A leaf signed by `ca` with the given extension lines; returns its PEM.
    func makeLeaf(_ name: String, ca: String = "ca", keyAlgorithm: [String] = ["-algorithm", "ed25519"],
                  extensions: [String]) throws -> [UInt8] {
        try openssl(["genpkey"] + keyAlgorithm + ["-out", "\(name).key"])
        try openssl(["req", "-new", "-key", "\(name).key", "-subj", "/O=Test/CN=\(name)", "-out", "\(name).csr"])
        try write("\(name).cnf", "[v3]\n" + extensions.joined(separator: "\n") + "\n")
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-set_serial",
                     "0x\(Int.random(in: 1..<Int.max))", "-days", "1", "-extfile", "\(name).cnf", "-extensions", "v3",
                     "-out", "\(name).pem"])
        return try read("\(name).pem")
    }

    let good = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "subjectAltName=URI:spiffe://example.org/ns/web",
    ]

    func verifier(_ bundles: [String] = ["ca.pem"]) throws -> IdentityVerifier {
        IdentityVerifier(bundles: [try TrustBundle(trustDomain: nil, paths: bundles.map { dir + "/" + $0 })])
    }

    func verify(_ pem: [UInt8], with verifier: IdentityVerifier, at time: Date = Date()) async throws -> VerificationOutcome {
        let chain = try PEMFile.derBlocks(in: pem, label: "CERTIFICATE")
        return await verifier.verify(chain: chain, at: time)
    }

    func testOpenSSLMadeSVIDIsAcceptedAndCredentialLoads() async throws {
        try makeCA()
        let pem = try makeLeaf("web", extensions: good)
        let result = try await verify(pem, with: verifier())
        let identity = try XCTUnwrap(result.identity, "\(result)")
        XCTAssertEqual(identity.spiffeID.description, "spiffe://example.org/ns/web")
        // Our fingerprint is openssl's SHA-256 fingerprint.
        let printed = try openssl(["x509", "-in", "web.pem", "-noout", "-fingerprint", "-sha256"])
        let hex = printed.split(separator: "=").last!.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try Fingerprint(hex: hex), identity.leafFingerprint)
        // The openssl key loads as a credential and its signatures verify with the peer key.
        let credential = try Credential(certificatePath: dir + "/web.pem", keyPath: dir + "/web.key")
        XCTAssertTrue(identity.publicKey.isValidSignature(credential.sign([9, 9]), for: [9, 9]))
        // And openssl's serial revokes it.
        let serial = try openssl(["x509", "-in", "web.pem", "-noout", "-serial"])
        let list = try RevocationList(text: serial.replacingOccurrences(of: "serial=", with: "serial:"))
        let revoked = IdentityVerifier(bundles: Array(try verifier().bundles.values), revocations: RevocationStore(list: list))
        assertRejected(try await verify(pem, with: revoked), "revocation.revoked")
        // Expired one day later.
        assertRejected(try await verify(pem, with: verifier(), at: Date().addingTimeInterval(2 * 86400)), "validity.expired")
    }

    /// X509-SVID §4.4 as openssl writes it: both purposes, critical, is a good SVID.
    func testOpenSSLLeafWithCriticalServerAndClientAuthAccepted() async throws {
        try makeCA()
        let pem = try makeLeaf("eku", extensions: good + ["extendedKeyUsage=critical,serverAuth,clientAuth"])
        assertVerified(try await verify(pem, with: verifier()))
        XCTAssertNil(CertificateReport.profileProblem(try CertificateParsing.certificates(pemOrDER: pem)))
    }

    func testOpenSSLP256LeafWithSEC1KeyAndIntermediate() async throws {
        try makeCA()
        // Intermediate CA made by openssl.
        try openssl(["genpkey", "-algorithm", "ed25519", "-out", "int.key"])
        try openssl(["req", "-new", "-key", "int.key", "-subj", "/CN=OpenSSL intermediate", "-out", "int.csr"])
        try write("int.cnf", "[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n")
        try openssl(["x509", "-req", "-in", "int.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "7", "-days", "5",
                     "-extfile", "int.cnf", "-extensions", "v3", "-out", "int.pem"])
        // P-256 leaf with a SEC1 "EC PRIVATE KEY".
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "db.key"])
        try openssl(["req", "-new", "-key", "db.key", "-subj", "/CN=db", "-out", "db.csr"])
        try write("db.cnf", "[v3]\n" + good.joined(separator: "\n").replacingOccurrences(of: "ns/web", with: "ns/db") + "\n")
        try openssl(["x509", "-req", "-in", "db.csr", "-CA", "int.pem", "-CAkey", "int.key", "-set_serial", "8", "-days", "1",
                     "-extfile", "db.cnf", "-extensions", "v3", "-out", "db.pem"])
        let chainPEM = try read("db.pem") + read("int.pem")
        let identity = try unwrapIdentity(try await verify(chainPEM, with: verifier()))
        XCTAssertEqual(identity.publicKey.scheme, .ecdsaP256SHA256)
        XCTAssertEqual(identity.chainFingerprints.count, 3)
        let credential = try Credential(certificatePEM: chainPEM, keyPEM: read("db.key"))
        XCTAssertTrue(identity.publicKey.isValidSignature(credential.sign([1]), for: [1]))
        // Without the intermediate there is no path.
        assertRejected(try await verify(try read("db.pem"), with: verifier()), "chain.untrusted")
        // A key from another openssl leaf does not match.
        _ = try makeLeaf("other", extensions: good)
        XCTAssertThrowsError(try Credential(certificatePEM: chainPEM, keyPEM: read("other.key"))) { error in
            XCTAssertEqual((error as! IdentityError).code, .keyMismatch)
        }
    }

    func testOpenSSLVariantsBreakingOneRuleEach() async throws {
        try makeCA()
        let verifier = try verifier()
        func replacing(_ prefix: String, with line: String?) -> [String] {
            good.compactMap { $0.hasPrefix(prefix) ? line : $0 }
        }
        let variants: [(String, [String], String)] = [
            ("nosan", replacing("subjectAltName", with: nil), "svid.uri-san-missing"),
            ("dnsonly", replacing("subjectAltName", with: "subjectAltName=DNS:web.example.org"), "svid.uri-san-missing"),
            ("twouri", replacing("subjectAltName", with: "subjectAltName=URI:spiffe://example.org/a,URI:spiffe://example.org/b"), "svid.uri-san-duplicated"),
            ("https", replacing("subjectAltName", with: "subjectAltName=URI:https://example.org/web"), "svid.spiffe-id"),
            ("rootpath", replacing("subjectAltName", with: "subjectAltName=URI:spiffe://example.org"), "svid.spiffe-id"),
            ("badpath", replacing("subjectAltName", with: "subjectAltName=URI:spiffe://example.org/a/../b"), "svid.spiffe-id"),
            ("otherdomain", replacing("subjectAltName", with: "subjectAltName=URI:spiffe://other.org/web"), "svid.trust-domain"),
            ("isca", replacing("basicConstraints", with: "basicConstraints=critical,CA:TRUE"), "svid.leaf-is-ca"),
            ("noku", replacing("keyUsage", with: nil), "svid.key-usage-missing"),
            ("kunoncritical", replacing("keyUsage", with: "keyUsage=digitalSignature"), "svid.key-usage-not-critical"),
            ("nodigsig", replacing("keyUsage", with: "keyUsage=critical,keyAgreement"), "svid.leaf-digital-signature"),
            ("certsign", replacing("keyUsage", with: "keyUsage=critical,digitalSignature,keyCertSign"), "svid.leaf-cert-sign"),
            ("crlsign", replacing("keyUsage", with: "keyUsage=critical,digitalSignature,cRLSign"), "svid.leaf-cert-sign"),
            ("ekuserver", good + ["extendedKeyUsage=serverAuth"], "svid.extended-key-usage"),
            ("ekuclient", good + ["extendedKeyUsage=critical,clientAuth,codeSigning"], "svid.extended-key-usage"),
        ]
        for (name, extensions, rule) in variants {
            let pem = try makeLeaf(name, extensions: extensions)
            let result = try await verify(pem, with: verifier)
            XCTAssertEqual(result.rejection?.rule, rule, "\(name): \(result)")
            // `cert inspect` names the same rule (trust domain aside, which needs a bundle).
            if rule != "svid.trust-domain" {
                XCTAssertEqual(CertificateReport.profileProblem(try CertificateParsing.certificates(pemOrDER: pem))?.rule, rule, name)
            }
        }
        // Unsupported key types.
        for (name, algorithm) in [("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                                  ("p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])] {
            let pem = try makeLeaf(name, keyAlgorithm: algorithm, extensions: good)
            let result = try await verify(pem, with: verifier)
            XCTAssertEqual(result.rejection?.rule, "key.unsupported-type", "\(name): \(result)")
            XCTAssertThrowsError(try Credential(certificatePath: dir + "/\(name).pem", keyPath: dir + "/\(name).key")) { error in
                XCTAssertEqual((error as! IdentityError).code, .unsupportedKeyType, name)
            }
        }
    }

    func testOpenSSLCAWithoutKeyCertSignIsRefusedAsAnchor() throws {
        try makeCA("noku", keyUsage: nil)
        XCTAssertThrowsError(try verifier(["noku.pem"])) { error in
            let error = error as! IdentityError
            XCTAssertEqual(error.code, .invalidCACertificate)
            XCTAssertTrue(error.message.contains("svid.key-usage-missing"), error.message)
        }
    }

    func testRolloverBetweenTwoOpenSSLCAs() async throws {
        try makeCA("old")
        try makeCA("new")
        let oldLeaf = try makeLeaf("a", ca: "old", extensions: good)
        let newLeaf = try makeLeaf("b", ca: "new", extensions: good)
        let both = try verifier(["old.pem", "new.pem"])
        assertVerified(try await verify(oldLeaf, with: both))
        assertVerified(try await verify(newLeaf, with: both))
        let newOnly = try verifier(["new.pem"])
        assertRejected(try await verify(oldLeaf, with: newOnly), "chain.untrusted")
        assertVerified(try await verify(newLeaf, with: newOnly))
    }
}
