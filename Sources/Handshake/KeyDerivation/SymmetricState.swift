/// Noise's SymmetricState and CipherState (Noise rev 34 sections 5.1 and 5.2) with
/// HASH = SHA-256, cipher = ChaChaPoly (section 12.3) and Noise's HKDF (section 4.3),
/// which is RFC 5869 Extract(salt: ck, ikm) followed by Expand(info: "", 32 * outputs).
///
/// The transcript hash `h` covers every byte both sides sent (FabricAuth hashes whole
/// cleartext message prefixes, not just public keys) and is the AEAD associated data.
struct SymmetricState {
    private(set) var h: [UInt8]
    private var ck: [UInt8]
    private var k: [UInt8]?
    private var n: UInt64 = 0

    /// InitializeSymmetric(protocol_name), section 5.2: names longer than HASHLEN are hashed.
    init(protocolName: String) {
        _ = sodiumReady
        let name = Array(protocolName.utf8)
        h = name.count <= HKDF.hashLength ? name + [UInt8](repeating: 0, count: HKDF.hashLength - name.count) : Sodium.sha256(name)
        ck = h
    }

    /// MixHash(data): h = HASH(h || data).
    mutating func mixHash(_ data: [UInt8]) {
        h = Sodium.sha256(h + data)
    }

    mutating func mixHash(_ data: ArraySlice<UInt8>) { mixHash(Array(data)) }

    /// Noise HKDF(ck, ikm, n) -> n outputs of 32 bytes (section 4.3).
    private static func noiseHKDF(_ ck: [UInt8], _ ikm: [UInt8], outputs: Int) -> [[UInt8]] {
        var prk = HKDF.extract(salt: ck, ikm: ikm)
        var okm = HKDF.expand(prk: prk, info: [], length: 32 * outputs)
        prk.wipe()
        let out = (0..<outputs).map { Array(okm[($0 * 32)..<($0 * 32 + 32)]) }
        okm.wipe()
        return out
    }

    /// MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k).
    mutating func mixKey(_ ikm: [UInt8]) {
        var out = Self.noiseHKDF(ck, ikm, outputs: 2)
        ck.wipe()
        ck = out[0]
        k?.wipe()
        k = out[1]
        n = 0
        for i in out.indices { out[i].wipe() }
    }

    /// MixKeyAndHash(ikm): ck, temp_h, temp_k = HKDF(ck, ikm, 3); MixHash(temp_h); InitializeKey(temp_k).
    /// Used for the resumption secret, as Noise uses it for a PSK (section 9).
    mutating func mixKeyAndHash(_ ikm: [UInt8]) {
        var out = Self.noiseHKDF(ck, ikm, outputs: 3)
        ck.wipe()
        ck = out[0]
        mixHash(out[1])
        k?.wipe()
        k = out[2]
        n = 0
        for i in out.indices { out[i].wipe() }
    }

    /// EncryptAndHash(plaintext): ciphertext = ENCRYPT(k, n++, h, plaintext); MixHash(ciphertext).
    /// Only called after a MixKey (the machine never encrypts without a key).
    mutating func encryptAndHash(_ plaintext: [UInt8]) -> [UInt8] {
        guard let key = k else { preconditionFailure("EncryptAndHash before MixKey") }
        let ct = Sodium.seal(key: key, nonce: n, ad: h, plaintext: plaintext)
        n += 1
        mixHash(ct)
        return ct
    }

    /// DecryptAndHash(ciphertext); `.decryptFailed` when the tag does not verify.
    mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(HandshakeError) -> [UInt8] {
        guard let key = k else { preconditionFailure("DecryptAndHash before MixKey") }
        guard let pt = Sodium.open(key: key, nonce: n, ad: h, ciphertext: ciphertext) else {
            throw HandshakeError(.decryptFailed, "AEAD tag mismatch")
        }
        n += 1
        mixHash(ciphertext)
        return pt
    }

    /// The final key schedule input: PRK = HKDF-Extract(salt: ck, ikm: h). Unlike Noise's
    /// Split(), FabricAuth binds the traffic secrets to the whole transcript hash (and
    /// so to both QP bindings, both identities and the chosen suite), not only to ck.
    func finalPRK() -> [UInt8] { HKDF.extract(salt: ck, ikm: h) }

    /// Zeroes ck, k and h (see Array.wipe for what Swift cannot guarantee).
    mutating func wipe() {
        ck.wipe()
        k?.wipe()
        k = nil
        h.wipe()
        n = 0
    }
}
