import CSodium

/// The data path's per-message MAC: the one suite type of the package, negotiated by
/// the handshake (docs/protocol.md, "Cipher-suite negotiation") and carried in every
/// data-path frame header. The handshake itself always uses X25519 +
/// ChaCha20-Poly1305 + SHA-256; the suite names what the data path does with the
/// traffic secrets (its constructions: FabricAuth's CipherSuite+DataPath.swift).
/// A struct, not an enum, because the wire can carry values this build does not
/// know: unknown values received in M1 are ignored, and a frame naming one is
/// malformed.
public struct CipherSuite: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// AES-256-GMAC, 16-byte tag (needs AES-NI / ARMv8 AES to be fast).
    public static let aes256GMAC = CipherSuite(rawValue: 0x01)
    /// Poly1305 with a per-frame one-time key from ChaCha20 (RFC 8439 section 2.6), 16-byte tag,
    /// for CPUs without AES instructions.
    public static let chacha20Poly1305 = CipherSuite(rawValue: 0x02)

    public static let known: [CipherSuite] = [.aes256GMAC, .chacha20Poly1305]

    /// Whether this build implements the suite.
    public var isKnown: Bool { Self.known.contains(self) }

    /// Whether this host's data path can run the suite: AES-256-GMAC needs AES-NI and
    /// PCLMULQDQ (libsodium's crypto_aead_aes256gcm_is_available(); libsodium docs,
    /// "AES256-GCM"); the ChaCha20-Poly1305 MAC runs anywhere; unknown suites nowhere.
    public var isAvailable: Bool {
        guard Libsodium.isReady else { return false }
        switch self {
        case .aes256GMAC: return crypto_aead_aes256gcm_is_available() != 0
        case .chacha20Poly1305: return true
        default: return false
        }
    }

    /// The suites this host's data path can run, fastest first: AES-256-GMAC only where
    /// libsodium's crypto_aead_aes256gcm_is_available() says AES-NI and PCLMULQDQ are present
    /// (the data path refuses suite 1 otherwise), then the ChaCha20-Poly1305 MAC, which runs anywhere.
    public static var defaultPreference: [CipherSuite] { known.filter(\.isAvailable) }

    public var description: String {
        switch self {
        case .aes256GMAC: "AES-256-GMAC"
        case .chacha20Poly1305: "ChaCha20-Poly1305-MAC"
        default: "suite(0x\(String(rawValue, radix: 16)))"
        }
    }
}
