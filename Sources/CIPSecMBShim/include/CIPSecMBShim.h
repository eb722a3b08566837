// C entry points for the ipsec-mb AES-256-GCM calls FabricAuth's data path uses.
//
// ipsec-mb 1.3's direct GCM API (intel-ipsec-mb.h, "AES-GCM API's") is a set
// of function-like macros that call through function pointers in IMB_MGR,
// which init_mb_mgr_auto() fills for the best code path of the running CPU.
// Swift's Clang importer does not import function-like macros, and the
// IMB_MGR field names behind them are not part of the library's API, so each
// macro FabricAuth needs gets one prefixed wrapper here.
#ifndef FABRICAUTH_CIPSECMBSHIM_H
#define FABRICAUTH_CIPSECMBSHIM_H

#include <intel-ipsec-mb.h>
#include <stddef.h>
#include <stdint.h>

/// Bytes of `struct gcm_key_data`. The header asks for 64-byte alignment only
/// when LINUX is defined (which neither the compiler nor Swift's importer
/// define), so callers allocate it with posix_memalign(64, ...) themselves.
size_t fa_imb_gcm_key_data_size(void);

/// IMB_AES256_GCM_PRE: expands the 32-byte key into the AES round keys and
/// the GHASH key powers H, H^2, ... (the whole per-key precomputation).
void fa_imb_aes256_gcm_pre(const IMB_MGR *mgr, const uint8_t *key, struct gcm_key_data *key_data);

/// IMB_AES256_GCM_ENC with an empty plaintext: the 16-byte tag of
/// GCM-AE(K, iv, P = empty, A = aad) (NIST SP 800-38D §7.1), i.e. GMAC.
/// `iv` is 12 bytes. The GCM context lives on this function's stack and is
/// wiped before returning. The one-shot call is used rather than
/// IMB_AES256_GMAC_INIT/UPDATE/FINALIZE: equal tags, one call instead of
/// three, and faster at every size measured on the reference host (about
/// 10 ns less per message up to 512 bytes, within 2 % at 64 KiB).
void fa_imb_aes256_gmac_tag(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                            const uint8_t *aad, uint64_t aad_len, uint8_t *tag);

/// IMB_AES256_GCM_ENC with the 40-byte header as plaintext and the payload as
/// associated data (FabricAuth's detached WRITE/READ layout, EpochKey.swift):
/// only the 16-byte tag is returned; the header's ciphertext goes to a stack
/// buffer that is wiped, as is the context.
void fa_imb_aes256_gcm_detached_tag(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                                    const uint8_t *header40, const uint8_t *aad, uint64_t aad_len, uint8_t *tag);

/// IMB_AES256_GCM_ENC: GCM-AE(K, iv, P = in[0..<len], A = aad) (NIST SP
/// 800-38D §7.1); the ciphertext goes to `out` (FabricAuth never passes
/// overlapping `in` and `out`) and the 16-byte tag to `tag`. Encrypts the
/// payload of a rendezvous control frame (EpochKey.encryptControl).
void fa_imb_aes256_gcm_encrypt(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                               const uint8_t *aad, uint64_t aad_len, const uint8_t *in, uint8_t *out, uint64_t len,
                               uint8_t *tag);

/// IMB_AES256_GCM_DEC: the plaintext of `in[0..<len]` goes to `out` and the
/// tag recomputed over (aad, in) to `tag`. It does not compare tags: the
/// caller compares in constant time and releases `out` only on a match
/// (GCM-AD, §7.2 steps 5-8).
void fa_imb_aes256_gcm_decrypt(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                               const uint8_t *aad, uint64_t aad_len, const uint8_t *in, uint8_t *out, uint64_t len,
                               uint8_t *tag);

#endif
