import ArgumentParser
import Foundation
import Identity

/// `fabricauth quarantine`: read and edit the shared quarantine list
/// (docs/operations.md, Isolation). Processes started with
/// `--quarantine-file` (or `FABRICAUTH_QUARANTINE_FILE`) watch the file and
/// refuse and cut off the peers it lists, without a restart.
struct QuarantineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List, add and lift entries of a shared quarantine list file.",
        subcommands: [QuarantineListCommand.self, QuarantineAddCommand.self, QuarantineLiftCommand.self]
    )

    /// "until 2026-12-02T18:00:00Z (in 9m 58s)", "until lifted", or "expired at ...".
    static func describe(_ entry: QuarantineList.Entry, now: Date) -> String {
        guard let until = entry.until else { return "until lifted" }
        let time = QuarantineList.formatTime(until)
        guard until > now else { return "expired at \(time)" }
        let left = Int(until.timeIntervalSince(now).rounded(.up))
        let text = left >= 3600 ? "\(left / 3600)h \(left % 3600 / 60)m" : left >= 60 ? "\(left / 60)m \(left % 60)s" : "\(left)s"
        return "until \(time) (in \(text))"
    }

    static func spiffeID(_ text: String) throws -> SPIFFEID {
        do {
            return try SPIFFEID(text).requiringWorkload()
        } catch {
            throw ValidationError("--id \(text): \(error.message)")
        }
    }
}

/// `fabricauth quarantine list FILE`
struct QuarantineListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print every entry: SPIFFE ID, how long it lasts, reason. Exits 1 if the file can't be read or parsed.")

    @Argument(help: "The quarantine list file.")
    var file: String

    func run() throws {
        let list = try QuarantineStore.load(file)
        let now = Date()
        let entries = list.entries.values.sorted { $0.id < $1.id }
        for entry in entries {
            let reason = entry.reason.isEmpty ? "" : "  # \(entry.reason)"
            print("\(entry.id)  \(QuarantineCommand.describe(entry, now: now))\(reason)")
        }
        let active = entries.filter { $0.isActive(at: now) }.count
        print("\(file): \(active) quarantined, \(entries.count - active) expired")
    }
}

/// `fabricauth quarantine add FILE --id ID [--for 10m] [--reason TEXT]`
struct QuarantineAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Quarantine a peer in the list (created if missing; rewritten atomically).",
        discussion: """
            Replaces the peer's entry if it has one, and drops entries that have expired. Without --for
            the entry lasts until lifted.
            """)

    @Argument(help: "The quarantine list file.")
    var file: String

    @Option(help: "The peer's SPIFFE ID.")
    var id: String

    @Option(name: .customLong("for"), help: "How long, e.g. 10m, 2h, 1d (default: until lifted).")
    var duration: String?

    @Option(help: "Why (kept as the entry's comment, shown in logs).")
    var reason: String?

    func run() throws {
        let id = try QuarantineCommand.spiffeID(id)
        let now = Date()
        let until = try duration.map { text throws(IdentityError) in now.addingTimeInterval(try DurationParser.parse(text)) }
        // Whole seconds: what the file holds.
        let stored = until.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down)) }
        let list = try QuarantineStore.update(file) { list in
            list.removeExpired(at: now)
            list.add(id, until: stored, reason: reason ?? "")
        }
        print("quarantined \(id) \(QuarantineCommand.describe(list.entries[id]!, now: now))")
        print("\(file): \(list.count) entries")
    }
}

/// `fabricauth quarantine lift FILE --id ID`
struct QuarantineLiftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lift",
        abstract: "Remove a peer's entry (rewritten atomically). Exits 1 if it is not listed.")

    @Argument(help: "The quarantine list file.")
    var file: String

    @Option(help: "The peer's SPIFFE ID.")
    var id: String

    func run() throws {
        let id = try QuarantineCommand.spiffeID(id)
        guard FileManager.default.fileExists(atPath: file) else {
            throw IdentityError(.io, "\(file) does not exist")
        }
        var found = false
        let list = try QuarantineStore.update(file) { list in found = list.lift(id) }
        guard found else {
            FileHandle.standardError.write(Data("fabricauth: \(id) is not in \(file)\n".utf8))
            throw ExitCode(1)
        }
        print("lifted \(id)")
        print("\(file): \(list.count) entries")
    }
}
