import ArgumentParser
import Foundation
import Identity

/// `fabricauth policy`: check, explain and convert policy files (docs/operations.md, Policy files).
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check, explain and convert policy files.",
        subcommands: [PolicyCheckCommand.self, PolicyExplainCommand.self, PolicyConvertCommand.self]
    )

    /// The file's bytes, through the same read as `--policy` (refuses FIFOs and devices).
    static func read(_ path: String) throws(IdentityError) -> [UInt8] {
        try PolicyFile.read(path)
    }

    /// Writes diagnostics to stderr, one `FILE:LINE:COLUMN: message` line each.
    static func report(_ diagnostics: [PolicyDiagnostic], file: String) {
        for diagnostic in diagnostics {
            FileHandle.standardError.write(Data((diagnostic.formatted(file: file) + "\n").utf8))
        }
    }
}

/// `fabricauth policy check FILE`: every problem, with its line and column; exit 0 or 1.
struct PolicyCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a policy file: syntax, schema, SPIFFE IDs and patterns, duplicate names, unreachable rules.",
        discussion: """
            Prints each problem as FILE:LINE:COLUMN: message (to stderr) and exits 1; exits 0 and prints
            the format, version, rule count and SHA-256 when the file is good. A line-format file is checked
            for the same duplicate and unreachable rules, though --policy still loads it when only those are found.
            """
    )

    @Argument(help: "The policy file (YAML, or lines of 'allow|deny id|prefix|domain VALUE').")
    var file: String

    func run() throws {
        let bytes = try PolicyCommand.read(file)
        let (format, diagnostics) = PolicyFile.check(bytes, file: file)
        guard diagnostics.isEmpty, let format else {
            PolicyCommand.report(diagnostics, file: file)
            print("\(file): \(diagnostics.count) problem\(diagnostics.count == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        let policy = try PolicyFile.parse(bytes, file: file)
        let version = policy.version.map { "version \"\($0)\"" } ?? "no version"
        print("\(file): OK: \(format == .yaml ? "YAML policy file" : "line format"), \(version), "
            + "\(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s"), sha256 \(policy.contentHash ?? "")")
        if format == .lines {
            print("(`fabricauth policy convert \(file)` prints it as a YAML policy file)")
        }
    }
}

/// `fabricauth policy explain FILE --local ID --peer ID`: the decision and what made it.
struct PolicyExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print the decision a policy file makes for a connection, and the rule that made it.",
        discussion: """
            Prints the decision (allow or deny), the rule that made it (its name and line, or "default deny"),
            the reason, the policy's version and its SHA-256. Exits 0 when allowed, 1 when denied or when the
            file or an ID is bad.
            """
    )

    @Argument(help: "The policy file.")
    var file: String

    @Option(help: "This endpoint's SPIFFE ID (rules with a local selector need it).")
    var local: String?

    @Option(help: "The peer's SPIFFE ID.")
    var peer: String

    func run() throws {
        let peerID = try SPIFFEID(peer)
        let localID = try local.map { text throws(IdentityError) in try SPIFFEID(text) }
        let policy = try PolicyFile.load(path: file)
        let decision = policy.decide(local: localID, peer: peerID)
        print("decision: \(decision.allowed ? "allow" : "deny")")
        if let rule = decision.rule {
            print("rule: \(rule.name)\(rule.line.map { " (line \($0))" } ?? "")")
            if let summary = rule.summary { print("description: \(summary)") }
        } else {
            print("rule: default deny")
        }
        print("reason: \(decision.reason)")
        print("version: \(decision.policyVersion ?? "none (line format)")")
        print("sha256: \(decision.policyHash ?? "")")
        if !decision.allowed { throw ExitCode(1) }
    }
}

/// `fabricauth policy convert OLDFILE`: a line-format file as a YAML policy file.
struct PolicyConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Print a line-format policy file as an equivalent YAML policy file.",
        discussion: """
            Rules keep their order and are named line-N after their line. Rules that can never decide
            (duplicates, rules covered by another: see `policy check`) are written as comments, so the new
            file passes `policy check` and decides every connection as the old one did.
            """
    )

    @Argument(help: "The line-format policy file.")
    var file: String

    @Option(name: .customLong("policy-version"), help: "The version string of the new file.")
    var policyVersion = "1"

    func run() throws {
        let bytes = try PolicyCommand.read(file)
        let (format, diagnostics) = PolicyFile.check(bytes, file: file)
        if format == .yaml {
            throw ValidationError("\(file) is already a YAML policy file; `fabricauth policy check \(file)` validates it")
        }
        let policy: Policy
        do {
            policy = try PolicyFile.parse(bytes, file: file)
        } catch {
            PolicyCommand.report(error.diagnostics, file: file)
            throw ExitCode(1)
        }
        // What `check` reports on a line-format file is only ever about unreachable rules
        // (names are line-N, unique): leave those rules out, as comments.
        var commentedOut: [String: String] = [:]
        for diagnostic in diagnostics {
            if let rule = policy.rules.first(where: { $0.line == diagnostic.line }) {
                commentedOut[rule.name] = diagnostic.message
            }
        }
        print(policy.yamlText(version: policyVersion, source: file, commentedOut: commentedOut), terminator: "")
    }
}
