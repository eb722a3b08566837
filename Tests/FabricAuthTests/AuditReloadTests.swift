import FabricAuth
import Foundation
import Identity
import Testing

/// Reloads of real files reach the audit trail as `reload` events, loaded or failed,
/// and the lines validate against docs/audit-schema.json.
@Suite struct AuditReloadTests {
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
        try AuditSchema.expectValid(lines.lines.filter { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return object?["path"] as? String == path
        })
    }
}
