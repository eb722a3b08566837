import CSodium

/// HKDF with HMAC-SHA-256 (RFC 5869), built on libsodium's crypto_auth_hmacsha256_*
/// (libsodium 1.0.18 has no crypto_kdf_hkdf). Public: the data path derives its
/// per-epoch GMAC keys with it (docs/protocol.md, "Data path").
public enum HKDF {
    public static let hashLength = 32

    /// HMAC-SHA-256 with a key of any length (libsodium "HMAC-SHA-2", multi-part API).
    public static func hmac(key: [UInt8], _ parts: [UInt8]...) -> [UInt8] {
        _ = sodiumReady
        var state = crypto_auth_hmacsha256_state()
        var out = [UInt8](repeating: 0, count: hashLength)
        var zero: UInt8 = 0  // an empty key has no base address; libsodium reads 0 bytes of this
        key.withUnsafeBufferPointer { k in
            if let base = k.baseAddress {
                _ = crypto_auth_hmacsha256_init(&state, base, k.count)
            } else {
                _ = crypto_auth_hmacsha256_init(&state, &zero, 0)
            }
        }
        for p in parts {
            p.withUnsafeBufferPointer { b in _ = crypto_auth_hmacsha256_update(&state, b.baseAddress, UInt64(b.count)) }
        }
        out.withUnsafeMutableBufferPointer { o in _ = crypto_auth_hmacsha256_final(&state, o.baseAddress!) }
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) }
        return out
    }

    /// RFC 5869 section 2.2: PRK = HMAC-Hash(salt, IKM); an absent salt is HashLen zeros.
    public static func extract(salt: [UInt8], ikm: [UInt8]) -> [UInt8] {
        hmac(key: salt.isEmpty ? [UInt8](repeating: 0, count: hashLength) : salt, ikm)
    }

    /// RFC 5869 section 2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = first L bytes.
    /// L is at most 255 * HashLen (traps otherwise: programmer error).
    public static func expand(prk: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length >= 0 && length <= 255 * hashLength, "HKDF-Expand length out of range")
        precondition(prk.count >= hashLength, "PRK shorter than HashLen")
        var okm: [UInt8] = []
        okm.reserveCapacity(length + hashLength)
        var t: [UInt8] = []
        var i: UInt8 = 1
        while okm.count < length {
            var next = hmac(key: prk, t, info, [i])
            t.wipe()
            t = next
            okm.append(contentsOf: next)
            next.wipe()
            i &+= 1
        }
        t.wipe()
        let out = Array(okm.prefix(length))
        okm.wipe()
        return out
    }

    /// Convenience: Expand with a UTF-8 label as info.
    public static func expand(prk: [UInt8], label: String, length: Int) -> [UInt8] {
        expand(prk: prk, info: Array(label.utf8), length: length)
    }

    /// Extract then Expand (RFC 5869 section 2).
    public static func deriveKey(salt: [UInt8], ikm: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        var prk = extract(salt: salt, ikm: ikm)
        defer { prk.wipe() }
        return expand(prk: prk, info: info, length: length)
    }
}
