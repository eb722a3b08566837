#if canImport(CSodium)
import CSodium
#endif
import CIPSecMB
import CIPSecMBShim
#if canImport(Glibc)
import Glibc
#endif
import Handshake

/// The MAC key of one epoch of one direction, expanded once (allocation and key
/// schedule per epoch, never per message) and wiped on release.
///
/// AES-256-GMAC, libsodium engine: crypto_aead_aes256gcm_beforenm expands the
/// AES key schedule and the GHASH key H = AES_K(0^128) (NIST SP 800-38D §6.4
/// step 1) into a crypto_aead_aes256gcm_state, which libsodium requires to be
/// 16-byte aligned (libsodium docs, "AES256-GCM", "Precalculation interface").
/// Each tag is then crypto_aead_aes256gcm_encrypt_detached_afternm with
/// mlen = 0 and ad = header || payload: GCM-AE(K, IV, P = empty, A) whose
/// output is just the tag T = GCTR_K(J0, GHASH_H(A || 0^v || [len(A)]64 || [0]64))
/// (§7.1) -- GMAC.
///
/// AES-256-GMAC, ipsec-mb engine (MACEngine.ipsecMB): IMB_AES256_GCM_PRE
/// expands the same key into a `struct gcm_key_data` (round keys and 48 powers
/// of H, 1008 bytes in ipsec-mb 1.3, 64-byte aligned here), and each tag is
/// the same GCM-AE call through IMB_AES256_GCM_ENC (CIPSecMBShim). Same tags
/// bit for bit (MACEngineDifferentialTests), so the engine is a local choice.
///
/// ChaCha20-Poly1305: the state holds the 32-byte ChaCha20 key; see CipherSuite.
final class EpochKey {
    let suite: CipherSuite
    let epoch: UInt32
    /// The library computing this key's tags: the configured engine for
    /// AES-256-GMAC, libsodium for ChaCha20-Poly1305.
    let engine: MACEngine
    private let kind: Kind
    private let state: UnsafeMutableRawPointer
    private let stateSize: Int

    /// Which code computes the tag; decided once per key, switched on per message.
    private enum Kind {
        case sodiumGCM
        case ipsecMBGCM(UnsafePointer<IMB_MGR>)
        case chacha
    }

    /// Derives mac_key(epoch) from `secret` and expands it for `engine`.
    convenience init(
        suite: CipherSuite, engine: MACEngine = .selected, epoch: UInt32, secret: TrafficSecret
    ) throws(DataPathError) {
        try self.init(suite: suite, engine: engine, epoch: epoch) { k in secret.deriveMACKey(suite: suite, into: k) }
    }

    /// Test seam: a key from raw 32 bytes (known-answer tests), bypassing HKDF.
    convenience init(
        suite: CipherSuite, engine: MACEngine = .selected, rawKey: UnsafeRawBufferPointer
    ) throws(DataPathError) {
        guard rawKey.count == 32 else { throw .invalidSecretLength(rawKey.count) }
        try self.init(suite: suite, engine: engine, epoch: 0) { k in k.copyMemory(from: rawKey) }
    }

    /// Test seam: an ipsec-mb key even where MACEngine.ipsecMB is not
    /// available because ipsec-mb chose code slower than libsodium (SSE/AVX2:
    /// same results, issue 13). Lets the differential tests check the
    /// CIPSecMBShim calls on hosts without AVX-512.
    convenience init(ipsecMBOnAnyCodePathWithRawKey rawKey: UnsafeRawBufferPointer) throws(DataPathError) {
        guard rawKey.count == 32 else { throw .invalidSecretLength(rawKey.count) }
        try self.init(suite: .aes256GMAC, engine: .ipsecMB, epoch: 0, requireFastIPSecMB: false) { k in
            k.copyMemory(from: rawKey)
        }
    }

    /// `fillKey` writes the 32 key bytes into a stack buffer that is wiped
    /// once the key is expanded into `state`.
    private init(
        suite: CipherSuite, engine requested: MACEngine, epoch: UInt32, requireFastIPSecMB: Bool = true,
        fillKey: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(DataPathError) {
        guard sodiumInitialized else { throw .sodiumUnavailable }
        guard suite.isAvailable else { throw .suiteUnavailable(suite) }
        let engine: MACEngine = suite == .aes256GMAC ? requested : .libsodium
        let kind: Kind
        // `isAvailable` held: the suite is one of the two this build implements.
        if suite == .chacha20Poly1305 {
            kind = .chacha
            stateSize = Int(crypto_stream_chacha20_ietf_KEYBYTES)
        } else if engine == .libsodium {
            kind = .sodiumGCM
            stateSize = crypto_aead_aes256gcm_statebytes()  // 512
        } else {
            guard engine.isAvailable || !requireFastIPSecMB, let manager = IPSecMBManager.shared.manager else {
                throw .macEngineUnavailable(engine)
            }
            kind = .ipsecMBGCM(UnsafePointer(manager))
            stateSize = fa_imb_gcm_key_data_size()  // 1008
        }
        self.suite = suite
        self.epoch = epoch
        self.engine = engine
        self.kind = kind
        // 64-byte alignment (cache line): what ipsec-mb's gcm_key_data asks
        // for (intel-ipsec-mb.h, aligned(64) on Linux) and more than the 16
        // libsodium requires.
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, stateSize) == 0, let raw else { throw .allocationFailed }
        state = raw
        var key: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes on the stack
        withUnsafeMutableBytes(of: &key) { k in
            fillKey(k)
            let kp = k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            switch kind {
            case .sodiumGCM:
                _ = crypto_aead_aes256gcm_beforenm(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self), kp)
            case .ipsecMBGCM(let manager):
                fa_imb_aes256_gcm_pre(manager, kp, state.assumingMemoryBound(to: gcm_key_data.self))
            case .chacha:
                state.copyMemory(from: kp, byteCount: k.count)
            }
            sodium_memzero(k.baseAddress!, k.count)
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
        switch kind {
        case .sodiumGCM:
            // c must be non-null but is not written when mlen == 0.
            _ = crypto_aead_aes256gcm_encrypt_detached_afternm(
                t, t, nil, nil, 0, d, UInt64(count), nil, n,
                UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)))
        case .ipsecMBGCM(let manager):
            fa_imb_aes256_gmac_tag(manager, state.assumingMemoryBound(to: gcm_key_data.self), n, d, UInt64(count), t)
        case .chacha:
            withOneTimeKey(nonce: n) { otk in _ = crypto_onetimeauth(t, d, UInt64(count), otk) }
        }
    }

    /// Writes the 16-byte tag of a detached message: the 40-byte `header` lives
    /// apart from the `count` payload bytes (an RDMA WRITE's payload sits in
    /// the application's registered memory, the header in a notice; see
    /// docs/protocol.md "RDMA WRITE and READ").
    ///
    /// AES-256-GMAC: libsodium's GCM takes the associated data in one piece, so
    /// the payload is the associated data and the header is GCM's plaintext
    /// (ipsec-mb computes the same construction, CIPSecMBShim):
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
        switch kind {
        case .sodiumGCM:
            // 40 bytes of throw-away ciphertext on the stack.
            var sink: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &sink) { c in
                _ = crypto_aead_aes256gcm_encrypt_detached_afternm(
                    c.baseAddress!.assumingMemoryBound(to: UInt8.self), t, nil,
                    h, UInt64(DataPathLimits.headerSize), p, UInt64(count), nil, n,
                    UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)))
            }
        case .ipsecMBGCM(let manager):
            fa_imb_aes256_gcm_detached_tag(
                manager, state.assumingMemoryBound(to: gcm_key_data.self), n, h, p, UInt64(count), t)
        case .chacha:
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

    /// AEAD-encrypts the payload of a rendezvous control frame in place: the
    /// `count` bytes at `text` become their ciphertext and the 16-byte tag goes
    /// to `tag`; the 40 header bytes at `header` are the associated data, so
    /// the opcode that says a frame is encrypted is authenticated with it.
    /// `count` is at most DataPathLimits.maxControlPayloadBytes; `headerCount`
    /// is the header's 40 bytes except in known-answer tests.
    ///
    /// AES-256-GMAC suite: AES-256-GCM, GCM-AE(K, IV, P = payload, A = header)
    /// (NIST SP 800-38D §7.1), under the same epoch key and the same nonce
    /// sequence as every other frame. That is safe because GMAC is GCM-AE with
    /// an empty P (§3, §6.4) and the detached tag is GCM-AE with P = a header:
    /// all three are invocations of one authenticated encryption function
    /// under one key, and §8 requires only that no IV repeat across them. The
    /// sender draws every frame's nonce from one counter
    /// (DataPathSender.nextNonceInputs), so an encrypted control frame and a
    /// GMAC frame never share a (key, nonce).
    ///
    /// ChaCha20-Poly1305 suite: the IETF AEAD (RFC 8439 §2.8; libsodium
    /// crypto_aead_chacha20poly1305_ietf) under the epoch key: its Poly1305 key
    /// is the same block-0 one-time key a MAC-only frame would use with that
    /// nonce, and the nonce is never used twice (RFC 8439 §4).
    ///
    /// The plaintext is first copied to a stack buffer and encrypted from
    /// there, so no engine is relied on for in-place operation; the copy is
    /// wiped. No heap allocation.
    @inline(__always)
    func encryptControl(
        nonce: UnsafeRawPointer, header: UnsafeRawPointer, headerCount: Int = DataPathLimits.headerSize,
        text: UnsafeMutableRawPointer, count: Int, tag: UnsafeMutableRawPointer
    ) {
        precondition(count >= 0 && count <= DataPathLimits.maxControlPayloadBytes)
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        let h = header.assumingMemoryBound(to: UInt8.self)
        let c = text.assumingMemoryBound(to: UInt8.self)
        let t = tag.assumingMemoryBound(to: UInt8.self)
        withUnsafeTemporaryAllocation(byteCount: DataPathLimits.maxControlPayloadBytes, alignment: 16) { scratch in
            let m = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
            m.update(from: c, count: count)
            switch kind {
            case .sodiumGCM:
                _ = crypto_aead_aes256gcm_encrypt_detached_afternm(
                    c, t, nil, m, UInt64(count), h, UInt64(headerCount), nil, n,
                    UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)))
            case .ipsecMBGCM(let manager):
                fa_imb_aes256_gcm_encrypt(manager, state.assumingMemoryBound(to: gcm_key_data.self), n,
                    h, UInt64(headerCount), m, c, UInt64(count), t)
            case .chacha:
                _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                    c, t, nil, m, UInt64(count), h, UInt64(headerCount), nil, n,
                    UnsafePointer(state.assumingMemoryBound(to: UInt8.self)))
            }
            sodium_memzero(scratch.baseAddress!, scratch.count)
        }
    }

    /// Verifies and decrypts a control frame's payload (the inverse of
    /// ``encryptControl(nonce:header:headerCount:text:count:tag:)``): true, and the
    /// plaintext in place of the ciphertext at `text`, only when the tag over
    /// `header` and the ciphertext verifies. On a bad tag `text` is left as it
    /// arrived and false is returned: no unauthenticated plaintext is ever
    /// written where a parser could read it.
    ///
    /// The plaintext is produced in a stack buffer and copied over the
    /// ciphertext only after the tag compared equal (in constant time:
    /// crypto_verify_16, inside libsodium's decrypt functions or after
    /// ipsec-mb recomputed the tag), then the buffer is wiped. libsodium 1.0.18
    /// checks the tag before it decrypts for both AEADs; ipsec-mb's GCM
    /// decrypts and tags in one pass, which is why the stack buffer.
    @inline(__always)
    func decryptControl(
        nonce: UnsafeRawPointer, header: UnsafeRawPointer, headerCount: Int = DataPathLimits.headerSize,
        text: UnsafeMutableRawPointer, count: Int, tag: UnsafeRawPointer
    ) -> Bool {
        guard count >= 0, count <= DataPathLimits.maxControlPayloadBytes else { return false }
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        let h = header.assumingMemoryBound(to: UInt8.self)
        let c = text.assumingMemoryBound(to: UInt8.self)
        let t = tag.assumingMemoryBound(to: UInt8.self)
        return withUnsafeTemporaryAllocation(byteCount: DataPathLimits.maxControlPayloadBytes, alignment: 16) { scratch in
            let m = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
            defer { sodium_memzero(scratch.baseAddress!, scratch.count) }
            let ok: Bool
            switch kind {
            case .sodiumGCM:
                ok = crypto_aead_aes256gcm_decrypt_detached_afternm(
                    m, nil, c, UInt64(count), t, h, UInt64(headerCount), n,
                    UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self))) == 0
            case .ipsecMBGCM(let manager):
                var expected: (UInt64, UInt64) = (0, 0)
                ok = withUnsafeMutableBytes(of: &expected) { e in
                    let ep = e.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    fa_imb_aes256_gcm_decrypt(manager, state.assumingMemoryBound(to: gcm_key_data.self), n,
                        h, UInt64(headerCount), c, m, UInt64(count), ep)
                    return crypto_verify_16(ep, t) == 0
                }
            case .chacha:
                ok = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                    m, nil, c, UInt64(count), t, h, UInt64(headerCount), n,
                    UnsafePointer(state.assumingMemoryBound(to: UInt8.self))) == 0
            }
            if ok { c.update(from: m, count: count) }
            return ok
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

    /// Whether `tag` is the tag over `data`, compared in constant time:
    /// libsodium's crypto_verify_16 inside decrypt_detached /
    /// onetimeauth_verify, or after ipsec-mb recomputed it.
    @inline(__always)
    func verifyTag(nonce: UnsafeRawPointer, data: UnsafeRawPointer, count: Int, tag: UnsafeRawPointer) -> Bool {
        let t = tag.assumingMemoryBound(to: UInt8.self)
        let d = data.assumingMemoryBound(to: UInt8.self)
        let n = nonce.assumingMemoryBound(to: UInt8.self)
        switch kind {
        case .sodiumGCM:
            var sink: UInt8 = 0  // m: nothing is written for clen == 0
            return crypto_aead_aes256gcm_decrypt_detached_afternm(
                &sink, nil, t, 0, t, d, UInt64(count), n,
                UnsafePointer(state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self))) == 0
        case .ipsecMBGCM(let manager):
            var expected: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &expected) { e in
                let ep = e.baseAddress!.assumingMemoryBound(to: UInt8.self)
                fa_imb_aes256_gmac_tag(manager, state.assumingMemoryBound(to: gcm_key_data.self), n, d, UInt64(count), ep)
                return crypto_verify_16(ep, t) == 0
            }
        case .chacha:
            return withOneTimeKey(nonce: n) { otk in crypto_onetimeauth_verify(t, d, UInt64(count), otk) == 0 }
        }
    }
}
