/* Secrets at rest: authenticated encryption (AES-256-GCM, OpenSSL) of a
 * short secret under a key the processes get from their environment
 * (HANGTIGHT_SECRETS_KEY), for what must be kept readable rather than
 * hashed (a webhook signing key: the worker needs it to compute HMACs).
 *
 * A sealed value is text, "v1." and the base64 of nonce (12 random bytes,
 * new for every seal) || ciphertext || tag (16 bytes).  The caller's
 * associated data (say, the owner and the record's id) is authenticated but
 * not stored: opening with other associated data fails, so a sealed value
 * copied under another owner or id is refused.  Pure code, no I/O but the
 * kernel's random source; unit-tested in tests/unit/test_secretbox.c. */
#ifndef HT_SECRETBOX_H
#define HT_SECRETBOX_H

#include <stddef.h>

#define HT_SECRETBOX_KEY_LEN   32  /* AES-256 */
#define HT_SECRETBOX_KEYS_MAX  4   /* the sealing key and older ones still opened */
#define HT_SECRETBOX_PLAIN_MAX 256 /* the longest secret sealed */

typedef struct {
    size_t n; /* keys held; 0: none configured */
    unsigned char key[HT_SECRETBOX_KEYS_MAX][HT_SECRETBOX_KEY_LEN];
} ht_secretbox_keys_t;

/* Parses a list of keys separated by commas or spaces, each 32 bytes
 * written as 64 hex digits or as base64 (44 characters with its padding).
 * The first key seals; every key is tried when opening (so a key being
 * replaced is listed second until nothing sealed under it is left).  An
 * empty or NULL list gives n = 0.  Returns 0, or HT_EINVAL with a reason
 * in `err` (which may be NULL) that never quotes the key. */
int ht_secretbox_keys_parse(const char *list, ht_secretbox_keys_t *out, char *err, size_t errlen);

/* Wipes the keys (OPENSSL_cleanse). */
void ht_secretbox_keys_clear(ht_secretbox_keys_t *k);

/* The size of the text ht_secretbox_seal() writes for `len` bytes of
 * plaintext, its NUL included. */
size_t ht_secretbox_sealed_size(size_t len);

/* Seals plain[0..len) (1 <= len <= HT_SECRETBOX_PLAIN_MAX) under the
 * first key, binding aad[0..aadlen), into out[cap] as a NUL-terminated
 * string.  Returns 0, HT_EINVAL (no key, len out of range, cap smaller
 * than ht_secretbox_sealed_size(len)), or HT_ENOMEM (OpenSSL failed). */
int ht_secretbox_seal(const ht_secretbox_keys_t *k, const void *aad, size_t aadlen,
                      const void *plain, size_t len, char *out, size_t cap);

/* Opens `sealed` (a NUL-terminated string from ht_secretbox_seal) with
 * the same associated data into plain[cap], *len its length.  Returns 0,
 * or HT_EINVAL when it is malformed, does not fit, or no key authenticates
 * it (wrong key, other associated data, any byte changed); `plain` then
 * holds nothing of it. */
int ht_secretbox_open(const ht_secretbox_keys_t *k, const void *aad, size_t aadlen,
                      const char *sealed, void *plain, size_t cap, size_t *len);

#endif
