/* Hex digits, for the few parsers that meet them (percent-encoding in URLs
 * and query strings, SHA-256 digests in the API keys file). */
#ifndef HT_HEX_H
#define HT_HEX_H

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

#endif
