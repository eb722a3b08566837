import Handshake
/// Errors of the data path's setup and send side. Receive-side rejections are
/// not errors but results (`OpenResult.rejected`), as in swift-certificates'
/// verifier: "not authentic" is an expected outcome, not an exception.
public enum DataPathError: Error, Sendable, Equatable {
    /// sodium_init() failed.
    case sodiumUnavailable
    /// The suite can't run on this CPU: AES-256-GMAC needs AES-NI and PCLMUL
    /// (crypto_aead_aes256gcm_is_available() == 0). Negotiate .chacha20Poly1305.
    case suiteUnavailable(CipherSuite)
    /// Traffic secrets are 32 bytes.
    case invalidSecretLength(Int)
    /// A configuration value is out of range (the field is named).
    case invalidConfiguration(field: StaticString)
    /// The caller's frame buffer can't hold header + payload + tag.
    case frameTooSmall(required: Int, available: Int)
    /// The payload is longer than the configured maximum.
    case payloadTooLarge(Int)
    /// The last epoch (DataPathLimits.maxEpoch) is used up: a new handshake is needed.
    case epochsExhausted
    /// Memory for key state could not be allocated.
    case allocationFailed
    /// The configured MAC engine can't run here (ipsec-mb without its
    /// VAES/AVX-512 code, MACEngine.isAvailable); use MACEngine.selected.
    case macEngineUnavailable(MACEngine)
    /// A re-authentication's new receive key was to follow an epoch that is not
    /// the receiver's current one (docs/protocol.md section 14.4): the channel closes.
    case reauthenticationOutOfOrder(carrierEpoch: UInt32, currentEpoch: UInt32)

    public static func == (a: DataPathError, b: DataPathError) -> Bool {
        switch (a, b) {
        case (.sodiumUnavailable, .sodiumUnavailable), (.epochsExhausted, .epochsExhausted),
             (.allocationFailed, .allocationFailed):
            return true
        case let (.suiteUnavailable(x), .suiteUnavailable(y)): return x == y
        case let (.invalidSecretLength(x), .invalidSecretLength(y)): return x == y
        case let (.invalidConfiguration(x), .invalidConfiguration(y)):
            return x.description == y.description
        case let (.frameTooSmall(r1, a1), .frameTooSmall(r2, a2)): return r1 == r2 && a1 == a2
        case let (.payloadTooLarge(x), .payloadTooLarge(y)): return x == y
        case let (.macEngineUnavailable(x), .macEngineUnavailable(y)): return x == y
        case let (.reauthenticationOutOfOrder(a1, b1), .reauthenticationOutOfOrder(a2, b2)): return a1 == a2 && b1 == b2
        default: return false
        }
    }
}
