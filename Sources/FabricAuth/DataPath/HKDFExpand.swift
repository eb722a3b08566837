#if canImport(CSodium)
import CSodium
#endif

// HKDF-Expand with HMAC-SHA256 (RFC 5869 §2.3), over libsodium's
// crypto_auth_hmacsha256_init/update/final (libsodium docs, "HMAC-SHA-2").
//
// NOTE: this duplicates the HKDF the handshake engineer writes in
// Sources/Handshake/KeyDerivation/; it exists so the data path did not block on
// it. Merge the two (keep one, test it against RFC 5869 A.1-A.3) when both land.
//
//   N = ceil(L / HashLen)
//   T(0) = empty, T(i) = HMAC-Hash(PRK, T(i-1) | info | i)   for i = 1..N
//   OKM = first L octets of T(1) | T(2) | ... | T(N)
//
// No heap allocation: the HMAC state and T(i) live on the stack and are wiped.

enum HKDF {
    static let hashLength = 32

    /// Fills `output` (L = output.count, at most 255 * 32 bytes) with
    /// HKDF-Expand(PRK = prk, info, L). RFC 5869 requires PRK to be at least
    /// HashLen bytes (a pseudorandom key, e.g. a handshake traffic secret).
    static func expand(
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
    static func expand(
        prk: UnsafeRawBufferPointer,
        label: StaticString,
        into output: UnsafeMutableRawBufferPointer
    ) {
        expand(
            prk: prk,
            info: UnsafeRawBufferPointer(start: label.utf8Start, count: label.utf8CodeUnitCount),
            into: output)
    }
}
