import Foundation
import XCTest

@testable import Identity

final class RevocationAndPolicyTests: XCTestCase {
    func testRevocationListParsing() throws {
        let fp = String(repeating: "ab", count: 32)
        let colons = stride(from: 0, to: 64, by: 2).map { _ in "AB" }.joined(separator: ":")
        let list = try RevocationList(text: """
            # comment

            sha256:\(fp)   # node 7
            sha256:\(colons)
            serial:0a:1B
            \tserial:7   \r
            serial:0c\r\nserial:0d
            """)
        XCTAssertEqual(list.fingerprints.count, 1, "same fingerprint twice")
        XCTAssertEqual(list.serials.count, 4, "CRLF line ends split lines too")
        XCTAssertNotNil(list.serials[[0x0A, 0x1B]])
        XCTAssertNotNil(list.serials[[0x07]])
        // Round trip through the file format.
        XCTAssertEqual(try RevocationList(text: list.text), list.withoutComments)
        for bad in ["sha256:abcd", "sha256:" + String(repeating: "zz", count: 32), "serial:", "serial:xyz",
                    "serial:" + String(repeating: "11", count: 21), "revoke everything", "sha1:abcd"] {
            XCTAssertThrowsError(try RevocationList(text: "# ok\n" + bad), bad) { error in
                let error = error as! IdentityError
                XCTAssertEqual(error.code, .malformedRevocationList)
                XCTAssertTrue(error.message.hasPrefix("line 2:"), error.message)
            }
        }
    }

    func testReloadKeepsOldListOnError() throws {
        let dir = TestPKI.temporaryDirectory()
        let path = dir + "/revoked.txt"
        let fp = Fingerprint(der: [1, 2, 3])
        try "sha256:\(fp)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try RevocationStore(path: path)
        XCTAssertEqual(store.list.count, 1)
        try "garbage\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.reload()) { error in
            XCTAssertEqual((error as! IdentityError).code, .malformedRevocationList)
        }
        XCTAssertEqual(store.list.count, 1, "a bad reload must not drop the deny list")
        XCTAssertEqual(store.reloadCount, 0)
        try FileManager.default.removeItem(atPath: path)
        XCTAssertThrowsError(try store.reload()) { error in
            XCTAssertEqual((error as! IdentityError).code, .io)
        }
        XCTAssertEqual(store.list.count, 1)
        try "sha256:\(fp)\nserial:01\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try store.reload().count, 2)
        XCTAssertEqual(store.reloadCount, 1)
        // A store that fails its first load fails closed: no store at all.
        XCTAssertThrowsError(try RevocationStore(path: dir + "/nope.txt"))
    }

    func testReloadIfChangedAndOnSIGHUP() throws {
        let dir = TestPKI.temporaryDirectory()
        let path = dir + "/revoked.txt"
        try "serial:01\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try RevocationStore(path: path)
        XCTAssertFalse(try store.reloadIfChanged(), "unchanged file is not re-read")
        // atomically: writes a new file and renames it, so the inode changes even within one mtime tick.
        try "serial:01\nserial:02\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertTrue(try store.reloadIfChanged())
        XCTAssertEqual(store.list.count, 2)
        XCTAssertFalse(try store.reloadIfChanged())

        // SIGHUP: the handler reloads and reports the result.
        try "serial:01\nserial:02\nserial:03\n".write(toFile: path, atomically: true, encoding: .utf8)
        let reloaded = expectation(description: "reloaded on SIGHUP")
        reloaded.assertForOverFulfill = false
        try ReloadWatcher.shared.reloadOnSIGHUP { reloaded.fulfill() }
        defer { try? ReloadWatcher.shared.reloadOnSIGHUP() }
        kill(getpid(), SIGHUP)
        wait(for: [reloaded], timeout: 10)
        XCTAssertEqual(store.list.count, 3)
    }

    func testPolicyDecisions() throws {
        let policy = try Policy(text: """
            # storage may talk to the database; ops can reach everything in prod
            allow prefix spiffe://prod.org/ns/storage
            allow id spiffe://prod.org/ns/db/primary
            allow domain ops.org
            deny id spiffe://prod.org/ns/storage/legacy
            """)
        func decide(_ id: String) -> Decision { policy.decide(spiffeID: try! SPIFFEID(id)) }
        XCTAssertTrue(decide("spiffe://prod.org/ns/storage").allowed)
        XCTAssertTrue(decide("spiffe://prod.org/ns/storage/node-1").allowed)
        XCTAssertEqual(decide("spiffe://prod.org/ns/storage/node-1").rule,
                       PolicyRule(.allow, .pathPrefix(try SPIFFEID("spiffe://prod.org/ns/storage")), name: "line-2", line: 2))
        XCTAssertFalse(decide("spiffe://prod.org/ns/storage-evil").allowed)
        XCTAssertTrue(decide("spiffe://prod.org/ns/db/primary").allowed)
        XCTAssertFalse(decide("spiffe://prod.org/ns/db/primary/x").allowed, "exact means exact")
        XCTAssertTrue(decide("spiffe://ops.org/anyone").allowed)
        let denied = decide("spiffe://prod.org/ns/storage/legacy")
        XCTAssertFalse(denied.allowed, "deny wins over a matching allow")
        XCTAssertTrue(denied.reason.contains("denied by rule \"line-5\" (deny id spiffe://prod.org/ns/storage/legacy)"), denied.reason)
        let unknown = decide("spiffe://other.org/x")
        XCTAssertFalse(unknown.allowed)
        XCTAssertNil(unknown.rule)
        XCTAssertTrue(unknown.reason.contains("default deny"))
        XCTAssertFalse(Policy(rules: []).decide(spiffeID: try SPIFFEID("spiffe://a.org/b")).allowed, "empty policy denies")
    }

    func testPolicyParseErrors() {
        for bad in ["allow", "permit id spiffe://a.org/b", "allow regex .*", "allow id https://a.org/b",
                    "allow domain Bad.Org", "allow id spiffe://a.org/b extra"] {
            XCTAssertThrowsError(try Policy(text: "allow domain ok.org\n" + bad), bad) { error in
                let error = error as! IdentityError
                XCTAssertEqual(error.code, .malformedPolicy, bad)
                XCTAssertTrue(error.message.hasPrefix("line 2:"), error.message)
            }
        }
    }
}

extension RevocationList {
    /// The list with entry texts normalized, for round-trip comparison.
    var withoutComments: RevocationList {
        var copy = RevocationList()
        for fp in fingerprints.keys { copy.add(fingerprint: fp) }
        for serial in serials.keys { copy.add(serial: serial) }
        return copy
    }
}

/// Collects values from another thread.
final class LockedCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int] = []
    func append(_ value: Int) {
        lock.lock()
        storage.append(value)
        lock.unlock()
    }
    var values: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
