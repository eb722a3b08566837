import Handshake

// What each suite (Handshake's CipherSuite, the package's one suite type) is on
// the data path. Both produce a 16-byte tag over `header || payload` under a
// nonce that is `direction || epoch || sequence` (Nonce.swift), with a key
// derived per epoch (TrafficSecret.swift):
//
// - aes256GMAC (1): the tag of AES-256-GCM over an empty plaintext with the
//   authenticated bytes as associated data (NIST SP 800-38D §6.4 GCM-AE with P
//   empty; §3 "GMAC"). This is what NIC crypto engines compute (IPsec and
//   MACsec offload on ConnectX-6 Dx/7, PSP GMAC modes, Ultra Ethernet TSS).
//   Reference implementation: libsodium crypto_aead_aes256gcm with the
//   precomputation interface (beforenm/afternm), which needs AES-NI and
//   PCLMULQDQ (libsodium docs, "AES256-GCM": "only available on CPUs with
//   AES-NI and CLMUL"). Where Intel's ipsec-mb runs its VAES/AVX-512 code the
//   same tag is computed there, about four times faster (MACEngine).
// - chacha20Poly1305 (2): ChaCha20-derived one-time Poly1305, for CPUs without
//   AES-NI/PCLMUL: per message, otk = first 32 bytes of ChaCha20(key = epoch
//   MAC key, nonce = the 96-bit nonce, block counter 0) -- exactly RFC 8439
//   §2.6 poly1305_key_gen -- and tag = Poly1305(otk, header || payload)
//   (libsodium crypto_stream_chacha20_ietf + crypto_onetimeauth; a one-time key
//   is never reused because the nonce never repeats under one key). Unlike RFC
//   8439's AEAD there is no padding or length block: the header carries the
//   length and the frame size is fixed by it.
extension CipherSuite {
    /// The suite a handshake should offer first on this host: AES-256-GMAC when
    /// the CPU supports it (and a NIC can offload it), else ChaCha20-Poly1305.
    public static var preferred: CipherSuite {
        CipherSuite.aes256GMAC.isAvailable ? .aes256GMAC : .chacha20Poly1305
    }
}
