import Foundation
import X509
import XCTest

@testable import Identity

/// Private-key files are refused when another user owns them or group/others have any access
/// (as OpenSSH refuses identity files), with a message saying how to fix it. Real files, real modes.
final class PrivateKeyFileTests: XCTestCase {
    var dir = ""
    var certPath: String { dir + "/web.pem" }
    var keyPath: String { dir + "/web.key" }
    var caCertPath: String { dir + "/ca.pem" }
    var caKeyPath: String { dir + "/ca.key" }

    override func setUpWithError() throws {
        dir = TestPKI.temporaryDirectory()
        let (authority, caKey) = try CertificateAuthority.create(trustDomain: "example.org")
        let (chain, key) = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"))
        try SecureFile.write(chain.map(CertificateParsing.pem).joined(separator: "\n") + "\n", to: certPath, mode: 0o644, force: false)
        try SecureFile.write(PrivateKeyFile.pem(key), to: keyPath, mode: 0o600, force: false)
        try SecureFile.write(CertificateParsing.pem(authority.certificate), to: caCertPath, mode: 0o644, force: false)
        try SecureFile.write(PrivateKeyFile.pem(caKey), to: caKeyPath, mode: 0o600, force: false)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func chmod(_ path: String, _ mode: mode_t) {
        XCTAssertEqual(Foundation.chmod(path, mode), 0, String(cString: strerror(errno)))
    }

    func assertInsecure(_ body: () throws -> Void, mentions text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let error = error as? IdentityError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(error.code, .insecureKeyFile, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(text), "expected \"\(text)\" in: \(error.message)", file: file, line: line)
        }
    }

    func testOwnerOnlyModesAccepted() throws {
        for mode: mode_t in [0o600, 0o400] {
            chmod(keyPath, mode)
            XCTAssertNoThrow(try Credential(certificatePath: certPath, keyPath: keyPath), "mode \(String(mode, radix: 8))")
        }
    }

    func testGroupOrOtherAccessRefusedWithChmodAdvice() throws {
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601] {
            chmod(keyPath, mode)
            assertInsecure({ _ = try Credential(certificatePath: certPath, keyPath: keyPath) },
                           mentions: "chmod 600 \(keyPath)")
        }
        chmod(keyPath, 0o644)
        assertInsecure({ _ = try Credential(certificatePath: certPath, keyPath: keyPath) }, mentions: "permissions 0644")
        chmod(keyPath, 0o600)
        XCTAssertNoThrow(try Credential(certificatePath: certPath, keyPath: keyPath))
    }

    func testCAKeyChecksToo() throws {
        chmod(caKeyPath, 0o640)
        assertInsecure({ _ = try CertificateAuthority(certificatePath: caCertPath, keyPath: caKeyPath) },
                       mentions: "chmod 600 \(caKeyPath)")
        chmod(caKeyPath, 0o600)
        XCTAssertNoThrow(try CertificateAuthority(certificatePath: caCertPath, keyPath: caKeyPath))
    }

    /// A file owned by another user is refused even with mode 0600. Needs root to chown.
    func testKeyOwnedByAnotherUserRefused() throws {
        guard geteuid() == 0 else {
            throw XCTSkip("not root: cannot chown a file to another user to test this case")
        }
        XCTAssertEqual(chown(keyPath, 65534, 65534), 0, String(cString: strerror(errno)))
        assertInsecure({ _ = try Credential(certificatePath: certPath, keyPath: keyPath) },
                       mentions: "is owned by uid 65534, not by uid 0")
        XCTAssertEqual(chown(keyPath, 0, 0), 0)
        XCTAssertNoThrow(try Credential(certificatePath: certPath, keyPath: keyPath))
    }

    /// The same owner rule without root: the real file's status, checked for another process uid.
    func testOwnerRuleAgainstAnotherProcessUID() throws {
        var status = stat()
        XCTAssertEqual(stat(keyPath, &status), 0)
        XCTAssertNoThrow(try PrivateKeyFile.checkOwnerAndMode(path: keyPath, status: status, processUID: status.st_uid))
        let other = status.st_uid &+ 1
        assertInsecure({ try PrivateKeyFile.checkOwnerAndMode(path: keyPath, status: status, processUID: other) },
                       mentions: "not by uid \(other) that runs this process")
    }

    /// The file a symbolic link leads to is the one checked (Kubernetes secret volumes are links).
    func testSymlinkFollowedAndTargetChecked() throws {
        let link = dir + "/link.key"
        XCTAssertEqual(symlink(keyPath, link), 0)
        XCTAssertNoThrow(try Credential(certificatePath: certPath, keyPath: link))
        chmod(keyPath, 0o644)
        assertInsecure({ _ = try Credential(certificatePath: certPath, keyPath: link) }, mentions: "chmod 600 \(link)")
    }

    /// A FIFO is refused without blocking on the open.
    func testNonRegularFileRefused() throws {
        let fifo = dir + "/fifo.key"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try PrivateKeyFile.read(fifo)) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .io)
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
    }

    /// SecureFile gives keys exactly 0600 whatever the umask, also when --force replaces a looser file.
    func testSecureFileWrites0600UnderPermissiveUmaskAndOnReplace() throws {
        let previous = umask(0)
        defer { umask(previous) }
        let path = dir + "/new.key"
        try SecureFile.write("x", to: path, mode: 0o600, force: false)
        XCTAssertEqual(try mode(path), 0o600)
        chmod(path, 0o644)
        try SecureFile.write("y", to: path, mode: 0o600, force: true)
        XCTAssertEqual(try mode(path), 0o600)
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }
}
