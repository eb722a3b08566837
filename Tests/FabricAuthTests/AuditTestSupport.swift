import Foundation
import Testing

/// Validates audit lines against docs/audit-schema.json with Debian's
/// python3-jsonschema (Draft 2020-12; Hardware/install installs it) through
/// Tests/Support/validate-audit-log.py, which prints one line per error and exits 1.
enum AuditSchema {
    static let schemaPath: String = {
        // Tests/FabricAuthTests/ -> repository root
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/audit-schema.json").path
    }()

    /// Debian's interpreter, whose dist-packages hold python3-jsonschema
    /// (a python3 earlier on PATH may be another installation without it).
    static let python = "/usr/bin/python3"

    /// Tests/Support/validate-audit-log.py, shared with the device tests.
    static let script: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Support/validate-audit-log.py").path
    }()

    /// Runs the validator over `lines`; returns its exit status and output.
    static func validate(_ lines: [String]) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("\(python) is missing: run Hardware/install (python3-jsonschema)")
            return (-1, "")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString).jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, schemaPath, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Records an issue for every line that does not validate.
    static func expectValid(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, output) = try validate(lines)
        #expect(status == 0, "audit lines do not match docs/audit-schema.json:\n\(output)\n\(lines.joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }
}

/// Lines an audit log hands to its handler, collected for a test.
final class CollectedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    func append(_ line: String) { lock.withLock { storage.append(line) } }
    var lines: [String] { lock.withLock { storage } }

    /// The parsed objects.
    var objects: [[String: Any]] {
        lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
    }
}
