/* Standard Webhooks signatures (standardwebhooks.com): signing a delivery
 * and verifying a received one.  The signed content is "<id>.<ts>.<body>",
 * the MAC is HMAC-SHA256 keyed with the base64-decoded part of a
 * "whsec_<base64>" secret, and the header value is "v1,<base64 MAC>", one
 * per secret, space-separated (several secrets during a rotation).  Pure
 * code, no I/O: the worker's deliverer signs with it, receivers written in
 * C can verify with it.  Unit-tested in tests/unit/test_webhook.c. */
#ifndef HT_WEBHOOK_H
#define HT_WEBHOOK_H

#include <stddef.h>

#define HT_WEBHOOK_SECRETS_MAX 4

typedef struct {
    size_t n;                                       /* secrets held */
    unsigned char key[HT_WEBHOOK_SECRETS_MAX][128]; /* decoded keys */
    size_t len[HT_WEBHOOK_SECRETS_MAX];             /* their lengths */
} ht_webhook_secrets_t;

/* Parses a list of "whsec_<base64>" secrets separated by commas or spaces
 * into *out.  An empty list gives n = 0.  Returns 0, or HT_EINVAL with a
 * reason for a person in `err` (which may be NULL): a secret without the
 * prefix, bad base64, an empty or over-long key, or more than
 * HT_WEBHOOK_SECRETS_MAX secrets. */
int ht_webhook_secrets_parse(const char *list, ht_webhook_secrets_t *out, char *err, size_t errlen);

/* Adds one decoded key (1 to 128 bytes) to *s.  Returns 0, or HT_EINVAL
 * when s already holds HT_WEBHOOK_SECRETS_MAX or the length is out of
 * range. */
int ht_webhook_secrets_add(ht_webhook_secrets_t *s, const unsigned char *key, size_t len);

/* Writes "whsec_<base64 of key[0..len)>" and a NUL into out[cap] (a key
 * of 32 bytes needs 51).  Returns 0, or HT_EINVAL when len is 0 or over
 * 128 or it does not fit. */
int ht_webhook_secret_format(const unsigned char *key, size_t len, char *out, size_t cap);

/* The webhook-signature header value of (id, ts, body) under every secret:
 * "v1,<b64> v1,<b64>".  Returns a new malloc'd string (free() it), or NULL
 * when there are no secrets or memory ran out. */
char *ht_webhook_signature(const ht_webhook_secrets_t *s, const char *id, long long ts,
                           const char *body, size_t len);

/* Verifies a received delivery: the webhook-id, webhook-timestamp and
 * webhook-signature header values and the raw body.  Returns 0 when the
 * timestamp is within tolerance_s of now_s and one of the header's "v1,"
 * signatures matches one of the secrets (compared in constant time), else
 * HT_EINVAL. */
int ht_webhook_verify(const ht_webhook_secrets_t *s, const char *id, const char *ts,
                      const char *sig_header, const char *body, size_t len, long long now_s,
                      long tolerance_s);

#endif
