import Foundation
import Testing

/// One parsed exposition: each sample as `name{label="value",...}` (labels
/// sorted) -> value, and the `# TYPE` of each family.
struct Exposition {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]
    let text: String

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[Self.key(String(line[..<space]))] = value
        }
    }

    /// `name{b="2",a="1"}` -> `name{a="1",b="2"}` (the text format leaves label order free).
    static func key(_ series: String) -> String {
        guard let open = series.firstIndex(of: "{"), series.hasSuffix("}") else { return series }
        let name = series[..<open]
        let body = series[series.index(after: open)..<series.index(before: series.endIndex)]
        let labels = body.split(separator: ",").map(String.init).sorted()
        return labels.isEmpty ? String(name) : "\(name){\(labels.joined(separator: ","))}"
    }

    /// The value of `name` with `labels`, nil when the exposition has no such sample.
    subscript(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }
        return samples[rendered.isEmpty ? name : "\(name){\(rendered.joined(separator: ","))}"]
    }
}

/// Runs Debian's `promtool check metrics` (package prometheus, Hardware/install)
/// on `text`; records an issue when promtool is missing or finds a problem.
func checkWithPromtool(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/promtool" }
    guard let promtool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        Issue.record("promtool not found: install Debian's prometheus package (Hardware/install does)",
            sourceLocation: sourceLocation)
        return
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: promtool)
    process.arguments = ["check", "metrics"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "promtool check metrics: \(said)\n--- exposition ---\n\(text)",
        sourceLocation: sourceLocation)
    #expect(said.isEmpty, "promtool check metrics said: \(said)", sourceLocation: sourceLocation)
}
