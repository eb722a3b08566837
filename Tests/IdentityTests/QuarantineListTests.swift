import Foundation
import XCTest

@testable import Identity

/// The shared quarantine list: its file format (precise errors), atomic
/// updates, the store's reload, and `fabricauth quarantine` through the
/// built binary.
final class QuarantineListTests: XCTestCase {
    var dir = ""
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    override func setUp() {
        dir = TestPKI.temporaryDirectory()
    }

    func parseError(_ text: String) -> String {
        do {
            _ = try QuarantineList(text: text)
            return "parsed"
        } catch {
            XCTAssertEqual(error.code, .malformedQuarantineList)
            return error.message
        }
    }

    func testParsesEntriesExpiryAndReasons() throws {
        let list = try QuarantineList(text: """
            # isolated nodes
            spiffe://cluster.example/node/7  until=2027-01-15T08:10:00Z   # forged grants (detector)

            spiffe://cluster.example/node/9\t# until lifted
            """)
        XCTAssertEqual(list.count, 2)
        let seven = try XCTUnwrap(list.entries[try SPIFFEID("spiffe://cluster.example/node/7")])
        XCTAssertEqual(seven.until, t0 + 600)
        XCTAssertEqual(seven.reason, "forged grants (detector)")
        XCTAssertNotNil(list.entry(for: seven.id, at: t0 + 599))
        XCTAssertNil(list.entry(for: seven.id, at: t0 + 600))
        let nine = try XCTUnwrap(list.entries[try SPIFFEID("spiffe://cluster.example/node/9")])
        XCTAssertNil(nine.until)
        XCTAssertEqual(nine.reason, "until lifted")
        // The text form parses back to the same list.
        XCTAssertEqual(try QuarantineList(text: list.text), list)
        XCTAssertTrue(list.text.contains("spiffe://cluster.example/node/7 until=2027-01-15T08:10:00Z  # forged grants (detector)\n"), list.text)
    }

    func testEachBadLineGetsAPreciseError() {
        XCTAssertEqual(parseError("\n\nsha256:00"),
            "line 3: expected a workload SPIFFE ID (spiffe://DOMAIN/PATH): \(SPIFFEErrorText.of("sha256:00"))")
        XCTAssertEqual(parseError("spiffe://cluster.example"),
            "line 1: expected a workload SPIFFE ID (spiffe://DOMAIN/PATH): SPIFFE ID spiffe://cluster.example has no path; an X.509-SVID must name a workload, not a trust domain (X509-SVID §2)")
        XCTAssertEqual(parseError("spiffe://a.org/w for=10m"),
            "line 1: unknown field \"for=10m\"; only until=TIME may follow the ID")
        XCTAssertEqual(parseError("spiffe://a.org/w until=2027-01-15T08:10:00+01:00"),
            "line 1: until= must be an RFC 3339 UTC time such as 2026-12-02T18:00:00Z, not \"2027-01-15T08:10:00+01:00\"")
        XCTAssertEqual(parseError("spiffe://a.org/w until=tomorrow"),
            "line 1: until= must be an RFC 3339 UTC time such as 2026-12-02T18:00:00Z, not \"tomorrow\"")
        XCTAssertEqual(parseError("spiffe://a.org/w until=2027-01-15T08:10:00Z until=2027-01-15T08:10:00Z"),
            "line 1: until= given twice")
        XCTAssertEqual(parseError("spiffe://a.org/w\n# x\nspiffe://a.org/w # again"),
            "line 3: spiffe://a.org/w is listed twice")
    }

    func testUpdateIsAtomicAndTheStoreReloadsOnlyWhatParses() throws {
        let path = dir + "/quarantine.txt"
        let id = try SPIFFEID("spiffe://a.org/w")
        try QuarantineStore.update(path) { $0.add(id, until: nil, reason: "first") }
        let store = try QuarantineStore(path: path)
        XCTAssertEqual(store.list.entries[id]?.reason, "first")
        XCTAssertFalse(try store.reloadIfChanged())
        // No temporary file is left behind; the watching store sees the new version.
        let v = try SPIFFEID("spiffe://a.org/v")
        try QuarantineStore.update(path) { $0.add(v, until: nil, reason: "") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        XCTAssertTrue(try store.reloadIfChanged())
        XCTAssertEqual(store.list.count, 2)
        // A bad edit keeps the list in force, and says where the problem is.
        try "spiffe://a.org/w\nnot an id\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.reloadIfChanged()) { error in
            XCTAssertEqual((error as? IdentityError)?.code, .malformedQuarantineList)
            XCTAssertTrue("\(error)".contains("\(path): line 2: expected a workload SPIFFE ID"), "\(error)")
        }
        XCTAssertEqual(store.list.count, 2)
    }

    // MARK: CLI

    func fabricauth(_ arguments: String..., file: StaticString = #filePath, line: UInt = #line) throws -> CLITests.Run {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLITests.binary),
                      "build the CLI first (swift build); looked for \(CLITests.binary)", file: file, line: line)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLITests.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLITests.Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    func testCLIAddListLift() throws {
        let add = try fabricauth("quarantine", "add", "q.txt", "--id", "spiffe://a.org/node/7", "--for", "10m",
            "--reason", "forged grants")
        XCTAssertEqual(add.status, 0, add.output)
        XCTAssertTrue(add.output.hasPrefix("quarantined spiffe://a.org/node/7 until 20"), add.output)
        XCTAssertTrue(add.output.contains("(in 10m 0s)") || add.output.contains("(in 9m 59s)"), add.output)
        let forever = try fabricauth("quarantine", "add", "q.txt", "--id", "spiffe://a.org/node/9")
        XCTAssertEqual(forever.status, 0, forever.output)
        XCTAssertTrue(forever.output.contains("quarantined spiffe://a.org/node/9 until lifted\nq.txt: 2 entries"), forever.output)

        let list = try fabricauth("quarantine", "list", "q.txt")
        XCTAssertEqual(list.status, 0, list.output)
        let lines = list.output.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, list.output)
        XCTAssertTrue(lines[0].hasPrefix("spiffe://a.org/node/7  until 20") && lines[0].hasSuffix("  # forged grants"), list.output)
        XCTAssertEqual(lines[1], "spiffe://a.org/node/9  until lifted")
        XCTAssertEqual(lines[2], "q.txt: 2 quarantined, 0 expired")

        let lift = try fabricauth("quarantine", "lift", "q.txt", "--id", "spiffe://a.org/node/7")
        XCTAssertEqual(lift.status, 0, lift.output)
        XCTAssertEqual(lift.output, "lifted spiffe://a.org/node/7\nq.txt: 1 entries\n")
        let again = try fabricauth("quarantine", "lift", "q.txt", "--id", "spiffe://a.org/node/7")
        XCTAssertEqual(again.status, 1, again.output)
        XCTAssertTrue(again.output.contains("spiffe://a.org/node/7 is not in q.txt"), again.output)
        let file = try String(contentsOfFile: dir + "/q.txt", encoding: .utf8)
        XCTAssertEqual(try QuarantineList(text: file).count, 1)

        // Bad input: a precise message and a nonzero status, the file untouched.
        let badID = try fabricauth("quarantine", "add", "q.txt", "--id", "node7")
        XCTAssertNotEqual(badID.status, 0, badID.output)
        XCTAssertTrue(badID.output.contains("--id node7:"), badID.output)
        let badFor = try fabricauth("quarantine", "add", "q.txt", "--id", "spiffe://a.org/x", "--for", "soon")
        XCTAssertNotEqual(badFor.status, 0, badFor.output)
        XCTAssertEqual(try String(contentsOfFile: dir + "/q.txt", encoding: .utf8), file)
        try "spiffe://a.org/x until=never\n".write(toFile: dir + "/bad.txt", atomically: true, encoding: .utf8)
        let badFile = try fabricauth("quarantine", "list", "bad.txt")
        XCTAssertEqual(badFile.status, 1, badFile.output)
        XCTAssertTrue(badFile.output.contains("bad.txt: line 1: until= must be an RFC 3339 UTC time"), badFile.output)
        let missing = try fabricauth("quarantine", "lift", "none.txt", "--id", "spiffe://a.org/x")
        XCTAssertEqual(missing.status, 1, missing.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none.txt"))
    }
}

/// The SPIFFE parser's own message for `text`, so the test does not copy it.
enum SPIFFEErrorText {
    static func of(_ text: String) -> String {
        do { _ = try SPIFFEID(text); return "" } catch { return error.message }
    }
}
