#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where the audit writer thread puts its lines; used by that thread only
/// (hence unchecked Sendable: it is handed to the thread once, at start).
///
/// A file is opened with O_APPEND and each line (with its newline) goes out
/// in one write(2), so a reader never sees part of a line unless the disk
/// filled. Rotation renames and never truncates: `PATH.(keep-1)` becomes
/// `PATH.keep` (rename(2) replaces the oldest), ..., `PATH` becomes `PATH.1`,
/// then a new `PATH` is created. A reader that follows the name (`tail -F`,
/// a log shipper) still holds the renamed file open, reads it to its end,
/// then opens the new `PATH`: no line is lost or split between two files.
final class AuditOutput: @unchecked Sendable {
    private enum Kind {
        case file(path: String, maxBytes: Int, keep: Int)
        case standardError
        case handler(@Sendable (String) -> Void)
    }

    private let kind: Kind
    let target: String
    private var fd: Int32 = -1
    private var size = 0

    init(_ destination: AuditLog.Destination) throws(AuditLogError) {
        switch destination {
        case .file(let pattern, let maxBytes, let keep):
            guard maxBytes > 0 else { throw AuditLogError("audit log: the size limit must be at least 1 byte, not \(maxBytes)") }
            guard keep >= 1 else { throw AuditLogError("audit log: keep at least 1 rotated file, not \(keep)") }
            guard !pattern.isEmpty, !pattern.hasSuffix("/") else {
                throw AuditLogError("audit log: \(pattern.isEmpty ? "empty path" : "\(pattern) is a directory"); name a file, e.g. /var/log/fabricauth/audit.jsonl")
            }
            let path = pattern.replacingOccurrences(of: "%p", with: String(getpid()))
            kind = .file(path: path, maxBytes: maxBytes, keep: keep)
            target = path
            try open(path)
        case .standardError:
            kind = .standardError
            target = "-"
        case .handler(let handler):
            kind = .handler(handler)
            target = "handler"
        }
    }

    private func open(_ path: String) throws(AuditLogError) {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw AuditLogError("audit log \(path): \(String(cString: strerror(errno))) (errno \(errno))")
        }
        var st = stat()
        size = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        self.fd = fd
    }

    /// Writes one line and its newline; false when it could not be written whole.
    func write(_ line: String) -> Bool {
        switch kind {
        case .handler(let handler):
            handler(line)
            return true
        case .standardError:
            return Self.writeAll(2, line + "\n")
        case .file(let path, let maxBytes, let keep):
            let text = line + "\n"
            let length = text.utf8.count
            if size > 0 && size + length > maxBytes { rotate(path, keep: keep) }
            guard fd >= 0 else {
                // A failed rotation or reopen: try again for this line.
                do throws(AuditLogError) { try open(path) } catch { return false }
                return write(line)
            }
            guard Self.writeAll(fd, text) else { return false }
            size += length
            return true
        }
    }

    private func rotate(_ path: String, keep: Int) {
        Glibc.close(fd)
        fd = -1
        var i = keep - 1
        while i >= 1 {
            // A missing PATH.i (fewer rotations so far) is fine: ENOENT.
            _ = rename("\(path).\(i)", "\(path).\(i + 1)")
            i -= 1
        }
        _ = rename(path, "\(path).1")
        do throws(AuditLogError) { try open(path) } catch {
            // fd stays -1: the next write tries to open again and counts a failure if it can't.
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}

/// Turns events into lines: the event's fields plus `v`, `ts`, `seq`, `pid`
/// and `event`, keys sorted, snake_case, no whitespace (JSONEncoder with
/// `.sortedKeys`), so equal events give equal lines.
struct AuditLineEncoder {
    /// The schema version every line carries as `v`.
    static let version = 1
    private let encoder: JSONEncoder
    private let pid = Int(getpid())

    init() {
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    func line(_ event: AuditEvent, time: AuditInstant, sequence: UInt64) -> String {
        let line = AuditLine(event: event, ts: time.iso8601, seq: sequence, pid: pid)
        do {
            return String(decoding: try encoder.encode(line), as: UTF8.self)
        } catch {
            // Every payload is strings, integers and finite numbers: encoding cannot fail.
            preconditionFailure("audit event \(event.name) did not encode: \(error)")
        }
    }
}

/// One line: the common fields, then the payload's fields in the same object.
struct AuditLine: Encodable {
    let event: AuditEvent
    let ts: String
    let seq: UInt64
    let pid: Int

    private enum Key: String, CodingKey { case v, ts, seq, pid, event }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(AuditLineEncoder.version, forKey: .v)
        try c.encode(ts, forKey: .ts)
        try c.encode(seq, forKey: .seq)
        try c.encode(pid, forKey: .pid)
        try c.encode(event.name, forKey: .event)
        // JSONEncoder merges a second keyed container of the same encoder into one object.
        switch event {
        case .handshake(let p): try p.encode(to: encoder)
        case .channelClosed(let p): try p.encode(to: encoder)
        case .epochChange(let p): try p.encode(to: encoder)
        case .reauthentication(let p): try p.encode(to: encoder)
        case .rejectedFrames(let p): try p.encode(to: encoder)
        case .listenerRefused(let p): try p.encode(to: encoder)
        case .reload(let p): try p.encode(to: encoder)
        case .quarantine(let p): try p.encode(to: encoder)
        case .fabricUnderAttack(let p): try p.encode(to: encoder)
        case .eventsDropped(let p): try p.encode(to: encoder)
        }
    }
}
