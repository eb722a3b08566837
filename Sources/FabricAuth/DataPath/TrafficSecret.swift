#if canImport(CSodium)
import CSodium
#endif
import Handshake  // HKDF (RFC 5869)

/// One epoch's 32-byte traffic secret, in memory of its own that is wiped
/// (sodium_memzero) when it is retired or released.
///
/// The chain, per direction, starting from the handshake's traffic secret:
///
///     secret_0     = handshake traffic secret for this direction
///     mac_key(e)   = HKDF-Expand(secret_e, "fabricauth gmac key", 32)        (AES-256-GMAC)
///                  = HKDF-Expand(secret_e, "fabricauth poly1305 key", 32)    (ChaCha20-Poly1305)
///     secret_{e+1} = HKDF-Expand(secret_e, "fabricauth next epoch", 32)
///
/// Both peers walk the chain on their own, so a rekey needs no message: the
/// receiver learns of it from the epoch field of an authentic frame. Knowing a
/// MAC key reveals neither secret_e nor later secrets (HKDF-Expand is a PRF).
///
/// Honesty about wiping: the secret lives only in this allocation and in
/// stack buffers that are zeroed after use, but Swift gives no guarantee that
/// a register spill or a caller's copy of the input bytes is wiped. Callers
/// should wipe the handshake's copy once the sender/receiver is built.
final class TrafficSecret {
    static let byteCount = 32
    static let macKeyLabel: StaticString = "fabricauth gmac key"
    static let polyKeyLabel: StaticString = "fabricauth poly1305 key"
    static let nextEpochLabel: StaticString = "fabricauth next epoch"

    private let bytes: UnsafeMutableRawPointer
    private(set) var isWiped = false

    init(copying secret: UnsafeRawBufferPointer) throws(DataPathError) {
        guard secret.count == Self.byteCount else { throw .invalidSecretLength(secret.count) }
        bytes = UnsafeMutableRawPointer.allocate(byteCount: Self.byteCount, alignment: 16)
        bytes.copyMemory(from: secret.baseAddress!, byteCount: Self.byteCount)
    }

    private init(derivingFrom parent: UnsafeRawBufferPointer) {
        bytes = UnsafeMutableRawPointer.allocate(byteCount: Self.byteCount, alignment: 16)
        HKDF.expand(
            prk: parent, label: Self.nextEpochLabel,
            into: UnsafeMutableRawBufferPointer(start: bytes, count: Self.byteCount))
    }

    private var buffer: UnsafeRawBufferPointer {
        precondition(!isWiped, "TrafficSecret used after it was wiped")
        return UnsafeRawBufferPointer(start: bytes, count: Self.byteCount)
    }

    /// secret_{e+1}.
    func next() -> TrafficSecret { TrafficSecret(derivingFrom: buffer) }

    /// Writes this epoch's 32-byte MAC key for `suite` into `key`.
    func deriveMACKey(suite: CipherSuite, into key: UnsafeMutableRawBufferPointer) {
        precondition(key.count == Self.byteCount)
        let label = suite == .aes256GMAC ? Self.macKeyLabel : Self.polyKeyLabel
        HKDF.expand(prk: buffer, label: label, into: key)
    }

    /// Zeroes the secret now (it is also zeroed on release).
    func wipe() {
        if !isWiped {
            sodium_memzero(bytes, Self.byteCount)
            isWiped = true
        }
    }

    deinit {
        sodium_memzero(bytes, Self.byteCount)
        bytes.deallocate()
    }
}
