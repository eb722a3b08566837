import Crypto

/// One problem in a policy file, at a line and column (both from 1; columns count Unicode
/// scalars, as libyaml's marks do), with a message that says how to fix it.
public struct PolicyDiagnostic: Hashable, Sendable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(line):\(column): \(message)" }

    /// `FILE:LINE:COLUMN: message`, the form compilers use, so editors can jump to it.
    public func formatted(file: String) -> String { "\(file):\(line):\(column): \(message)" }
}

/// A policy file that cannot be used: every problem found, in file order.
public struct PolicyFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file's name as given (for messages).
    public let file: String
    public let diagnostics: [PolicyDiagnostic]

    public init(file: String, diagnostics: [PolicyDiagnostic]) {
        self.file = file
        self.diagnostics = diagnostics
    }

    /// One `FILE:LINE:COLUMN: message` line per problem.
    public var description: String { diagnostics.map { $0.formatted(file: file) }.joined(separator: "\n") }
}

/// Reading policy files: the format is told by content (docs/operations.md "Policy files").
public enum PolicyFile {
    /// The two formats a policy file may be in.
    public enum Format: String, Sendable {
        /// The YAML policy file (version, named rules, local selectors).
        case yaml
        /// The older format: `allow|deny id|prefix|domain VALUE` lines.
        case lines
    }

    /// Largest policy file accepted, so a mistaken path (a log, a core file) fails fast.
    public static let maximumSize = 1 << 20

    /// The format of a policy file, by content: the line format when the first line that is
    /// neither blank nor a `#` comment starts with the word `allow` or `deny` followed by a
    /// space or tab, or when there is no such line; otherwise YAML.
    public static func format(of text: String) -> Format {
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            for word in ["allow", "deny"] where line.hasPrefix(word) {
                let next = line.dropFirst(word.count).first
                if next == " " || next == "\t" { return .lines }
            }
            return .yaml
        }
        return .lines
    }

    /// Parses a policy file's bytes in either format. Refuses the file on any problem,
    /// including those `fabricauth policy check` reports for YAML files (unknown keys,
    /// duplicate names, unreachable rules); a line-format file is refused only for lines
    /// that do not parse, as before.
    public static func parse(_ bytes: [UInt8], file: String) throws(PolicyFileError) -> Policy {
        let result = analyze(bytes, file: file, lintLineFormat: false)
        guard result.diagnostics.isEmpty, let policy = result.policy else {
            throw PolicyFileError(file: file, diagnostics: result.diagnostics)
        }
        return policy
    }

    /// Every problem in a policy file, for `fabricauth policy check`: syntax and schema errors,
    /// then duplicate names and unreachable rules (PolicyLint), for both formats.
    public static func check(_ bytes: [UInt8], file: String) -> (format: Format?, diagnostics: [PolicyDiagnostic]) {
        let result = analyze(bytes, file: file, lintLineFormat: true)
        return (result.format, result.diagnostics)
    }

    /// Reads and parses the policy file at `path`; the error (code `malformedPolicy`) carries
    /// every problem as `PATH:LINE:COLUMN: message` lines; `io` when it cannot be read.
    public static func load(path: String) throws(IdentityError) -> Policy {
        let bytes = try read(path)
        do {
            return try parse(bytes, file: path)
        } catch {
            throw IdentityError(.malformedPolicy, error.description)
        }
    }

    /// A policy file's bytes, read as certificate and revocation files are (files over
    /// PEMFile's size limit are refused; ``maximumSize`` is checked when parsing).
    public static func read(_ path: String) throws(IdentityError) -> [UInt8] {
        try PEMFile.read(path)
    }

    /// SHA-256 of `bytes`, lowercase hex: a policy's content hash.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }

    static func analyze(_ bytes: [UInt8], file: String, lintLineFormat: Bool)
        -> (format: Format?, policy: Policy?, diagnostics: [PolicyDiagnostic]) {
        guard bytes.count <= maximumSize else {
            return (nil, nil, [PolicyDiagnostic(line: 1, column: 1, message:
                "file is \(bytes.count) bytes, more than the \(maximumSize) a policy file may have; check the path")])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let valid = String(decoding: bytes, as: UTF8.self)
            let bad = valid.firstIndex(of: "\u{FFFD}") ?? valid.startIndex
            let before = valid[..<bad]
            let line = before.filter { $0 == "\n" }.count + 1
            let column = (before.split(separator: "\n", omittingEmptySubsequences: false).last?.unicodeScalars.count ?? 0) + 1
            return (nil, nil, [PolicyDiagnostic(line: line, column: column, message:
                "not UTF-8 text; save the file as UTF-8")])
        }
        let hash = sha256Hex(bytes)
        switch format(of: text) {
        case .lines:
            let parsed = Policy.parseLines(text)
            let policy = Policy(rules: parsed.rules, version: nil, contentHash: hash)
            var diagnostics = parsed.diagnostics
            if lintLineFormat { diagnostics += PolicyLint.check(policy.rules, positions: nil) }
            return (.lines, policy, diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        case .yaml:
            let parsed = PolicyYAML.parse(text)
            guard let document = parsed.document else { return (.yaml, nil, parsed.diagnostics) }
            let policy = Policy(rules: document.rules, version: document.version, contentHash: hash)
            let diagnostics = parsed.diagnostics + PolicyLint.check(document.rules, positions: document.positions)
            return (.yaml, policy, diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
    }
}
