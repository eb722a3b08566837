// The reloadable sources (ReloadableFile and its credential, bundle, policy and deny-list
// forms) on real files, and the re-evaluation of a verified peer against changed trust.
import Crypto
import Foundation
@testable import Identity
import X509
import XCTest

final class ReloadableFileTests: XCTestCase {
    /// Writes `text` to `path` the way spiffe-helper does: a new file renamed over the old.
    func replace(_ path: String, with text: String, mode: mode_t = 0o644) throws {
        let temporary = path + ".tmp-\(UUID().uuidString)"
        XCTAssertTrue(FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
            attributes: [.posixPermissions: Int(mode)]))
        XCTAssertEqual(rename(temporary, path), 0, "rename: \(errno)")
    }

    /// Writes a credential's two files (the key 0600, as `cert issue` does).
    func writeCredential(_ leaf: TestPKI.Issued, dir: String) throws -> (cert: String, key: String) {
        let (cert, key) = (dir + "/cert.pem", dir + "/key.pem")
        try replace(cert, with: leaf.pem)
        try replace(key, with: try PrivateKeyFile.pem(leaf.key), mode: 0o600)
        return (cert, key)
    }

    func testAtomicRenameIsSeenAndUnchangedFileIsNotReloaded() throws {
        let dir = TestPKI.temporaryDirectory()
        let path = dir + "/revoked.txt"
        try replace(path, with: "serial:01\n")
        let store = try RevocationStore(path: path)
        XCTAssertEqual(store.name, "revocations")
        XCTAssertFalse(try store.reloadIfChanged(), "an unchanged file is not re-read")
        XCTAssertEqual(store.counts, ReloadCounts(succeeded: 0, failed: 0))
        // Same size, and within one mtime tick on coarse file systems: only the inode differs.
        try replace(path, with: "serial:02\n")
        XCTAssertTrue(try store.reloadIfChanged())
        XCTAssertEqual(store.list.text, try RevocationList(text: "serial:02\n").text)
        XCTAssertFalse(try store.reloadIfChanged())
        XCTAssertEqual(store.counts, ReloadCounts(succeeded: 1, failed: 0))
    }

    func testCredentialRotationHalfWrittenCertificateKeepsOldCredential() throws {
        let dir = TestPKI.temporaryDirectory()
        let root = TestPKI.root()
        let first = TestPKI.leaf(under: root)
        let (cert, key) = try writeCredential(first, dir: dir)
        let source = try CredentialSource(certificatePath: cert, keyPath: key)
        XCTAssertEqual(source.value.chainDER, [first.der])

        // A writer cut off half-way through the certificate (not atomic): the PEM block is cut short.
        let second = TestPKI.leaf(under: root)
        let pem = second.pem
        try pem.prefix(pem.count / 2).write(toFile: cert, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try source.reloadIfChanged()) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .malformedPEM, "\(error)")
        }
        XCTAssertEqual(source.value.chainDER, [first.der], "the previous credential stays in force")
        XCTAssertEqual(source.counts, ReloadCounts(succeeded: 0, failed: 1))
        XCTAssertEqual(source.lastReloadError?.code, .malformedPEM)
        XCTAssertFalse(try source.reloadIfChanged(), "the same bad version is not retried")

        // The certificate is complete now, but the key is still the old one: refused too.
        try replace(cert, with: second.pem)
        XCTAssertThrowsError(try source.reloadIfChanged()) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .keyMismatch, "\(error)")
        }
        XCTAssertEqual(source.value.chainDER, [first.der])
        XCTAssertEqual(source.counts, ReloadCounts(succeeded: 0, failed: 2))

        // The key's rename completes the rotation.
        try replace(key, with: try PrivateKeyFile.pem(second.key), mode: 0o600)
        XCTAssertTrue(try source.reloadIfChanged())
        XCTAssertEqual(source.value.chainDER, [second.der])
        XCTAssertEqual(source.counts, ReloadCounts(succeeded: 1, failed: 2))
    }

    func testStartUpWithKeyNotMatchingCertificateFails() throws {
        let dir = TestPKI.temporaryDirectory()
        let root = TestPKI.root()
        let (cert, key) = try writeCredential(TestPKI.leaf(under: root), dir: dir)
        try replace(key, with: try PrivateKeyFile.pem(TestPKI.leaf(under: root).key), mode: 0o600)
        XCTAssertThrowsError(try CredentialSource(certificatePath: cert, keyPath: key)) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .keyMismatch)
        }
    }

    func testBundleReloadDropsCAAndBadPEMKeepsBundle() throws {
        let dir = TestPKI.temporaryDirectory()
        let (old, new) = (TestPKI.root("Old"), TestPKI.root("New"))
        let path = dir + "/bundle.pem"
        try replace(path, with: old.pem + new.pem)
        let source = try TrustBundleSource(trustDomain: "example.org", paths: [path])
        XCTAssertEqual(source.value.anchors.count, 2)
        try replace(path, with: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        XCTAssertThrowsError(try source.reloadIfChanged())
        XCTAssertEqual(source.value.anchors.count, 2)
        try replace(path, with: new.pem)
        XCTAssertTrue(try source.reloadIfChanged())
        XCTAssertEqual(source.value.anchorFingerprints, [Fingerprint(der: new.der)])
        XCTAssertEqual(source.counts, ReloadCounts(succeeded: 1, failed: 1))
    }

    func testPollingTickAndSIGHUPReloadEveryRegisteredSource() throws {
        let dir = TestPKI.temporaryDirectory()
        let revocations = dir + "/revoked.txt", policy = dir + "/policy.txt"
        try replace(revocations, with: "serial:01\n")
        try replace(policy, with: "allow domain a.org\n")
        let store = try RevocationStore(path: revocations)
        let rules = try PolicyStore(path: policy)
        XCTAssertTrue(ReloadWatcher.shared.sources.contains { $0 === store })
        XCTAssertTrue(ReloadWatcher.shared.sources.contains { $0 === rules })

        // The tick reloads only what changed.
        try replace(policy, with: "allow domain b.org\n")
        ReloadWatcher.shared.checkAll()
        XCTAssertEqual(rules.counts, ReloadCounts(succeeded: 1, failed: 0))
        XCTAssertEqual(store.counts, ReloadCounts(succeeded: 0, failed: 0))
        XCTAssertTrue(rules.decide(local: nil, peer: try SPIFFEID("spiffe://b.org/x")).allowed)

        // SIGHUP reloads every source, changed or not; a bad file is counted, the old value kept.
        try replace(revocations, with: "garbage\n")
        let reloaded = expectation(description: "reloaded on SIGHUP")
        reloaded.assertForOverFulfill = false
        try ReloadWatcher.shared.reloadOnSIGHUP { reloaded.fulfill() }
        defer { try? ReloadWatcher.shared.reloadOnSIGHUP() }
        kill(getpid(), SIGHUP)
        wait(for: [reloaded], timeout: 10)
        XCTAssertEqual(rules.counts, ReloadCounts(succeeded: 2, failed: 0))
        XCTAssertEqual(store.counts, ReloadCounts(succeeded: 0, failed: 1))
        XCTAssertEqual(store.list.count, 1)
        let exported = Dictionary(ReloadWatcher.shared.countsByName().map { ($0.name, $0.counts) }, uniquingKeysWith: { a, _ in a })
        XCTAssertGreaterThanOrEqual(exported["revocations"]?.failed ?? 0, 1)
    }

    func testReleasedSourceLeavesTheWatcher() throws {
        let dir = TestPKI.temporaryDirectory()
        try replace(dir + "/revoked.txt", with: "serial:01\n")
        weak var released: RevocationStore?
        do {
            let store = try RevocationStore(path: dir + "/revoked.txt")
            released = store
            XCTAssertTrue(ReloadWatcher.shared.sources.contains { $0 === store })
        }
        XCTAssertNil(released)
    }

    // MARK: re-evaluation of a verified peer

    func testPeerReEvaluationGivesEachReason() async throws {
        let (root, other) = (TestPKI.root("Root"), TestPKI.root("Other"))
        let leaf = TestPKI.leaf("spiffe://example.org/ns/web", under: root)
        let revocations = RevocationStore()
        let verifier = TestPKI.verifier([root, other], revocations: revocations)
        let now = TestPKI.now
        guard case .verified(let peer) = await verifier.verify(chain: [leaf.der], at: now) else { return XCTFail() }
        let allow = try Policy(text: "allow domain example.org")
        XCTAssertNil(PeerInvalidation.evaluate(peer, verifier: verifier, policy: allow, localID: nil, at: now))

        // Expiry: the leaf's notAfter is now + 1 h (TestPKI.make).
        let expired = PeerInvalidation.evaluate(peer, verifier: verifier, policy: allow, localID: nil, at: now + 3601)
        guard case .certificateExpired = expired else { return XCTFail("\(String(describing: expired))") }
        XCTAssertTrue(expired!.description.hasPrefix("peer certificate expired"), expired!.description)
        XCTAssertNil(PeerInvalidation.evaluate(peer, verifier: verifier, policy: allow, localID: nil, at: now + 3600),
            "notAfter itself is still valid (RFC 5280 §4.1.2.5)")

        // Revocation of the leaf.
        var denied = RevocationList()
        denied.add(fingerprint: Fingerprint(der: leaf.der), entry: "test")
        revocations.replace(with: denied)
        let revoked = PeerInvalidation.evaluate(peer, verifier: verifier, policy: allow, localID: nil, at: now)
        guard case .revoked = revoked else { return XCTFail("\(String(describing: revoked))") }
        XCTAssertEqual(revoked?.label, "revoked")
        revocations.replace(with: RevocationList())

        // The CA leaves the bundle.
        let withoutRoot = TestPKI.verifier([other], revocations: revocations)
        let untrusted = PeerInvalidation.evaluate(peer, verifier: withoutRoot, policy: allow, localID: nil, at: now)
        guard case .caNoLongerTrusted = untrusted else { return XCTFail("\(String(describing: untrusted))") }
        XCTAssertTrue(untrusted!.description.hasPrefix("CA no longer trusted"))
        // The trust domain loses its bundle altogether.
        let elsewhere = TestPKI.verifier([TestPKI.root(trustDomain: "other.org")], trustDomain: "other.org")
        guard case .caNoLongerTrusted = PeerInvalidation.evaluate(peer, verifier: elsewhere, policy: allow, localID: nil, at: now)
        else { return XCTFail() }

        // The policy now denies the peer.
        let deny = try Policy(text: "allow domain example.org\ndeny prefix spiffe://example.org/ns")
        let denies = PeerInvalidation.evaluate(peer, verifier: verifier, policy: deny, localID: nil, at: now)
        guard case .policyDenies = denies else { return XCTFail("\(String(describing: denies))") }
        XCTAssertTrue(denies!.description.hasPrefix("policy denies peer"), denies!.description)
        XCTAssertEqual(denies?.label, "policy")
        // A policy file's version and hash say which version closed the channel.
        let yaml = "version: \"2026-12-03a\"\nrules:\n  - name: everyone\n    effect: allow\n    peer: {domain: example.org}\n"
            + "  - name: no-ns\n    effect: deny\n    peer: {prefix: spiffe://example.org/ns}\n"
        let versioned = try PolicyFile.parse(Array(yaml.utf8), file: "policy.yaml")
        let named = PeerInvalidation.evaluate(peer, verifier: verifier, policy: versioned, localID: nil, at: now)
        XCTAssertTrue(named!.description.hasSuffix(
            "[policy version \"2026-12-03a\" sha256 \(PolicyFile.sha256Hex(Array(yaml.utf8)).prefix(16))]"), named!.description)
    }
}
