import CSodium

/// The data path's per-message MAC, negotiated by the handshake (docs/protocol.md,
/// "Cipher-suite negotiation"). The handshake itself always uses
/// X25519 + ChaCha20-Poly1305 + SHA-256; the suite only names what the data path
/// does with the traffic secrets. Unknown values received in M1 are ignored.
public struct CipherSuite: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// AES-256-GMAC, 16-byte tag (needs AES-NI / ARMv8 AES to be fast).
    public static let aes256GMAC = CipherSuite(rawValue: 0x01)
    /// Keyed BLAKE2b with a 16-byte output (libsodium crypto_generichash) for CPUs without AES instructions.
    public static let blake2bMAC128 = CipherSuite(rawValue: 0x02)

    public static let known: [CipherSuite] = [.aes256GMAC, .blake2bMAC128]

    /// Both suites, the fast one on this CPU first
    /// (libsodium: crypto_aead_aes256gcm_is_available() says whether AES-NI+PCLMUL are present).
    public static var defaultPreference: [CipherSuite] {
        _ = sodiumReady
        return crypto_aead_aes256gcm_is_available() != 0 ? [.aes256GMAC, .blake2bMAC128] : [.blake2bMAC128, .aes256GMAC]
    }

    public var description: String {
        switch self {
        case .aes256GMAC: "AES-256-GMAC"
        case .blake2bMAC128: "BLAKE2b-MAC-128"
        default: "suite(0x\(String(rawValue, radix: 16)))"
        }
    }
}
