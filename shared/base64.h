/* Standard base64 (RFC 4648 section 4, with padding), over OpenSSL's block
 * coder: the webhook secrets and signatures (shared/webhook.h) and the
 * sealed secrets (shared/secretbox.h) are written in it. */
#ifndef HT_BASE64_H
#define HT_BASE64_H

#include <stddef.h>

/* The length of the base64 text of `len` bytes (without a NUL). */
#define HT_BASE64_LEN(len) (((len) + 2) / 3 * 4)

/* Writes the base64 of in[0..len) and a NUL into out, which must hold
 * HT_BASE64_LEN(len) + 1 bytes.  Returns the text's length. */
size_t ht_base64_encode(const void *in, size_t len, char *out);

/* Decodes the `len` characters of `in` (padded; no spaces or line ends)
 * into out[cap].  Returns the number of bytes, or -1 when the text is not
 * base64 or does not fit. */
long ht_base64_decode(const char *in, size_t len, void *out, size_t cap);

#endif
