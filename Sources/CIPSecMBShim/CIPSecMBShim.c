#include "CIPSecMBShim.h"

#include <string.h>

// The GCM direct API reads IMB_MGR's function pointers and nothing else, so a
// manager initialised once is safe to share between threads; the macros take a
// non-const pointer only because they are macros.
#define FA_MGR(m) ((IMB_MGR *)(m))

// Bytes of the detached layout's plaintext: FrameHeader's size
// (DataPathLimits.headerSize in Swift).
#define FA_HEADER_SIZE 40

// explicit_bzero (glibc >= 2.25) is not removed as a dead store, unlike memset
// on memory that is about to go out of scope.
static void fa_wipe(void *p, size_t n) { explicit_bzero(p, n); }

size_t fa_imb_gcm_key_data_size(void) { return sizeof(struct gcm_key_data); }

void fa_imb_aes256_gcm_pre(const IMB_MGR *mgr, const uint8_t *key, struct gcm_key_data *key_data) {
    IMB_AES256_GCM_PRE(FA_MGR(mgr), key, key_data);
}

void fa_imb_aes256_gmac_tag(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                            const uint8_t *aad, uint64_t aad_len, uint8_t *tag) {
    // The context holds GHASH's running value, from which H could be solved
    // for: wiped below.
    struct gcm_context_data ctx;
    // Non-NULL stand-ins for the empty plaintext (and an empty aad), never read
    // at length 0, so the call does not depend on how a given ipsec-mb build's
    // parameter checks (SAFE_PARAM) treat NULL with length 0.
    uint8_t empty = 0;
    IMB_AES256_GCM_ENC(FA_MGR(mgr), key_data, &ctx, &empty, &empty, 0, iv, aad_len ? aad : &empty, aad_len, tag,
                       16);
    fa_wipe(&ctx, sizeof ctx);
}

void fa_imb_aes256_gcm_detached_tag(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                                    const uint8_t *header40, const uint8_t *aad, uint64_t aad_len, uint8_t *tag) {
    struct gcm_context_data ctx;
    uint8_t ciphertext[FA_HEADER_SIZE];
    uint8_t empty = 0;
    IMB_AES256_GCM_ENC(FA_MGR(mgr), key_data, &ctx, ciphertext, header40, FA_HEADER_SIZE, iv,
                       aad_len ? aad : &empty, aad_len, tag, 16);
    fa_wipe(&ctx, sizeof ctx);
    fa_wipe(ciphertext, sizeof ciphertext);
}

void fa_imb_aes256_gcm_encrypt(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                               const uint8_t *aad, uint64_t aad_len, const uint8_t *in, uint8_t *out, uint64_t len,
                               uint8_t *tag) {
    struct gcm_context_data ctx;
    uint8_t empty = 0;
    IMB_AES256_GCM_ENC(FA_MGR(mgr), key_data, &ctx, len ? out : &empty, len ? in : &empty, len, iv,
                       aad_len ? aad : &empty, aad_len, tag, 16);
    fa_wipe(&ctx, sizeof ctx);
}

void fa_imb_aes256_gcm_decrypt(const IMB_MGR *mgr, const struct gcm_key_data *key_data, const uint8_t *iv,
                               const uint8_t *aad, uint64_t aad_len, const uint8_t *in, uint8_t *out, uint64_t len,
                               uint8_t *tag) {
    struct gcm_context_data ctx;
    uint8_t empty = 0;
    IMB_AES256_GCM_DEC(FA_MGR(mgr), key_data, &ctx, len ? out : &empty, len ? in : &empty, len, iv,
                       aad_len ? aad : &empty, aad_len, tag, 16);
    fa_wipe(&ctx, sizeof ctx);
}
