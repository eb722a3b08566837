import CSodium

// Thin seams over the libsodium calls the handshake makes (libsodium docs:
// "Usage", "Point*scalar multiplication", "ChaCha20-Poly1305 / IETF", "SHA-2",
// "Helpers: sodium_memzero"). Programmer errors trap; bad input returns an error.

/// libsodium's start-up, one policy for the whole package. sodium_init() runs
/// once per process (libsodium docs, "Usage": before any other call; safe to
/// call more than once and from several threads; it fails only when the
/// system's random source cannot be used). A failure is reported as an error
/// by every entry point that needs libsodium -- the handshake as
/// `.localConfiguration`, the data path as `.sodiumUnavailable` -- never as a
/// trap, so a process (an NCCL plug-in inside a training job) can say why and
/// go on without FabricAuth.
public enum Libsodium {
    /// Whether sodium_init() succeeded (Swift runs a global's initialiser lazily and exactly once).
    public static let isReady: Bool = sodium_init() >= 0
}

/// Touching this runs sodium_init() (the result is checked where it matters).
var sodiumReady: Void { _ = Libsodium.isReady }

extension Array where Element == UInt8 {
    /// Overwrites this array's storage with zeros (sodium_memzero cannot be optimised away).
    ///
    /// Honest limit: Swift arrays are copy-on-write values. If this buffer is shared
    /// with another copy, `withUnsafeMutableBytes` first makes a private copy and wipes
    /// only that; earlier copies (and any buffer freed by a resize) are not wiped. The
    /// handshake keeps each secret in one uniquely referenced array and wipes it, but
    /// cannot promise that no transient copy ever existed.
    mutating func wipe() {
        withUnsafeMutableBytes { buf in
            if let base = buf.baseAddress, buf.count > 0 { sodium_memzero(base, buf.count) }
        }
    }

    /// Constant-time equality for same-length secrets/public values (sodium_memcmp).
    func constantTimeEquals(_ other: [UInt8]) -> Bool {
        guard count == other.count else { return false }
        if isEmpty { return true }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
    }
}

enum Sodium {
    /// SHA-256 (libsodium crypto_hash_sha256).
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { d in _ = crypto_hash_sha256(o.baseAddress!, d.baseAddress, UInt64(d.count)) }
        }
        return out
    }

    /// SHA-256 of `data` into `output` (32 bytes).
    static func sha256(_ data: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count == Int(crypto_hash_sha256_BYTES))
        _ = crypto_hash_sha256(output.baseAddress!.assumingMemoryBound(to: UInt8.self),
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
    }

    /// X25519 key pair (RFC 7748 section 5; libsodium clamps the scalar). The 32 random
    /// bytes are drawn straight into the secret's own memory: no array copy exists.
    static func x25519KeyPair(random: any RandomSource) -> (secret: SecretBytes, publicKey: [UInt8]) {
        let sk = SecretBytes(count: Int(crypto_scalarmult_SCALARBYTES))
        sk.withUnsafeMutableBytes { random.fill($0) }
        var pk = [UInt8](repeating: 0, count: Int(crypto_scalarmult_BYTES))
        pk.withUnsafeMutableBufferPointer { p in
            sk.withUnsafeBytes { s in _ = crypto_scalarmult_base(p.baseAddress!, s.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        }
        return (sk, pk)
    }

    /// X25519 (RFC 7748 section 5) into a new secret. libsodium returns -1 when the result
    /// is all zeros, i.e. the peer sent a low-order point; RFC 7748 section 6.1 says to abort then.
    static func x25519(secret: SecretBytes, peer: [UInt8]) throws(HandshakeError) -> SecretBytes {
        precondition(secret.count == 32 && peer.count == 32)
        let out = SecretBytes(count: 32)
        let rc = out.withUnsafeMutableBytes { o in
            secret.withUnsafeBytes { s in
                peer.withUnsafeBufferPointer { p in
                    crypto_scalarmult(o.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self), p.baseAddress!)
                }
            }
        }
        guard rc == 0 else {
            out.wipe()
            throw HandshakeError(.invalidPublicKey, "X25519 output is all zeros")
        }
        return out
    }

    /// Noise rev 34 section 12.3 ChaChaPoly nonce: 32 zero bits then the 64-bit counter little-endian.
    private static func nonce(_ n: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { out[4 + i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) }
        return out
    }

    static func seal(key: SecretBytes, nonce n: UInt64, ad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        ad.withUnsafeBytes { a in key.withUnsafeBytes { seal(key: $0, nonce: n, ad: a, plaintext: plaintext) } }
    }

    static func seal(key: SecretBytes, nonce n: UInt64, ad: UnsafeRawBufferPointer, plaintext: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { seal(key: $0, nonce: n, ad: ad, plaintext: plaintext) }
    }

    static func seal(key: [UInt8], nonce n: UInt64, ad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        ad.withUnsafeBytes { a in key.withUnsafeBytes { seal(key: $0, nonce: n, ad: a, plaintext: plaintext) } }
    }

    /// ChaCha20-Poly1305 IETF encrypt (libsodium crypto_aead_chacha20poly1305_ietf_encrypt, RFC 8439).
    static func seal(key: UnsafeRawBufferPointer, nonce n: UInt64, ad: UnsafeRawBufferPointer, plaintext: [UInt8]) -> [UInt8] {
        precondition(key.count == 32)
        let npub = nonce(n)
        var out = [UInt8](repeating: 0, count: plaintext.count + Int(crypto_aead_chacha20poly1305_ietf_ABYTES))
        var outLen: UInt64 = 0
        out.withUnsafeMutableBufferPointer { o in
            plaintext.withUnsafeBufferPointer { m in
                npub.withUnsafeBufferPointer { np in
                    _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                        o.baseAddress!, &outLen, m.baseAddress, UInt64(m.count),
                        ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil, np.baseAddress!,
                        key.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        precondition(Int(outLen) == out.count)
        return out
    }

    static func open(key: SecretBytes, nonce n: UInt64, ad: [UInt8], ciphertext: ArraySlice<UInt8>) -> [UInt8]? {
        ad.withUnsafeBytes { a in key.withUnsafeBytes { open(key: $0, nonce: n, ad: a, ciphertext: ciphertext) } }
    }

    static func open(key: SecretBytes, nonce n: UInt64, ad: UnsafeRawBufferPointer, ciphertext: ArraySlice<UInt8>) -> [UInt8]? {
        key.withUnsafeBytes { open(key: $0, nonce: n, ad: ad, ciphertext: ciphertext) }
    }

    static func open(key: [UInt8], nonce n: UInt64, ad: [UInt8], ciphertext: ArraySlice<UInt8>) -> [UInt8]? {
        ad.withUnsafeBytes { a in key.withUnsafeBytes { open(key: $0, nonce: n, ad: a, ciphertext: ciphertext) } }
    }

    /// ChaCha20-Poly1305 IETF decrypt; nil when the tag does not verify.
    static func open(key: UnsafeRawBufferPointer, nonce n: UInt64, ad: UnsafeRawBufferPointer, ciphertext: ArraySlice<UInt8>) -> [UInt8]? {
        precondition(key.count == 32)
        let tag = Int(crypto_aead_chacha20poly1305_ietf_ABYTES)
        guard ciphertext.count >= tag else { return nil }
        let npub = nonce(n)
        var out = [UInt8](repeating: 0, count: ciphertext.count - tag)
        var outLen: UInt64 = 0
        let rc = out.withUnsafeMutableBufferPointer { o in
            ciphertext.withUnsafeBufferPointer { c in
                npub.withUnsafeBufferPointer { np in
                    // `o.baseAddress` may be nil for an empty plaintext; libsodium
                    // writes nothing then, but wants a pointer: give it a scratch byte.
                    var scratch: UInt8 = 0
                    return withUnsafeMutablePointer(to: &scratch) { sp in
                        crypto_aead_chacha20poly1305_ietf_decrypt(
                            o.baseAddress ?? sp, &outLen, nil, c.baseAddress!, UInt64(c.count),
                            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), np.baseAddress!,
                            key.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        guard rc == 0 else { return nil }
        return out
    }
}
