#if canImport(CSodium)
import CSodium
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The MAC key of one epoch of one direction, expanded once (allocation and key
/// schedule per epoch, never per message) and wiped on release.
///
/// AES-256-GMAC: crypto_aead_aes256gcm_beforenm expands the AES key schedule
/// and the GHASH key H = AES_K(0^128) (NIST SP 800-38D §6.4 step 1) into a
/// crypto_aead_aes256gcm_state, which libsodium requires to be 16-byte aligned
/// (libsodium docs, "AES256-GCM", "Precalculation interface"). Each tag is then
/// crypto_aead_aes256gcm_encrypt_detached_afternm with mlen = 0 and
/// ad = header || payload: GCM-AE(K, IV, P = empty, A) whose output is just the
/// tag T = GCTR_K(J0, GHASH_H(A || 0^v || [len(A)]64 || [0]64)) (§7.1) -- GMAC.
///
/// ChaCha20-Poly1305: the state holds the 32-byte ChaCha20 key; see MACSuite.
final class EpochKey {
    let suite: MACSuite
    let epoch: UInt32
    private let state: UnsafeMutableRawPointer
    private let stateSize: Int

    /// Derives mac_key(epoch) from `secret` and expands it.
    init(suite: MACSuite, epoch: UInt32, secret: TrafficSecret) throws(DataPathError) {
        guard sodiumInitialized else { throw .sodiumUnavailable }
        guard suite.isAvailable else { throw .suiteUnavailable(suite) }
        self.suite = suite
        self.epoch = epoch
        switch suite {
        case .aes256GMAC: stateSize = crypto_aead_aes256gcm_statebytes()  // 512
        case .chacha20Poly1305: stateSize = Int(crypto_stream_chacha20_ietf_KEYBYTES)
        }
        // 64-byte alignment (cache line) satisfies the 16 that libsodium requires.
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, stateSize) == 0, let raw else { throw .allocationFailed }
        state = raw
        var key: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes on the stack
        withUnsafeMutableBytes(of: &key) { k in
            secret.deriveMACKey(suite: suite, into: k)
            switch suite {
            case .aes256GMAC:
                _ = crypto_aead_aes256gcm_beforenm(
                    state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            case .chacha20Poly1305:
                state.copyMemory(from: k.baseAddress!, byteCount: k.count)
            }
            sodium_memzero(k.baseAddress!, k.count)
        }
    }

    /// Test seam: a key from raw 32 bytes (known-answer tests), bypassing HKDF.
    init(suite: MACSuite, rawKey: UnsafeRawBufferPointer) throws(DataPathError) {
        guard sodiumInitialized else { throw .sodiumUnavailable }
        guard suite.isAvailable else { throw .suiteUnavailable(suite) }
        guard rawKey.count == 32 else { throw .invalidSecretLength(rawKey.count) }
        self.suite = suite
        self.epoch = 0
        switch suite {
        case .aes256GMAC: stateSize = crypto_aead_aes256gcm_statebytes()
        case .chacha20Poly1305: stateSize = 32
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, stateSize) == 0, let raw else { throw .allocationFailed }
        state = raw
        switch suite {
        case .aes256GMAC:
            _ = crypto_aead_aes256gcm_beforenm(
                state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self),
                rawKey.baseAddress!.assumingMemoryBound(to: UInt8.self))
        case .chacha20Poly1305:
            state.copyMemory(from: rawKey.baseAddress!, byteCount: 32)
        }
    }

    deinit {
        sodium_memzero(state, stateSize)
        free(state)
    }

    /// The ChaCha20 suite's one-time Poly1305 key for `nonce`: the first 32
    /// bytes of ChaCha20 under the epoch key, block counter 0 (RFC 8439 §2.6),
    /// on the stack and wiped after `body`.
    @inline(__always)
    private func withOneTimeKey<R>(nonce: UnsafePointer<UInt8>, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        var otk: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &otk) { o in
            let op = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
            _ = crypto_stream_chacha20_ietf(op, 32, nonce, UnsafePointer(state.assumingMemoryBound(to: UInt8.self)))
            defer { sodium_memzero(op, 32) }
            return body(UnsafePointer(op))
        }
    }

    /// Writes the 16-byte tag over `data` (header || payload) to `tag`.
    @inline(__always)
    func computeTag(nonce: UnsafeRawPointer, data: UnsafeRawPointer, count: Int, tag: UnsafeMutableRawPointer) {
        let t = tag.assumingMemoryBound(to: UInt8.self)
        let d = data.assumingMemoryBound(to: UInt8.self)
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        switch suite {
        case .aes256GMAC:
            // c must be non-null but is not written when mlen == 0.
            _ = crypto_aead_aes256gcm_encrypt_detached_afternm(
                t, t, nil, nil, 0, d, UInt64(count), nil, n,
                UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)))
        case .chacha20Poly1305:
            withOneTimeKey(nonce: n) { otk in _ = crypto_onetimeauth(t, d, UInt64(count), otk) }
        }
    }

    /// Writes the 16-byte tag of a detached message: the 40-byte `header` lives
    /// apart from the `count` payload bytes (an RDMA WRITE's payload sits in
    /// the application's registered memory, the header in a notice; see
    /// docs/protocol.md "RDMA WRITE and READ").
    ///
    /// AES-256-GMAC: libsodium's GCM takes the associated data in one piece, so
    /// the payload is the associated data and the header is GCM's plaintext:
    /// T = GCM-AE(K, IV, P = header, A = payload).tag (NIST SP 800-38D §7.1).
    /// The ciphertext of the header is never sent (the receiver rebuilds the
    /// header and recomputes T); the tag still covers every header bit, because
    /// GCTR is a bijection on P under a fixed IV and T covers C. The length
    /// block differs from a SEND frame's (len(C) = 320, not 0), so a detached
    /// tag can never stand in for a contiguous one. Standard AES-256-GCM: a NIC
    /// engine computes the same tag.
    ///
    /// ChaCha20-Poly1305: the same Poly1305 over header || payload as a SEND
    /// frame, fed incrementally.
    @inline(__always)
    func computeDetachedTag(
        nonce: UnsafeRawPointer, header: UnsafeRawPointer, payload: UnsafeRawPointer?, count: Int,
        tag: UnsafeMutableRawPointer
    ) {
        let t = tag.assumingMemoryBound(to: UInt8.self)
        let h = header.assumingMemoryBound(to: UInt8.self)
        let p = payload?.assumingMemoryBound(to: UInt8.self)
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        switch suite {
        case .aes256GMAC:
            // 40 bytes of throw-away ciphertext on the stack.
            var sink: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &sink) { c in
                _ = crypto_aead_aes256gcm_encrypt_detached_afternm(
                    c.baseAddress!.assumingMemoryBound(to: UInt8.self), t, nil,
                    h, UInt64(DataPathLimits.headerSize), p, UInt64(count), nil, n,
                    UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)))
            }
        case .chacha20Poly1305:
            withOneTimeKey(nonce: n) { otk in
                // crypto_onetimeauth_state is 16-byte aligned in C; a stack
                // allocation with that alignment (no heap).
                withUnsafeTemporaryAllocation(byteCount: crypto_onetimeauth_statebytes(), alignment: 16) { st in
                    let s = st.baseAddress!.assumingMemoryBound(to: crypto_onetimeauth_state.self)
                    _ = crypto_onetimeauth_init(s, otk)
                    _ = crypto_onetimeauth_update(s, h, UInt64(DataPathLimits.headerSize))
                    if count > 0 { _ = crypto_onetimeauth_update(s, p, UInt64(count)) }
                    _ = crypto_onetimeauth_final(s, t)
                    sodium_memzero(st.baseAddress!, st.count)
                }
            }
        }
    }

    /// Whether `tag` is the detached tag over `header` and `payload`
    /// (recomputed, then compared in constant time with crypto_verify_16).
    @inline(__always)
    func verifyDetachedTag(
        nonce: UnsafeRawPointer, header: UnsafeRawPointer, payload: UnsafeRawPointer?, count: Int,
        tag: UnsafeRawPointer
    ) -> Bool {
        var expected: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &expected) { e in
            computeDetachedTag(nonce: nonce, header: header, payload: payload, count: count, tag: e.baseAddress!)
            return crypto_verify_16(
                e.baseAddress!.assumingMemoryBound(to: UInt8.self), tag.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }

    /// Whether `tag` is the tag over `data` -- compared in constant time by
    /// libsodium (crypto_verify_16 inside decrypt_detached / onetimeauth_verify).
    @inline(__always)
    func verifyTag(nonce: UnsafeRawPointer, data: UnsafeRawPointer, count: Int, tag: UnsafeRawPointer) -> Bool {
        let t = tag.assumingMemoryBound(to: UInt8.self)
        let d = data.assumingMemoryBound(to: UInt8.self)
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        switch suite {
        case .aes256GMAC:
            var sink: UInt8 = 0  // m: nothing is written for clen == 0
            return crypto_aead_aes256gcm_decrypt_detached_afternm(
                &sink, nil, t, 0, t, d, UInt64(count), n,
                UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self))) == 0
        case .chacha20Poly1305:
            return withOneTimeKey(nonce: n) { otk in crypto_onetimeauth_verify(t, d, UInt64(count), otk) == 0 }
        }
    }
}
