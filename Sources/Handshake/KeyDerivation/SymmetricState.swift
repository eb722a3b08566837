import CSodium

/// Noise's SymmetricState and CipherState (Noise rev 34 sections 5.1 and 5.2) with
/// HASH = SHA-256, cipher = ChaChaPoly (section 12.3) and Noise's HKDF (section 4.3),
/// which is RFC 5869 Extract(salt: ck, ikm) followed by Expand(info: "", 32 * outputs).
///
/// The transcript hash `h` covers every byte both sides sent (FabricAuth hashes whole
/// cleartext message prefixes, not just public keys) and is the AEAD associated data.
///
/// Memory (issue 12 item 8): `ck`, `k` and `h` are three ``SecretBytes`` of 32 bytes,
/// allocated once per state and overwritten in place by every MixHash/MixKey, so the
/// previous value of a chaining key or key is gone the moment the next one exists and no
/// array copy of them is ever made. Intermediates (Noise HKDF's PRK and output block, the
/// SHA-256 and HMAC states) live in SecretBytes or on the stack and are zeroed before the
/// call returns. `wipe()` zeroes all three; the machine calls it as soon as the final
/// PRK is derived and again when it finishes or fails. A class, so the machine and a
/// test hold the same bytes (HandshakeTests.WipeTests reads them after the wipe).
///
/// `h` is not secret from an eavesdropper (it hashes the protocol name and the bytes on
/// the wire); it is kept and wiped like the keys anyway, since it feeds the final PRK.
final class SymmetricState {
    /// The transcript hash.
    let h = SecretBytes(count: HKDF.hashLength)
    /// The chaining key.
    let ck = SecretBytes(count: HKDF.hashLength)
    /// The cipher key; meaningful once `hasKey`.
    let k = SecretBytes(count: HKDF.hashLength)
    private(set) var hasKey = false
    private var n: UInt64 = 0

    /// InitializeSymmetric(protocol_name), section 5.2: names longer than HASHLEN are hashed.
    init(protocolName: String) {
        _ = sodiumReady
        let name = Array(protocolName.utf8)
        h.withUnsafeMutableBytes { hb in
            if name.count <= HKDF.hashLength {
                name.withUnsafeBytes { hb.copyMemory(from: $0) }  // the rest stays zero
            } else {
                name.withUnsafeBytes { Sodium.sha256($0, into: hb) }
            }
        }
        h.withUnsafeBytes { hb in ck.withUnsafeMutableBytes { $0.copyMemory(from: hb) } }
    }

    /// MixHash(data): h = HASH(h || data), in place (multi-part SHA-256: no concatenated copy of h).
    func mixHash(_ data: UnsafeRawBufferPointer) {
        h.withUnsafeMutableBytes { hb in
            var state = crypto_hash_sha256_state()
            _ = crypto_hash_sha256_init(&state)
            _ = crypto_hash_sha256_update(&state, hb.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(hb.count))
            if let base = data.baseAddress, data.count > 0 {
                _ = crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
            }
            _ = crypto_hash_sha256_final(&state, hb.baseAddress!.assumingMemoryBound(to: UInt8.self))
            withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) }
        }
    }

    func mixHash(_ data: [UInt8]) { data.withUnsafeBytes { mixHash($0) } }

    func mixHash(_ data: ArraySlice<UInt8>) { data.withUnsafeBytes { mixHash($0) } }

    /// Noise HKDF(ck, ikm, n) (section 4.3): n outputs of 32 bytes in one SecretBytes.
    /// The PRK lives in a SecretBytes of its own and is wiped before returning.
    private func noiseHKDF(_ ikm: UnsafeRawBufferPointer, outputs: Int) -> SecretBytes {
        let prk = SecretBytes(count: HKDF.hashLength)
        ck.withUnsafeBytes { salt in prk.withUnsafeMutableBytes { HKDF.extract(salt: salt, ikm: ikm, into: $0) } }
        let okm = SecretBytes(count: HKDF.hashLength * outputs)
        prk.withUnsafeBytes { p in
            okm.withUnsafeMutableBytes { HKDF.expand(prk: p, info: UnsafeRawBufferPointer(start: nil, count: 0), into: $0) }
        }
        prk.wipe()
        return okm
    }

    /// Copies output `index` of `okm` over `target` (the old value is overwritten, not freed).
    private static func take(_ okm: SecretBytes, output index: Int, into target: SecretBytes) {
        okm.withUnsafeBytes { o in
            target.withUnsafeMutableBytes {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: o[(index * 32)..<(index * 32 + 32)]))
            }
        }
    }

    /// MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k).
    func mixKey(_ ikm: UnsafeRawBufferPointer) {
        let out = noiseHKDF(ikm, outputs: 2)
        Self.take(out, output: 0, into: ck)
        Self.take(out, output: 1, into: k)
        out.wipe()
        hasKey = true
        n = 0
    }

    func mixKey(_ ikm: [UInt8]) { ikm.withUnsafeBytes { mixKey($0) } }

    func mixKey(_ ikm: SecretBytes) { ikm.withUnsafeBytes { mixKey($0) } }

    /// MixKeyAndHash(ikm): ck, temp_h, temp_k = HKDF(ck, ikm, 3); MixHash(temp_h); InitializeKey(temp_k).
    /// Used for the resumption secret, as Noise uses it for a PSK (section 9).
    func mixKeyAndHash(_ ikm: SecretBytes) {
        let out = ikm.withUnsafeBytes { noiseHKDF($0, outputs: 3) }
        Self.take(out, output: 0, into: ck)
        out.withUnsafeBytes { mixHash(UnsafeRawBufferPointer(rebasing: $0[32..<64])) }
        Self.take(out, output: 2, into: k)
        out.wipe()
        hasKey = true
        n = 0
    }

    /// EncryptAndHash(plaintext): ciphertext = ENCRYPT(k, n++, h, plaintext); MixHash(ciphertext).
    /// Only called after a MixKey (the machine never encrypts without a key).
    func encryptAndHash(_ plaintext: [UInt8]) -> [UInt8] {
        precondition(hasKey, "EncryptAndHash before MixKey")
        let ct = h.withUnsafeBytes { ad in Sodium.seal(key: k, nonce: n, ad: ad, plaintext: plaintext) }
        n += 1
        mixHash(ct)
        return ct
    }

    /// DecryptAndHash(ciphertext); `.decryptFailed` when the tag does not verify.
    func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(HandshakeError) -> [UInt8] {
        precondition(hasKey, "DecryptAndHash before MixKey")
        guard let pt = h.withUnsafeBytes({ ad in Sodium.open(key: k, nonce: n, ad: ad, ciphertext: ciphertext) }) else {
            throw HandshakeError(.decryptFailed, "AEAD tag mismatch")
        }
        n += 1
        mixHash(ciphertext)
        return pt
    }

    /// The final key schedule input: PRK = HKDF-Extract(salt: ck, ikm: h). Unlike Noise's
    /// Split(), FabricAuth binds the traffic secrets to the whole transcript hash (and
    /// so to both QP bindings, both identities and the chosen suite), not only to ck.
    func finalPRK() -> SecretBytes {
        let prk = SecretBytes(count: HKDF.hashLength)
        ck.withUnsafeBytes { salt in
            h.withUnsafeBytes { ikm in prk.withUnsafeMutableBytes { HKDF.extract(salt: salt, ikm: ikm, into: $0) } }
        }
        return prk
    }

    /// Zeroes ck, k and h where they live; the state cannot be used afterwards.
    func wipe() {
        ck.wipe()
        k.wipe()
        h.wipe()
        hasKey = false
        n = 0
    }
}
