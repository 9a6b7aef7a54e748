/* HANGTIGHT_REDIS_URL parsing: redis://, unix:// and redis+cluster://.
 * Pure string work, no I/O; every refusal says what was wrong. */
#include "shared/redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"

#define WANT "want redis://, unix:// or redis+cluster://"

/* Percent-decodes s[0..len) into out[outlen]. */
static int decode(const char *s, size_t len, char *out, size_t outlen, const char *what,
                  char *err, size_t errlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? ht_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? ht_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return ht_errorf(err, errlen, HT_EINVAL, "bad percent-escape in the %s", what);
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return ht_errorf(err, errlen, HT_EINVAL, "%%00 is not allowed in the %s", what);
            i += 2;
        }
        if (o + 1 >= outlen)
            return ht_errorf(err, errlen, HT_EINVAL, "%s too long", what);
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses a whole decimal number s[0..len) within [min, max]. */
static int number(const char *s, size_t len, long min, long max, long *out)
{
    long v = 0;
    if (len == 0 || len > 9)
        return HT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return HT_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return HT_EINVAL;
    *out = v;
    return 0;
}

/* host[:port] or [v6]:port, from s[0..len). */
static int hostport(const char *s, size_t len, ht_redis_url_t *u, char *err, size_t errlen)
{
    const char *host = s, *port = NULL;
    size_t hlen, plen = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return ht_errorf(err, errlen, HT_EINVAL, "unterminated '[' in host '%.*s'", (int)len,
                             s);
        host = s + 1;
        hlen = (size_t)(close - host);
        const char *rest = close + 1;
        size_t rlen = len - (size_t)(rest - s);
        if (rlen > 0) {
            if (*rest != ':')
                return ht_errorf(err, errlen, HT_EINVAL, "unexpected text after ']' in '%.*s'",
                                 (int)len, s);
            port = rest + 1;
            plen = rlen - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            port = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (hlen == 0)
        return ht_errorf(err, errlen, HT_EINVAL, "missing host");
    if (hlen >= sizeof u->host)
        return ht_errorf(err, errlen, HT_EINVAL, "host too long");
    for (size_t i = 0; i < hlen; i++) {
        if (host[i] == '@' || host[i] == '/' || host[i] == '[' || host[i] == ']' ||
            isspace((unsigned char)host[i]))
            return ht_errorf(err, errlen, HT_EINVAL, "bad character in host '%.*s'", (int)hlen,
                             host);
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    u->port = 6379;
    if (port) {
        long p;
        if (number(port, plen, 1, 65535, &p) < 0)
            return ht_errorf(err, errlen, HT_EINVAL, "bad port '%.*s' (want 1..65535)", (int)plen,
                             port);
        u->port = (int)p;
    }
    return 0;
}

/* Splits off "[user]:password@" at the front of the authority, if any. */
static int userinfo(const char **auth, size_t *alen, ht_redis_url_t *u, char *err,
                    size_t errlen)
{
    const char *at = NULL;
    for (size_t i = 0; i < *alen; i++) {
        if ((*auth)[i] == '@')
            at = *auth + i; /* the last '@': a password may hold '@' unescaped */
    }
    if (!at)
        return 0;
    const char *ui = *auth;
    size_t ulen = (size_t)(at - ui);
    const char *colon = memchr(ui, ':', ulen);
    int rc;
    if (colon) {
        size_t nlen = (size_t)(colon - ui);
        rc = decode(ui, nlen, u->user, sizeof u->user, "user name", err, errlen);
        if (rc == 0)
            rc = decode(colon + 1, ulen - nlen - 1, u->password, sizeof u->password,
                        "password", err, errlen);
    } else {
        rc = decode(ui, ulen, u->user, sizeof u->user, "user name", err, errlen);
    }
    if (rc < 0)
        return rc;
    *alen -= ulen + 1;
    *auth = at + 1;
    return 0;
}

static int parse_tcp(const char *rest, ht_redis_url_t *u, char *err, size_t errlen)
{
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (memchr(rest, '?', alen) || (slash && strchr(slash, '?')))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "query parameters are not supported in redis:// URLs");
    int rc = userinfo(&rest, &alen, u, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = hostport(rest, alen, u, err, errlen)) < 0)
        return rc;
    if (slash && slash[1]) {
        long db;
        if (number(slash + 1, strlen(slash + 1), 0, 100000000, &db) < 0)
            return ht_errorf(err, errlen, HT_EINVAL, "bad database number '%s'", slash + 1);
        u->db = (int)db;
    }
    return 0;
}

static int parse_unix(const char *rest, ht_redis_url_t *u, char *err, size_t errlen)
{
    if (rest[0] != '/')
        return ht_errorf(err, errlen, HT_EINVAL,
                         "unix:// needs an absolute socket path (unix:///path)");
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen >= sizeof u->path)
        return ht_errorf(err, errlen, HT_EINVAL, "socket path too long (at most %zu bytes)",
                         sizeof u->path - 1);
    memcpy(u->path, rest, plen);
    u->path[plen] = '\0';
    if (q) {
        long db;
        if (strncmp(q + 1, "db=", 3) != 0)
            return ht_errorf(err, errlen, HT_EINVAL, "unknown parameter '%s' (only db=N)", q + 1);
        if (number(q + 4, strlen(q + 4), 0, 100000000, &db) < 0)
            return ht_errorf(err, errlen, HT_EINVAL, "bad database number '%s'", q + 4);
        u->db = (int)db;
    }
    return 0;
}

static int parse_cluster(const char *rest, ht_redis_url_t *u, char *err, size_t errlen)
{
    size_t alen = strlen(rest);
    if (strchr(rest, '/') || strchr(rest, '?'))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "redis+cluster:// takes no database or parameters "
                         "(a cluster has only database 0)");
    int rc = userinfo(&rest, &alen, u, err, errlen);
    if (rc < 0)
        return rc;
    /* Validate and keep every seed; the first is also host:port. */
    ht_redis_url_t first = *u;
    int n = 0;
    ht_redis_url_t seed;
    while (alen > 0 || n == 0) {
        const char *comma = memchr(rest, ',', alen);
        size_t slen = comma ? (size_t)(comma - rest) : alen;
        seed = *u;
        if ((rc = hostport(rest, slen, &seed, err, errlen)) < 0)
            return rc;
        if (n >= HT_REDIS_SEEDS_MAX)
            return ht_errorf(err, errlen, HT_EINVAL, "more than %d cluster seeds",
                             HT_REDIS_SEEDS_MAX);
        snprintf(u->seeds[n].host, sizeof(u->seeds[n].host), "%s", seed.host);
        u->seeds[n].port = seed.port;
        if (n++ == 0)
            first = seed;
        if (!comma)
            break;
        rest = comma + 1;
        alen -= slen + 1;
        if (alen == 0)
            return ht_errorf(err, errlen, HT_EINVAL, "missing host after ','");
    }
    memcpy(first.seeds, u->seeds, sizeof(first.seeds));
    first.n_seeds = n;
    *u = first;
    return 0;
}

int ht_redis_url_parse(const char *url, ht_redis_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (err && errlen)
        err[0] = '\0';
    if (!url || !*url)
        return ht_errorf(err, errlen, HT_EINVAL, "empty Redis URL (" WANT ")");
    const char *sep = strstr(url, "://");
    if (!sep)
        return ht_errorf(err, errlen, HT_EINVAL, "'%s' has no scheme (" WANT ")", url);
    size_t slen = (size_t)(sep - url);
    const char *rest = sep + 3;
    if (slen == 5 && strncasecmp(url, "redis", 5) == 0) {
        out->kind = HT_REDIS_TCP;
        return parse_tcp(rest, out, err, errlen);
    }
    if (slen == 4 && strncasecmp(url, "unix", 4) == 0) {
        out->kind = HT_REDIS_UNIX;
        return parse_unix(rest, out, err, errlen);
    }
    if (slen == 13 && strncasecmp(url, "redis+cluster", 13) == 0) {
        out->kind = HT_REDIS_CLUSTER;
        return parse_cluster(rest, out, err, errlen);
    }
    return ht_errorf(err, errlen, HT_EINVAL, "unsupported scheme '%.*s' (" WANT ")", (int)slen,
                     url);
}

size_t ht_redis_login_cmds(const ht_redis_url_t *u, int select_db, ht_argv_t cmds[2])
{
    size_t n = 0;
    if (u->password[0]) {
        ht_argv_init(&cmds[n]);
        ht_argv_add(&cmds[n], "AUTH");
        if (u->user[0])
            ht_argv_add(&cmds[n], u->user);
        ht_argv_add(&cmds[n], u->password);
        n++;
    }
    if (select_db && u->db != 0) {
        ht_argv_init(&cmds[n]);
        ht_argv_add(&cmds[n], "SELECT");
        ht_argv_addf(&cmds[n], "%d", u->db);
        n++;
    }
    return n;
}
