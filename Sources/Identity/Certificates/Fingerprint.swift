import Crypto

/// SHA-256 of a certificate's DER encoding: the certificate's name in revocation lists and logs.
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init(der: some Sequence<UInt8>) {
        self.bytes = Array(SHA256.hash(data: Array(der)))
    }

    /// Parses 64 hex digits, optionally with `:` separators (as `openssl x509 -fingerprint -sha256` prints).
    public init(hex: String) throws(IdentityError) {
        let digits = hex.filter { $0 != ":" }
        guard let bytes = Hex.decode(digits), bytes.count == 32 else {
            throw IdentityError(
                .malformedRevocationList,
                "fingerprint \(SPIFFEID.quoted(hex)) is not 32 bytes of hex (SHA-256 of the DER)"
            )
        }
        self.bytes = bytes
    }

    /// Hashes the digest as one block of bytes (the synthesized conformance feeds the
    /// hasher byte by byte, which dominated deny-list lookups).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public static func == (lhs: Fingerprint, rhs: Fingerprint) -> Bool { lhs.bytes == rhs.bytes }

    /// Lowercase hex, no separators.
    public var description: String { Hex.encode(bytes) }
}
