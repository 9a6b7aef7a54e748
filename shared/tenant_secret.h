/* A tenant's webhook signing secret as hangtight keeps it (issue 17): an
 * id, a 32-byte HMAC key that is shown to the tenant once (as
 * "whsec_<base64>") and stored only sealed (shared/secretbox.h) under the
 * operator's HANGTIGHT_SECRETS_KEY, with the tenant and the id as its
 * associated data, so a sealed key moved to another tenant's or another
 * id's record does not open.  The records live in one hash per tenant,
 * ht:whsec:{<tenant>} (docs/keyspace.md), changed only by the function
 * library's ht_whsec_* functions.  Used by the api (create, list, revoke:
 * api/webhook_secrets.c) and the worker (signing: worker/tenant_secrets.h).
 * Unit-tested in tests/unit/test_tenant_secret.c. */
#ifndef HT_TENANT_SECRET_H
#define HT_TENANT_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "shared/keys.h"
#include "shared/secretbox.h"

#define HT_TSECRET_ID_LEN  27 /* "ws_" and 24 hex digits (96 random bits) */
#define HT_TSECRET_KEY_LEN 32
/* The sealed text of one key, its NUL included. */
#define HT_TSECRET_SEALED_MAX 96
/* "whsec_" and the base64 of 32 bytes, its NUL included. */
#define HT_TSECRET_TEXT_MAX 51

/* Writes a new random id into out[HT_TSECRET_ID_LEN + 1].  Returns 0 or a
 * negative errno from getrandom. */
int ht_tsecret_id_new(char out[HT_TSECRET_ID_LEN + 1]);

/* 1 when s[0..len) is an id as ht_tsecret_id_new() makes them. */
int ht_tsecret_id_valid(const char *s, size_t len);

/* A new random key.  Returns 0 or a negative errno from getrandom. */
int ht_tsecret_key_new(unsigned char key[HT_TSECRET_KEY_LEN]);

/* Seals `key` as the secret `id` of `tenant` into out.  Returns 0 or as
 * ht_secretbox_seal(). */
int ht_tsecret_seal(const ht_secretbox_keys_t *k, const char *tenant, const char *id,
                    const unsigned char key[HT_TSECRET_KEY_LEN], char out[HT_TSECRET_SEALED_MAX]);

/* Opens the sealed key of secret `id` of `tenant`.  Returns 0, or
 * HT_EINVAL (no key opens it for this tenant and id, or it is not a key). */
int ht_tsecret_open(const ht_secretbox_keys_t *k, const char *tenant, const char *id,
                    const char *sealed, unsigned char key[HT_TSECRET_KEY_LEN]);

/* One live secret as ht_whsec_list answers it; the strings are borrowed
 * from the reply. */
typedef struct {
    const char *id;
    int64_t created_ms;
    int64_t expires_ms; /* 0: the current secret, no end */
    const char *sealed;
} ht_tsecret_rec_t;

#define HT_TSECRET_LIVE_MAX 16 /* more than the function library lets live */

/* Reads the reply of ht_whsec_list, n strings: Redis' time (ms), then
 * (id, created ms, expires ms, sealed) per live secret, newest first.
 * Fills out[] (up to HT_TSECRET_LIVE_MAX), *count and *now_ms.  Returns 0,
 * or HT_EPROTO when the reply has another shape. */
int ht_tsecret_parse_list(const char *const *strs, size_t n, int64_t *now_ms,
                          ht_tsecret_rec_t out[HT_TSECRET_LIVE_MAX], size_t *count);

#endif
