/* HTTP digests of a file's bytes (RFC 9530): the Content-Digest header a
 * client may send with an upload (checked against what arrives) and the one
 * a download carries.  Only sha-256 is read or written; it is the SHA-256
 * the blob store keeps (shared/blob.h), so nothing is hashed twice.  No
 * I/O here.
 *
 *   Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:
 *
 * The field is a Structured Fields dictionary (RFC 8941): members
 * "<algorithm>=:<base64>:" separated by commas, each possibly with
 * ";parameters" (ignored).  Algorithms other than sha-256 are skipped, as
 * RFC 9530 section 2 lets a recipient do. */
#ifndef HT_DIGEST_H
#define HT_DIGEST_H

#include <stddef.h>

#define HT_DIGEST_SHA256_HEX  64
#define HT_DIGEST_CONTENT_MAX (sizeof("sha-256=::") - 1 + 44) /* the header value we write */

/* Reads the sha-256 member of a Content-Digest value v[0..len) into
 * hex[65] (lowercase, NUL-terminated).  Returns 1 when found, 0 when the
 * field names no sha-256 (other algorithms only), HT_EINVAL when the field
 * is malformed or its sha-256 is not 32 bytes of base64. */
int ht_digest_sha256_of(const char *v, size_t len, char hex[HT_DIGEST_SHA256_HEX + 1]);

/* Writes "sha-256=:<base64>:" for a lowercase hex SHA-256 into
 * out[HT_DIGEST_CONTENT_MAX + 1].  Returns its length, or HT_EINVAL when hex
 * is not 64 hex digits. */
int ht_digest_sha256_header(const char *hex, char out[HT_DIGEST_CONTENT_MAX + 1]);

#endif
