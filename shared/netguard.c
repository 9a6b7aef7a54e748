/* The SSRF guard: the table of address ranges a webhook may not reach, and
 * the literal-address and form checks of a callback_url (see netguard.h).
 * The ranges come from the IANA special-purpose registries (RFC 6890 and
 * updates); a range is refused when it is not globally reachable unicast. */
#include "shared/netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shared/error.h"
#include "shared/job.h"

typedef struct {
    const char *prefix; /* an address in text form, parsed with inet_pton() */
    int len;            /* prefix length in bits */
    const char *what;   /* why it is refused, for messages and readers */
} range_t;

static const range_t refused_v4[] = {
    {"0.0.0.0", 8, "this network"},
    {"10.0.0.0", 8, "private"},
    {"100.64.0.0", 10, "shared address space (CGNAT)"},
    {"127.0.0.0", 8, "loopback"},
    {"169.254.0.0", 16, "link-local"},
    {"172.16.0.0", 12, "private"},
    {"192.0.0.0", 24, "IETF protocol assignments"},
    {"192.0.2.0", 24, "documentation (TEST-NET-1)"},
    {"192.88.99.0", 24, "6to4 relay anycast"},
    {"192.168.0.0", 16, "private"},
    {"198.18.0.0", 15, "benchmarking"},
    {"198.51.100.0", 24, "documentation (TEST-NET-2)"},
    {"203.0.113.0", 24, "documentation (TEST-NET-3)"},
    {"224.0.0.0", 4, "multicast"},
    {"240.0.0.0", 4, "reserved"}, /* also holds 255.255.255.255, broadcast */
};

/* 64:ff9b::/96 (NAT64) is not here: it is judged by its embedded IPv4
 * address.  Everything outside 2000::/3 is refused as well (not global
 * unicast); the entries below inside ::/3 are listed so a reader finds them. */
static const range_t refused_v6[] = {
    {"::", 128, "unspecified"},
    {"::1", 128, "loopback"},
    {"::ffff:0:0", 96, "IPv4-mapped"},
    {"::", 96, "IPv4-compatible (deprecated)"},
    {"64:ff9b:1::", 48, "local-use NAT64"},
    {"100::", 64, "discard-only"},
    {"2001::", 23, "IETF protocol assignments (Teredo, ORCHID, ...)"},
    {"2001:db8::", 32, "documentation"},
    {"2002::", 16, "6to4"},
    {"3fff::", 20, "documentation"},
    {"5f00::", 16, "segment routing (SRv6)"},
    {"fc00::", 7, "unique local"},
    {"fe80::", 10, "link-local"},
    {"fec0::", 10, "site-local (deprecated)"},
    {"ff00::", 8, "multicast"},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* 1 when the first `bits` bits of a and b (both `size` bytes) agree. */
static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* The refused range holding the address (af AF_INET: 4 bytes, AF_INET6: 16),
 * or NULL when it is public. */
static const range_t *refused_range(int af, const unsigned char *addr)
{
    const range_t *table = af == AF_INET ? refused_v4 : refused_v6;
    size_t n = af == AF_INET ? N_OF(refused_v4) : N_OF(refused_v6);
    unsigned char prefix[16];
    for (size_t i = 0; i < n; i++) {
        if (inet_pton(af, table[i].prefix, prefix) == 1 && prefix_match(addr, prefix, table[i].len))
            return &table[i];
    }
    return NULL;
}

/* Why a 4- or 16-byte address may not be reached, or NULL when it may. */
static const char *why_refused(int af, const unsigned char *addr)
{
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    const range_t *r;
    if (af == AF_INET6 && memcmp(addr, nat64, sizeof nat64) == 0)
        return why_refused(AF_INET, addr + 12);
    if ((r = refused_range(af, addr)) != NULL)
        return r->what;
    if (af == AF_INET6 && (addr[0] & 0xe0) != 0x20)
        return "not global unicast (outside 2000::/3)";
    return NULL;
}

int ht_addr_is_public(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return why_refused(AF_INET, (const unsigned char *)&in->sin_addr) == NULL;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return why_refused(AF_INET6, in6->sin6_addr.s6_addr) == NULL;
    }
    return 0;
}

/* ---- callback_url ------------------------------------------------------ */

static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return HT_EINVAL;
}

/* Checks the bracketed IPv6 literal between '[' and ']' (exclusive). */
static int check_v6_host(const char *host, size_t len, int allow_private, char *why, size_t whylen)
{
    char text[INET6_ADDRSTRLEN + 1];
    /* A zone id ("%25eth0" in a URL, RFC 6874) only matters for link-local
     * addresses, which are refused anyway: the address decides. */
    const char *zone = memchr(host, '%', len);
    size_t alen = zone ? (size_t)(zone - host) : len;
    unsigned char addr[16];
    if (alen == 0 || alen >= sizeof text)
        return refuse(why, whylen, "the host is not a valid IPv6 address");
    memcpy(text, host, alen);
    text[alen] = '\0';
    if (inet_pton(AF_INET6, text, addr) != 1)
        return refuse(why, whylen, "the host is not a valid IPv6 address");
    const char *what = why_refused(AF_INET6, addr);
    if (what && !allow_private)
        return refuse(why, whylen, "the host [%s] is not a public address (%s)", text, what);
    return 0;
}

/* Checks a host that is not bracketed: a name passes, an IPv4 literal in any
 * form inet_aton() takes ("127.1", "0x7f.1", "2130706433") must be public. */
static int check_plain_host(const char *host, size_t len, int allow_private, char *why,
                            size_t whylen)
{
    char text[256];
    if (len >= sizeof text)
        return refuse(why, whylen, "the host name is too long");
    memcpy(text, host, len);
    text[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        /* '%': resolvers and URL libraries disagree on percent-decoding a
         * host, so "127.0.0.%31" would slip past a literal check. */
        if (c == '%' || c == '[' || c == ']' || c == '\\')
            return refuse(why, whylen, "the host has a character not allowed in a host name");
    }
    if (len > 1 && text[len - 1] == '.')
        text[len - 1] = '\0'; /* "127.0.0.1." resolves like "127.0.0.1" */
    struct in_addr in;
    if (inet_aton(text, &in) == 0)
        return 0; /* a name: the deliverer checks what it resolves to */
    const char *what = why_refused(AF_INET, (const unsigned char *)&in);
    if (what && !allow_private) {
        char dotted[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in, dotted, sizeof dotted);
        return refuse(why, whylen, "the host %s is not a public address (%s)", dotted, what);
    }
    return 0;
}

/* Length of the scheme prefix ("http://" or "https://", any case), or 0. */
static size_t scheme_len(const char *url)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return 7;
    if (strncasecmp(url, "https://", 8) == 0)
        return 8;
    return 0;
}

/* Checks ":digits" after the host (an empty port means the default). */
static int check_port(const char *p, const char *end, char *why, size_t whylen)
{
    if (p == end)
        return 0;
    if (*p != ':')
        return refuse(why, whylen, "unexpected text after the host");
    long port = 0;
    for (p++; p < end; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
            return refuse(why, whylen, "the port must be a number from 1 to 65535");
    }
    if (port == 0 && p[-1] != ':')
        return refuse(why, whylen, "the port must be a number from 1 to 65535");
    return 0;
}

int ht_callback_url_check(const char *url, int allow_private, char *why, size_t whylen)
{
    if (why && whylen > 0)
        why[0] = '\0';
    if (!url)
        return refuse(why, whylen, "no URL");
    size_t len = strlen(url);
    if (len > HT_CALLBACK_URL_MAX)
        return refuse(why, whylen, "must be at most %d bytes", HT_CALLBACK_URL_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f)
            return refuse(why, whylen, "must not contain spaces or control characters");
    }
    size_t skip = scheme_len(url);
    if (skip == 0)
        return refuse(why, whylen, "must be an absolute http:// or https:// URL");
    const char *auth = url + skip;
    const char *end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)))
        return refuse(why, whylen, "must not carry credentials (user:password@)");
    if (end == auth)
        return refuse(why, whylen, "must name a host");
    if (*auth == '[') {
        const char *close = memchr(auth, ']', (size_t)(end - auth));
        if (!close)
            return refuse(why, whylen, "the host has '[' without ']'");
        int rc = check_v6_host(auth + 1, (size_t)(close - auth - 1), allow_private, why, whylen);
        return rc < 0 ? rc : check_port(close + 1, end, why, whylen);
    }
    const char *colon = memchr(auth, ':', (size_t)(end - auth));
    const char *host_end = colon ? colon : end;
    if (host_end == auth)
        return refuse(why, whylen, "must name a host");
    int rc = check_plain_host(auth, (size_t)(host_end - auth), allow_private, why, whylen);
    return rc < 0 ? rc : check_port(host_end, end, why, whylen);
}
