/* Hex digits: read by the few parsers that meet them (percent-encoding in
 * URLs and query strings, SHA-256 digests in the API keys file), written
 * for digests and generated keys. */
#ifndef HT_HEX_H
#define HT_HEX_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1. */
static inline int ht_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes the 2 * n lowercase hex digits of bytes[0..n) and a NUL into out. */
static inline void ht_hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif
