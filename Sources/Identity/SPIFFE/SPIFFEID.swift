/// A SPIFFE ID: `spiffe://trust-domain/path`.
///
/// Parsing follows the SPIFFE-ID specification (SPIFFE-ID.md) strictly, because the
/// ID is what authorization decisions are made on and two spellings of one ID must
/// never compare differently:
/// - §2: the scheme is exactly `spiffe` (lowercase); the whole ID is at most 2048 bytes.
/// - §2.1: the trust domain is non-empty, made of lowercase letters, digits, `.`, `-`
///   and `_`; no userinfo, no port, at most 255 bytes.
/// - §2.2: the path is `/segment/...`: no empty segment, no `.`/`..` segment, no
///   trailing slash; segment characters are letters, digits, `.`, `-` and `_`.
/// - §2 also forbids query and fragment components.
/// An X.509-SVID additionally needs a non-root path (X509-SVID §2); see ``requiringWorkload()``.
public struct SPIFFEID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The trust domain name (`example.org`).
    public let trustDomain: String
    /// The path, starting with `/`, or empty for the trust domain's own ID.
    public let path: String

    /// Maximum length of a SPIFFE ID in bytes (SPIFFE-ID §2.3 recommends 2048).
    public static let maximumLength = 2048
    /// Maximum trust-domain length in bytes (SPIFFE-ID §2.1, the DNS limit).
    public static let maximumTrustDomainLength = 255

    /// Parses and validates `string`, throwing ``IdentityError`` (code `.invalidSPIFFEID`) naming the rule broken.
    public init(_ string: String) throws(IdentityError) {
        let bytes = Array(string.utf8)
        func fail(_ rule: String) -> IdentityError {
            IdentityError(.invalidSPIFFEID, "invalid SPIFFE ID \(SPIFFEID.quoted(string)): \(rule)")
        }
        guard bytes.count <= Self.maximumLength else {
            throw fail("longer than \(Self.maximumLength) bytes (SPIFFE-ID §2.3)")
        }
        let scheme = Array("spiffe://".utf8)
        guard bytes.starts(with: scheme) else {
            throw fail("scheme must be exactly \"spiffe://\" (SPIFFE-ID §2)")
        }
        let rest = bytes[scheme.count...]
        let slash = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        let domain = rest[rest.startIndex..<slash]
        let path = rest[slash...]
        guard !domain.isEmpty else { throw fail("trust domain is empty (SPIFFE-ID §2.1)") }
        guard domain.count <= Self.maximumTrustDomainLength else {
            throw fail("trust domain longer than \(Self.maximumTrustDomainLength) bytes (SPIFFE-ID §2.1)")
        }
        for byte in domain {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            case UInt8(ascii: ":"):
                throw fail("trust domain must not contain a port (SPIFFE-ID §2.1)")
            case UInt8(ascii: "@"):
                throw fail("trust domain must not contain userinfo (SPIFFE-ID §2.1)")
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                throw fail("trust domain must be lowercase (SPIFFE-ID §2.1)")
            case UInt8(ascii: "?"), UInt8(ascii: "#"):
                throw fail("query and fragment are not allowed (SPIFFE-ID §2)")
            default:
                throw fail("trust domain contains a character outside [a-z0-9._-] (SPIFFE-ID §2.1)")
            }
        }
        if !path.isEmpty {
            guard path.last != UInt8(ascii: "/") else {
                throw fail("path must not end with \"/\" (SPIFFE-ID §2.2)")
            }
            // Split after the leading "/" and check each segment.
            let segments = path.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            for segment in segments {
                guard !segment.isEmpty else { throw fail("path has an empty segment (SPIFFE-ID §2.2)") }
                if segment.elementsEqual([UInt8(ascii: ".")]) || segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                    throw fail("path has a \".\" or \"..\" segment (SPIFFE-ID §2.2)")
                }
                for byte in segment {
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                        continue
                    case UInt8(ascii: "?"), UInt8(ascii: "#"):
                        throw fail("query and fragment are not allowed (SPIFFE-ID §2)")
                    default:
                        throw fail("path contains a character outside [A-Za-z0-9._-] (SPIFFE-ID §2.2)")
                    }
                }
            }
        }
        // Every byte checked above is ASCII, so these conversions cannot fail.
        self.trustDomain = String(decoding: domain, as: UTF8.self)
        self.path = String(decoding: path, as: UTF8.self)
    }

    /// The ID of the trust domain itself (`spiffe://example.org`), used by trust-domain policy rules.
    public init(trustDomain: String) throws(IdentityError) {
        let parsed = try SPIFFEID("spiffe://" + trustDomain)
        guard parsed.path.isEmpty else {
            throw IdentityError(.invalidSPIFFEID, "trust domain \(SPIFFEID.quoted(trustDomain)) must not contain a path")
        }
        self = parsed
    }

    /// Returns `self` if it names a workload (non-root path), as an X.509-SVID requires (X509-SVID §2).
    public func requiringWorkload() throws(IdentityError) -> SPIFFEID {
        guard !path.isEmpty else {
            throw IdentityError(
                .invalidSPIFFEID,
                "SPIFFE ID \(description) has no path; an X.509-SVID must name a workload, not a trust domain (X509-SVID §2)"
            )
        }
        return self
    }

    public var description: String { "spiffe://\(trustDomain)\(path)" }

    /// Whether `self` is `prefix` or lies below it, segment-wise (`/ns/prod` covers `/ns/prod/web` but not `/ns/production`).
    public func isEqualOrBelow(_ prefix: SPIFFEID) -> Bool {
        guard trustDomain == prefix.trustDomain else { return false }
        if prefix.path.isEmpty || path == prefix.path { return true }
        return path.hasPrefix(prefix.path + "/")
    }

    public static func < (lhs: SPIFFEID, rhs: SPIFFEID) -> Bool { lhs.description < rhs.description }

    /// Quotes untrusted input for error messages, escaping control and non-ASCII bytes and capping the length.
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars.prefix(200) {
            out += scalar.isASCII && scalar.value >= 0x20 && scalar.value != 0x7F
                ? String(scalar) : scalar.escaped(asASCII: true)
        }
        if string.unicodeScalars.count > 200 { out += "…" }
        return out + "\""
    }
}
