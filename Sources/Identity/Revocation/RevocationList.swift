/// An immutable deny list: certificate fingerprints (SHA-256 of the DER) and serial numbers.
///
/// File format, one entry per line; `#` starts a comment; blank lines are ignored:
/// ```
/// sha256:3f2a…(64 hex digits, ':' separators allowed)   # compromised node
/// serial:7a3f0c…                                        # serial, hex, as `openssl x509 -serial` prints it
/// ```
/// A serial entry matches that serial under *any* trusted CA: serials are only unique per
/// issuer, so this errs toward revoking too much. Prefer fingerprints; FabricAuth's own CA
/// uses 128-bit random serials (RFC 5280 §4.1.2.2 allows up to 20 octets).
public struct RevocationList: Sendable, Hashable {
    /// Revoked certificate fingerprints, with the line that revoked each (for logs).
    public private(set) var fingerprints: [Fingerprint: String] = [:]
    /// Revoked serial numbers (leading zero bytes removed), with their lines.
    public private(set) var serials: [[UInt8]: String] = [:]

    /// The empty list.
    public init() {}

    /// Parses the file format above; any bad line is an error naming its line number.
    public init(text: String) throws(IdentityError) {
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let line = content.trimmingWhitespace()
            if line.isEmpty { continue }
            let entry = String(line)
            func bad(_ why: String) -> IdentityError {
                IdentityError(.malformedRevocationList, "line \(index + 1): \(why): \(SPIFFEID.quoted(entry))")
            }
            if line.hasPrefix("sha256:") {
                do {
                    add(fingerprint: try Fingerprint(hex: String(line.dropFirst(7))), entry: entry)
                } catch {
                    throw bad("fingerprint must be 64 hex digits")
                }
            } else if line.hasPrefix("serial:") {
                let digits = line.dropFirst(7).filter { $0 != ":" }
                let padded = digits.count % 2 == 1 ? "0" + digits : String(digits)
                // At most 20 octets of magnitude (RFC 5280 §4.1.2.2); a leading 00, as DER adds
                // to serials with the high bit set and openssl prints, does not count.
                guard let bytes = Hex.decode(padded), Self.normalize(bytes).count <= 20 else {
                    throw bad("serial must be 1 to 20 bytes of hex (RFC 5280 §4.1.2.2)")
                }
                add(serial: bytes, entry: entry)
            } else {
                throw bad("expected \"sha256:HEX\" or \"serial:HEX\"")
            }
        }
    }

    /// Adds a fingerprint entry.
    public mutating func add(fingerprint: Fingerprint, entry: String? = nil) {
        fingerprints[fingerprint] = entry ?? "sha256:\(fingerprint)"
    }

    /// Adds a serial-number entry.
    public mutating func add(serial: [UInt8], entry: String? = nil) {
        let normalized = Self.normalize(serial)
        serials[normalized] = entry ?? "serial:\(Hex.encode(normalized))"
    }

    /// Number of entries.
    public var count: Int { fingerprints.count + serials.count }

    /// The first revoked certificate of a chain (leaf first), or nil.
    public func check(fingerprints chain: [Fingerprint], serials chainSerials: [[UInt8]]) -> Rejection? {
        for (position, fingerprint) in chain.enumerated() {
            if let entry = fingerprints[fingerprint] {
                return .revoked(position: position, fingerprint: fingerprint, entry: entry)
            }
            if position < chainSerials.count, let entry = serials[Self.normalize(chainSerials[position])] {
                return .revoked(position: position, fingerprint: fingerprint, entry: entry)
            }
        }
        return nil
    }

    /// Whether an already verified identity (its whole chain) is revoked: cheap, for rekey and resumption.
    public func check(_ identity: WorkloadIdentity) -> Rejection? {
        check(fingerprints: identity.chainFingerprints, serials: identity.chainSerials)
    }

    /// The file format of this list.
    public var text: String {
        var lines = ["# FabricAuth revocation list: sha256:FINGERPRINT or serial:HEX, one per line"]
        lines += fingerprints.keys.map { "sha256:\($0)" }.sorted()
        lines += serials.keys.map { "serial:\(Hex.encode($0))" }.sorted()
        return lines.joined(separator: "\n") + "\n"
    }

    static func normalize(_ serial: [UInt8]) -> [UInt8] {
        if let first = serial.first, first != 0 { return serial }  // common case: no copy
        let trimmed = serial.drop(while: { $0 == 0 })
        return trimmed.isEmpty ? [0] : Array(trimmed)
    }
}

extension Substring {
    /// Drops leading and trailing spaces, tabs and carriage returns.
    func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[first...last]
    }
}
