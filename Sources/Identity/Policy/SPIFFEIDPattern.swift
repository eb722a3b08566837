/// A SPIFFE ID pattern for policy rules: `spiffe://trust-domain/seg/*/seg/**`.
///
/// The trust domain is literal. The path is matched segment by segment (segments are what
/// SPIFFE-ID §2.2 separates by `/`):
/// - a segment that is exactly `*` matches exactly one segment, whatever it is;
/// - a segment that is exactly `**` matches any number of segments, zero included;
/// - any other segment must be a valid SPIFFE ID path segment and matches itself only
///   (case-sensitive). `*` inside a segment (`web-*`) is refused, not a partial glob.
///
/// So `spiffe://td/ns/*/sa/web` matches `spiffe://td/ns/prod/sa/web`, not `.../ns/a/b/sa/web`;
/// `spiffe://td/ns/**` matches `spiffe://td/ns`, `spiffe://td/ns/a` and `spiffe://td/ns/a/b`
/// (the same IDs as `prefix spiffe://td/ns`); `spiffe://td/**` matches every ID of `td`,
/// the trust domain's own ID `spiffe://td` included.
public struct SPIFFEIDPattern: Hashable, Sendable, CustomStringConvertible {
    /// One path segment of a pattern.
    public enum Segment: Hashable, Sendable {
        /// Matches this segment only.
        case literal(String)
        /// `*`: exactly one segment.
        case one
        /// `**`: zero or more segments.
        case any
    }

    /// The trust domain, matched exactly.
    public let trustDomain: String
    /// The path's segments.
    public let segments: [Segment]

    /// Parses a pattern; the error says which rule the text breaks.
    public init(_ string: String) throws(IdentityError) {
        func fail(_ why: String) -> IdentityError {
            IdentityError(.invalidSPIFFEID, "invalid SPIFFE ID pattern \(SPIFFEID.quoted(string)): \(why)")
        }
        guard string.utf8.count <= SPIFFEID.maximumLength else {
            throw fail("longer than \(SPIFFEID.maximumLength) bytes (SPIFFE-ID §2.3)")
        }
        guard string.hasPrefix("spiffe://") else { throw fail("scheme must be exactly \"spiffe://\" (SPIFFE-ID §2)") }
        let rest = string.dropFirst("spiffe://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let domain = String(rest[rest.startIndex..<slash])
        guard !domain.contains("*") else { throw fail("the trust domain cannot contain a wildcard; write it out") }
        let td: SPIFFEID
        do { td = try SPIFFEID(trustDomain: domain) } catch { throw fail(error.message) }
        var segments: [Segment] = []
        let path = rest[slash...]
        if !path.isEmpty {
            guard path != "/" else { throw fail("path must not end with \"/\" (SPIFFE-ID §2.2); use /** for every ID") }
            for segment in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                switch segment {
                case "*": segments.append(.one)
                case "**": segments.append(.any)
                default:
                    if segment.contains("*") {
                        throw fail("\"*\" must be a whole segment; \(SPIFFEID.quoted(String(segment))) mixes it with text")
                    }
                    // The literal must be a valid SPIFFE ID segment: reuse the ID parser's rules.
                    do { _ = try SPIFFEID("spiffe://\(td.trustDomain)/\(segment)") } catch { throw fail(error.message) }
                    segments.append(.literal(String(segment)))
                }
            }
        }
        self.trustDomain = td.trustDomain
        self.segments = segments
    }

    /// Whether the pattern has no wildcard (then it matches one ID only).
    public var isLiteral: Bool { segments.allSatisfy { if case .literal = $0 { true } else { false } } }

    /// The literal segments before the first wildcard, as a SPIFFE ID: every ID the pattern
    /// matches is this ID or lies below it.
    public var literalPrefix: SPIFFEID {
        var path = ""
        for segment in segments {
            guard case .literal(let text) = segment else { break }
            path += "/" + text
        }
        // Built from segments the parser validated, so this cannot fail.
        return (try? SPIFFEID("spiffe://\(trustDomain)\(path)"))!
    }

    /// Whether the pattern is "these literal segments, then `**`": it matches exactly the
    /// IDs a `prefix` rule on ``literalPrefix`` matches.
    public var isPrefixPattern: Bool {
        guard segments.last == .any else { return false }
        return segments.dropLast().allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// Whether `id` matches the pattern.
    public func matches(_ id: SPIFFEID) -> Bool {
        guard id.trustDomain == trustDomain else { return false }
        let path = id.path.isEmpty ? [] : id.path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        // Dynamic programming over (pattern position, path position): linear in their product,
        // so patterns with many `**` cannot make matching exponential.
        let n = path.count
        var reachable = [Bool](repeating: false, count: n + 1)  // path prefixes the pattern prefix can consume
        reachable[0] = true
        for segment in segments {
            var next = [Bool](repeating: false, count: n + 1)
            switch segment {
            case .any:
                var seen = false
                for j in 0...n {
                    seen = seen || reachable[j]
                    next[j] = seen
                }
            case .one:
                for j in 0..<n where reachable[j] { next[j + 1] = true }
            case .literal(let text):
                for j in 0..<n where reachable[j] && path[j] == text { next[j + 1] = true }
            }
            reachable = next
        }
        return reachable[n]
    }

    public var description: String {
        "spiffe://\(trustDomain)" + segments.map { segment in
            switch segment {
            case .literal(let text): "/" + text
            case .one: "/*"
            case .any: "/**"
            }
        }.joined()
    }
}
