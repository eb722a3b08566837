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

    /// RFC 5869 section 2.2 into `output` (32 bytes): PRK = HMAC-Hash(salt, IKM), with
    /// no array in between (the handshake's chaining key and PRKs live in SecretBytes).
    /// `salt` must not be empty (the handshake's salt is always a 32-byte chaining key).
    public static func extract(
        salt: UnsafeRawBufferPointer, ikm: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) {
        precondition(output.count == hashLength && salt.count > 0)
        _ = sodiumReady
        var state = crypto_auth_hmacsha256_state()
        _ = crypto_auth_hmacsha256_init(&state, salt.baseAddress!.assumingMemoryBound(to: UInt8.self), salt.count)
        if let base = ikm.baseAddress, ikm.count > 0 {
            _ = crypto_auth_hmacsha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(ikm.count))
        }
        _ = crypto_auth_hmacsha256_final(&state, output.baseAddress!.assumingMemoryBound(to: UInt8.self))
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) }
    }

    /// RFC 5869 section 2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = first L bytes.
    /// L is at most 255 * HashLen (traps otherwise: programmer error).
    public static func expand(prk: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length >= 0 && length <= 255 * hashLength, "HKDF-Expand length out of range")
        var okm = [UInt8](repeating: 0, count: length)
        prk.withUnsafeBytes { p in
            info.withUnsafeBytes { i in
                okm.withUnsafeMutableBytes { o in expand(prk: p, info: i, into: o) }
            }
        }
        return okm
    }

    // The data path derives a key per epoch with the two functions below: no
    // heap allocation, HMAC state and T(i) on the stack and wiped afterwards.
    //
    //   N = ceil(L / HashLen)
    //   T(0) = empty, T(i) = HMAC-Hash(PRK, T(i-1) | info | i)   for i = 1..N
    //   OKM = first L octets of T(1) | T(2) | ... | T(N)

    /// Fills `output` (L = output.count, at most 255 * 32 bytes) with
    /// HKDF-Expand(PRK = prk, info, L). RFC 5869 requires PRK to be at least
    /// HashLen bytes (a pseudorandom key, e.g. a handshake traffic secret).
    public static func expand(
        prk: UnsafeRawBufferPointer,
        info: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) {
        precondition(prk.count >= hashLength, "HKDF-Expand: PRK shorter than HashLen (RFC 5869 §2.3)")
        precondition(output.count <= 255 * hashLength, "HKDF-Expand: L > 255*HashLen (RFC 5869 §2.3)")
        guard output.count > 0 else { return }
        var state = crypto_auth_hmacsha256_state()
        var block: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // T(i), 32 bytes on the stack
        withUnsafeMutableBytes(of: &block) { t in
            let tp = t.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var produced = 0
            var counter: UInt8 = 1
            while produced < output.count {
                _ = crypto_auth_hmacsha256_init(
                    &state, prk.baseAddress!.assumingMemoryBound(to: UInt8.self), prk.count)
                if counter > 1 {
                    _ = crypto_auth_hmacsha256_update(&state, tp, UInt64(hashLength))
                }
                if info.count > 0 {
                    _ = crypto_auth_hmacsha256_update(
                        &state, info.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(info.count))
                }
                _ = crypto_auth_hmacsha256_update(&state, &counter, 1)
                _ = crypto_auth_hmacsha256_final(&state, tp)
                let n = min(hashLength, output.count - produced)
                (output.baseAddress! + produced).copyMemory(from: tp, byteCount: n)
                produced += n
                counter &+= 1
            }
            sodium_memzero(t.baseAddress!, t.count)
        }
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) }
    }

    /// HKDF-Expand with an ASCII label as info (no allocation: StaticString).
    public static func expand(
        prk: UnsafeRawBufferPointer,
        label: StaticString,
        into output: UnsafeMutableRawBufferPointer
    ) {
        expand(
            prk: prk,
            info: UnsafeRawBufferPointer(start: label.utf8Start, count: label.utf8CodeUnitCount),
            into: output)
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
