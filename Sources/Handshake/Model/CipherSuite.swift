import CSodium

/// The data path's per-message MAC, negotiated by the handshake (docs/protocol.md,
/// "Cipher-suite negotiation"). The handshake itself always uses
/// X25519 + ChaCha20-Poly1305 + SHA-256; the suite only names what the data path
/// does with the traffic secrets (values match the data path's MACSuite raw values). Unknown values received in M1 are ignored.
public struct CipherSuite: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// AES-256-GMAC, 16-byte tag (needs AES-NI / ARMv8 AES to be fast).
    public static let aes256GMAC = CipherSuite(rawValue: 0x01)
    /// Poly1305 with a per-frame one-time key from ChaCha20 (RFC 8439 section 2.6), 16-byte tag,
    /// for CPUs without AES instructions. Same value as the data path's `MACSuite.chacha20Poly1305`.
    public static let chacha20Poly1305MAC = CipherSuite(rawValue: 0x02)

    public static let known: [CipherSuite] = [.aes256GMAC, .chacha20Poly1305MAC]

    /// The suites this host's data path can run, fastest first: AES-256-GMAC only where
    /// libsodium's crypto_aead_aes256gcm_is_available() says AES-NI and PCLMULQDQ are present
    /// (the data path refuses suite 1 otherwise), then the ChaCha20-Poly1305 MAC, which runs anywhere.
    public static var defaultPreference: [CipherSuite] {
        _ = sodiumReady
        return crypto_aead_aes256gcm_is_available() != 0 ? [.aes256GMAC, .chacha20Poly1305MAC] : [.chacha20Poly1305MAC]
    }

    public var description: String {
        switch self {
        case .aes256GMAC: "AES-256-GMAC"
        case .chacha20Poly1305MAC: "ChaCha20-Poly1305-MAC"
        default: "suite(0x\(String(rawValue, radix: 16)))"
        }
    }
}
