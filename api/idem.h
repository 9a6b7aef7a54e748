/* Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): reading the
 * header and fingerprinting the body.  No I/O; the stored side is the
 * ht_submit function (shared/library.lua), which keeps
 * "<job id> <body hash>" under the key's name (shared/keys.h
 * ht_keys_idem()) until the job expires. */
#ifndef HT_API_IDEM_H
#define HT_API_IDEM_H

#include <h2o.h>
#include <stddef.h>

#define HT_IDEM_KEY_MAX  255
#define HT_IDEM_HASH_LEN 64 /* hex SHA-256 */

/* The key in a header value: an RFC 8941 string ("...") or a bare token,
 * 1..HT_IDEM_KEY_MAX visible ASCII characters (inside quotes also spaces;
 * no '"' or '\\' there).  Surrounding spaces are ignored.  On success *key
 * points into `value`.  Returns 0 or HT_EINVAL. */
int ht_idem_key_parse(const char *value, size_t len, const char **key, size_t *keylen);

/* The key of `req`: 0 with *key = NULL when there is no Idempotency-Key
 * header, 0 with the key, or HT_EINVAL (malformed, or sent twice). */
int ht_idem_key_of(h2o_req_t *req, const char **key, size_t *keylen);

/* Hex SHA-256 of `body` into out[HT_IDEM_HASH_LEN + 1].  Returns 0 or
 * HT_ENOMEM. */
int ht_idem_body_hash(const char *body, size_t len, char out[HT_IDEM_HASH_LEN + 1]);

#endif
