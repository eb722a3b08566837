import FabricAuth
import Foundation
import Identity
import Testing

/// Reloads of real files reach the audit trail as `reload` events, loaded or failed,
/// and the lines validate against docs/audit-schema.json.
@Suite struct AuditReloadTests {
    /// coreutils' sha256sum of `text`, written to a file next to `path`.
    static func sha256sum(path: String, text: String) throws -> String {
        let copy = path + ".copy"
        try text.write(toFile: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [copy]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(output.prefix(64))
    }

    /// A YAML policy's reload carries its `version` and SHA-256, the same the
    /// handshakes decided under it record.
    @Test func aReloadedPolicyFileCarriesItsVersionAndHash() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-reload-v-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.yaml").path
        func policy(_ version: String) -> String {
            "version: \"\(version)\"\nrules:\n  - name: trainers\n    effect: allow\n    peer: {prefix: spiffe://example.org/trainer}\n"
        }
        try policy("2026-12-03.1").write(toFile: path, atomically: true, encoding: .utf8)
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) })
        log.recordReloads()
        let store = try PolicyStore(path: path)
        try policy("2026-12-03.2").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try store.reloadIfChanged())
        log.close()
        let mine = lines.objects.filter { $0["event"] as? String == "reload" && $0["path"] as? String == path }
        #expect(mine.count == 1, "\(lines.lines)")
        #expect(mine.first?["outcome"] as? String == "loaded")
        #expect(mine.first?["version"] as? String == "2026-12-03.2")
        #expect(mine.first?["sha256"] as? String == (try Self.sha256sum(path: path, text: policy("2026-12-03.2"))))
        #expect(store.decide(local: nil, peer: try SPIFFEID("spiffe://example.org/trainer/a")).policyHash == mine.first?["sha256"] as? String)
        try AuditSchema.expectValid(lines.lines.filter { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return object?["path"] as? String == path
        })
    }

    @Test func reloadsOfAPolicyFileAreAudited() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-reload-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.txt").path
        try "allow domain example.org\n".write(toFile: path, atomically: true, encoding: .utf8)

        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) })
        log.recordReloads()
        let store = try PolicyStore(path: path)
        try "allow domain example.net\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try store.reloadIfChanged())
        try "allow nonsense here\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: IdentityError.self) { try store.reloadIfChanged() }
        log.close()

        // Other suites reload their own files in this process: keep this file's events.
        let mine = lines.objects.filter { $0["event"] as? String == "reload" && $0["path"] as? String == path }
        #expect(mine.map { $0["outcome"] as? String } == ["loaded", "failed"])
        #expect(mine.allSatisfy { $0["source"] as? String == "policy" })
        #expect((mine.last?["error"] as? String)?.isEmpty == false)
        // The line format has no version; its loaded line carries the file's hash.
        #expect(mine.first?["version"] == nil)
        #expect(mine.first?["sha256"] as? String == (try Self.sha256sum(path: path, text: "allow domain example.net\n")))
        #expect(mine.last?["sha256"] == nil, "a failed reload put nothing in force")
        try AuditSchema.expectValid(lines.lines.filter { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return object?["path"] as? String == path
        })
    }
}
