import Foundation

/// Peers to isolate, by SPIFFE ID, each until an optional expiry: the shared
/// file an operator or an external detector writes, and every FabricAuth
/// process that watches it refuses and cuts off the peers it lists.
///
/// File format: the revocation list's (one entry per line; `#` starts a
/// comment; blank lines are ignored), with SPIFFE IDs as entries. The
/// comment after an entry is its reason:
/// ```
/// spiffe://cluster.example/node/7  until=2026-12-02T18:00:00Z  # forged grants (detector)
/// spiffe://cluster.example/node/9                                # no expiry: until lifted
/// ```
/// `until=` takes an RFC 3339 UTC time (`Z`, whole seconds). An entry whose
/// time has passed no longer isolates anyone; `fabricauth quarantine add`
/// drops such entries when it rewrites the file.
public struct QuarantineList: Sendable, Hashable {
    /// One isolated peer.
    public struct Entry: Sendable, Hashable {
        public var id: SPIFFEID
        /// When the quarantine ends; nil: when the entry is lifted.
        public var until: Date?
        /// Why (the line's comment), for logs.
        public var reason: String

        public init(id: SPIFFEID, until: Date?, reason: String) {
            self.id = id
            self.until = until
            self.reason = reason
        }

        /// Whether the entry still isolates its peer at `now`.
        public func isActive(at now: Date) -> Bool { until.map { now < $0 } ?? true }
    }

    /// The entries by SPIFFE ID.
    public private(set) var entries: [SPIFFEID: Entry] = [:]

    /// The empty list.
    public init() {}

    /// Parses the file format above; a bad line is an error naming its line
    /// number and what is wrong with it.
    public init(text: String) throws(IdentityError) {
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let parts = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
            let line = (parts.first ?? "").trimmingWhitespace()
            if line.isEmpty { continue }
            let reason = parts.count > 1 ? String(parts[1].trimmingWhitespace()) : ""
            func bad(_ why: String) -> IdentityError {
                IdentityError(.malformedQuarantineList, "line \(index + 1): \(why)")
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let id: SPIFFEID
            do {
                id = try SPIFFEID(String(fields[0])).requiringWorkload()
            } catch {
                throw bad("expected a workload SPIFFE ID (spiffe://DOMAIN/PATH): \(error.message)")
            }
            var until: Date?
            for field in fields.dropFirst() {
                guard field.hasPrefix("until=") else {
                    throw bad("unknown field \(SPIFFEID.quoted(String(field))); only until=TIME may follow the ID")
                }
                guard until == nil else { throw bad("until= given twice") }
                guard let date = Self.parseTime(String(field.dropFirst(6))) else {
                    throw bad("until= must be an RFC 3339 UTC time such as 2026-12-02T18:00:00Z, not \(SPIFFEID.quoted(String(field.dropFirst(6))))")
                }
                until = date
            }
            guard entries[id] == nil else { throw bad("\(id) is listed twice") }
            entries[id] = Entry(id: id, until: until, reason: reason)
        }
    }

    /// Adds or replaces the entry for `id`.
    public mutating func add(_ id: SPIFFEID, until: Date?, reason: String) {
        entries[id] = Entry(id: id, until: until, reason: reason)
    }

    /// Removes the entry for `id`; false when there was none.
    @discardableResult
    public mutating func lift(_ id: SPIFFEID) -> Bool {
        entries.removeValue(forKey: id) != nil
    }

    /// Drops entries whose time has passed at `now`.
    public mutating func removeExpired(at now: Date) {
        entries = entries.filter { $0.value.isActive(at: now) }
    }

    /// The entry isolating `id` at `now`, or nil.
    public func entry(for id: SPIFFEID, at now: Date) -> Entry? {
        guard let entry = entries[id], entry.isActive(at: now) else { return nil }
        return entry
    }

    /// Number of entries, expired ones included.
    public var count: Int { entries.count }

    /// The file format of this list, entries sorted by ID. A reason loses any
    /// line break (it would end the entry).
    public var text: String {
        var lines = ["# FabricAuth quarantine list: SPIFFE_ID [until=RFC3339_UTC] [# reason], one per line"]
        for entry in entries.values.sorted(by: { $0.id < $1.id }) {
            var line = entry.id.description
            if let until = entry.until { line += " until=\(Self.formatTime(until))" }
            let reason = entry.reason.split(whereSeparator: \.isNewline).joined(separator: " ")
            if !reason.isEmpty { line += "  # \(reason)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 3339 in UTC with whole seconds, the one form the file takes.
    public static func formatTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    static func parseTime(_ text: String) -> Date? {
        guard text.hasSuffix("Z") else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
