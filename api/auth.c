/* API, operator and worker keys (see auth.h): the keys file parser, the
 * constant-time lookup and the tables in force. */
#include "api/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/hex.h"
#include "shared/log.h"

#include "api/http.h"

#define KEY_MIN  16 /* shorter clear-text keys are refused: guessable */
#define KEY_MAX  256
#define FILE_MAX (1 << 20)

typedef struct {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    ht_tenant_t *tenant;
} entry_t;

struct ht_auth {
    entry_t *entries;
    size_t n, cap;
    ht_auth_t *older; /* tables replaced by reloads, freed at shutdown */
};

/* A key is visible ASCII without spaces (what a Bearer token can carry). */
static int key_chars_ok(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (k[i] <= ' ' || k[i] > '~')
            return 0;
    return 1;
}

static int add_entry(ht_auth_t *a, const unsigned char digest[SHA256_DIGEST_LENGTH],
                     ht_tenant_t *tenant)
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->entries[i].digest, digest, SHA256_DIGEST_LENGTH) == 0)
            return HT_EEXIST;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        entry_t *e = realloc(a->entries, cap * sizeof(*e));
        if (!e)
            return HT_ENOMEM;
        a->entries = e;
        a->cap = cap;
    }
    memcpy(a->entries[a->n].digest, digest, SHA256_DIGEST_LENGTH);
    a->entries[a->n].tenant = tenant;
    a->n++;
    return 0;
}

/* One non-blank, non-comment line: "tenant:key" or "tenant:sha256:<hex>". */
static int parse_line(ht_auth_t *a, const char *line, size_t len, char *why, size_t whylen)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return ht_errorf(why, whylen, HT_EINVAL, "expected tenant:key");
    char name[HT_TENANT_MAX + 2];
    size_t nlen = (size_t)(colon - line);
    snprintf(name, sizeof(name), "%.*s", (int)(nlen < sizeof(name) - 1 ? nlen : sizeof(name) - 1),
             line);
    if (nlen >= sizeof(name) - 1 || !ht_tenant_valid(name))
        return ht_errorf(why, whylen, HT_EINVAL, "tenant must be 1 to %d of A-Z a-z 0-9 _ . -",
                         HT_TENANT_MAX);
    const char *key = colon + 1;
    size_t klen = len - nlen - 1;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    static const char hashed[] = "sha256:";
    if (klen > sizeof(hashed) - 1 && memcmp(key, hashed, sizeof(hashed) - 1) == 0) {
        const char *hex = key + sizeof(hashed) - 1;
        size_t hlen = klen - (sizeof(hashed) - 1);
        if (hlen != 2 * SHA256_DIGEST_LENGTH)
            return ht_errorf(why, whylen, HT_EINVAL, "sha256: must be followed by 64 hex digits");
        for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
            int hi = ht_hex_digit(hex[2 * i]), lo = ht_hex_digit(hex[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return ht_errorf(why, whylen, HT_EINVAL,
                                 "sha256: must be followed by 64 hex digits");
            digest[i] = (unsigned char)(hi << 4 | lo);
        }
    } else {
        if (klen < KEY_MIN || klen > KEY_MAX || !key_chars_ok(key, klen))
            return ht_errorf(why, whylen, HT_EINVAL,
                             "a key must be %d to %d visible ASCII characters without spaces",
                             KEY_MIN, KEY_MAX);
        SHA256((const unsigned char *)key, klen, digest);
    }
    ht_tenant_t *t = ht_tenant_intern(name);
    if (!t)
        return ht_errorf(why, whylen, HT_ENOMEM, "out of memory");
    int rc = add_entry(a, digest, t);
    if (rc == HT_EEXIST)
        return ht_errorf(why, whylen, rc, "the same key is listed twice");
    if (rc < 0)
        return ht_errorf(why, whylen, rc, "out of memory");
    return 0;
}

int ht_auth_parse(const char *text, size_t len, ht_auth_t **out, char *err, size_t errlen)
{
    ht_auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    size_t lineno = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + pos;
        size_t n = end - pos;
        pos = end + 1;
        lineno++;
        while (n && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            n--;
        }
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        char why[160];
        int rc = parse_line(a, line, n, why, sizeof(why));
        if (rc < 0) {
            ht_auth_free(a);
            return ht_errorf(err, errlen, rc, "line %zu: %s", lineno, why);
        }
    }
    *out = a;
    return 0;
}

void ht_auth_free(ht_auth_t *a)
{
    while (a) {
        ht_auth_t *older = a->older;
        /* The digests are secrets of a kind: don't leave them in freed memory. */
        if (a->entries)
            OPENSSL_cleanse(a->entries, a->cap * sizeof(*a->entries));
        free(a->entries);
        free(a);
        a = older;
    }
}

size_t ht_auth_count(const ht_auth_t *a)
{
    return a ? a->n : 0;
}

ht_tenant_t *ht_auth_lookup(const ht_auth_t *a, const char *key, size_t keylen)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, keylen, digest);
    ht_tenant_t *found = NULL;
    /* Every entry is compared, match or not, so the time tells nothing. */
    for (size_t i = 0; i < a->n; i++) {
        int same = CRYPTO_memcmp(a->entries[i].digest, digest, SHA256_DIGEST_LENGTH) == 0;
        if (same)
            found = a->entries[i].tenant;
    }
    return found;
}

/* ---- the tables in force -------------------------------------------- */

/* One table per role, indexed by the role's bit number. */
static const char *const role_names[HT_ROLE__COUNT] = {"API keys", "operator keys", "worker keys"};
static char *keys_paths[HT_ROLE__COUNT];
static _Atomic(ht_auth_t *) current[HT_ROLE__COUNT];
static ht_tenant_t *open_tenant; /* "default", when running open */

static int load_file(const char *path, ht_auth_t **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ht_errorf(err, errlen, -EIO, "%s: %s", path, strerror(errno));
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        return ht_errorf(err, errlen, -EIO, "%s: cannot read it (or it is over %d bytes)", path,
                         FILE_MAX);
    }
    char why[256];
    int rc = ht_auth_parse(buf, n, out, why, sizeof(why));
    OPENSSL_cleanse(buf, n);
    free(buf);
    if (rc < 0)
        return ht_errorf(err, errlen, rc, "%s: %s", path, why);
    return 0;
}

/* Loads every configured file into t[]; HT_EINVAL when a key is in two
 * files (which role would it be?).  On failure nothing is kept. */
static int load_all(ht_auth_t *t[HT_ROLE__COUNT], char *err, size_t errlen)
{
    int rc = 0;
    for (int r = 0; r < HT_ROLE__COUNT; r++)
        t[r] = NULL;
    for (int r = 0; rc == 0 && r < HT_ROLE__COUNT; r++)
        if (keys_paths[r])
            rc = load_file(keys_paths[r], &t[r], err, errlen);
    for (int r = 0; rc == 0 && r < HT_ROLE__COUNT; r++)
        for (int o = r + 1; rc == 0 && t[r] && o < HT_ROLE__COUNT; o++)
            for (size_t i = 0; rc == 0 && t[o] && i < t[o]->n; i++)
                for (size_t j = 0; j < t[r]->n; j++)
                    if (CRYPTO_memcmp(t[o]->entries[i].digest, t[r]->entries[j].digest,
                                      SHA256_DIGEST_LENGTH) == 0) {
                        rc = ht_errorf(err, errlen, HT_EINVAL,
                                       "the same key is in %s (%s) and %s (%s): a key has one role",
                                       keys_paths[r], t[r]->entries[j].tenant->name, keys_paths[o],
                                       t[o]->entries[i].tenant->name);
                        break;
                    }
    if (rc < 0)
        for (int r = 0; r < HT_ROLE__COUNT; r++)
            ht_auth_free(t[r]);
    return rc;
}

static void log_loaded(const char *what, ht_auth_t *const t[HT_ROLE__COUNT])
{
    for (int r = 0; r < HT_ROLE__COUNT; r++) {
        if (!t[r])
            continue;
        char msg[64], n[32];
        snprintf(msg, sizeof(msg), "%s %s", role_names[r], what);
        snprintf(n, sizeof(n), "%zu", t[r]->n);
        ht_log(HT_LOG_INFO, msg, "path", keys_paths[r], "keys", n, NULL);
    }
}

int ht_auth_install(const char *path, const char *operator_path, const char *worker_path, char *err,
                    size_t errlen)
{
    open_tenant = ht_tenant_intern("default");
    if (!open_tenant)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    const char *paths[HT_ROLE__COUNT] = {path, operator_path, worker_path};
    int any = 0;
    for (int r = 0; r < HT_ROLE__COUNT; r++) {
        if (!paths[r] || !paths[r][0])
            continue;
        any = 1;
        if (!(keys_paths[r] = strdup(paths[r])))
            return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    }
    if (!any) {
        ht_log(HT_LOG_WARN,
               "no API keys file (HANGTIGHT_API_KEYS_FILE): the api is open to anyone who can "
               "reach it, as tenant 'default', as an operator and as a remote worker",
               NULL);
        return 0;
    }
    ht_auth_t *t[HT_ROLE__COUNT];
    int rc = load_all(t, err, errlen);
    if (rc < 0)
        return rc;
    for (int r = 0; r < HT_ROLE__COUNT; r++)
        atomic_store(&current[r], t[r] ? t[r] : calloc(1, sizeof(ht_auth_t)));
    for (int r = 0; r < HT_ROLE__COUNT; r++)
        if (!atomic_load(&current[r]))
            return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    log_loaded("loaded", t);
    return 0;
}

int ht_auth_open(void)
{
    return atomic_load(&current[0]) == NULL;
}

int ht_auth_tenant_known(const char *tenant)
{
    const ht_auth_t *a = atomic_load(&current[0]);
    if (!a)
        return strcmp(tenant, "default") == 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->entries[i].tenant->name, tenant) == 0)
            return 1;
    return 0;
}

int ht_auth_generate(const char *path, char key[HT_AUTH_GENERATED_KEY_LEN + 1], char *err,
                     size_t errlen)
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ht_errorf(err, errlen, HT_EINVAL, "no random bytes for a key");
    memcpy(key, "htk_", 4);
    ht_hex_encode(raw, sizeof(raw), key + 4);
    OPENSSL_cleanse(raw, sizeof(raw));
    /* O_EXCL: never overwrite a file, even one created a moment ago by
     * another api starting beside us (it then wins; we load its key). */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        OPENSSL_cleanse(key, HT_AUTH_GENERATED_KEY_LEN + 1);
        if (e == EEXIST)
            return 0;
        return ht_errorf(err, errlen, -e, "%s: cannot create it: %s", path, strerror(e));
    }
    char line[HT_AUTH_GENERATED_KEY_LEN + 128];
    int n = snprintf(line, sizeof(line),
                     "# generated by hangtight-api on first start; one line per key\n"
                     "default:%s\n",
                     key);
    int ok = n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    OPENSSL_cleanse(line, sizeof(line));
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(path);
        OPENSSL_cleanse(key, HT_AUTH_GENERATED_KEY_LEN + 1);
        return ht_errorf(err, errlen, -e, "%s: cannot write it: %s", path, strerror(e));
    }
    return 1;
}

int ht_auth_reload(char *err, size_t errlen)
{
    if (ht_auth_open())
        return ht_errorf(err, errlen, HT_EINVAL, "no API keys file is configured");
    ht_auth_t *t[HT_ROLE__COUNT];
    int rc = load_all(t, err, errlen);
    if (rc < 0)
        return rc;
    /* Only the main thread reloads; readers load the tables atomically. */
    for (int r = 0; r < HT_ROLE__COUNT; r++) {
        ht_auth_t *a = t[r] ? t[r] : calloc(1, sizeof(ht_auth_t));
        if (!a)
            continue; /* out of memory: this role keeps its table */
        a->older = atomic_exchange(&current[r], a);
    }
    log_loaded("reloaded", t);
    return 0;
}

/* The token of "Authorization: Bearer <token>" (scheme case-insensitive,
 * RFC 6750), or a 0-length iovec. */
static h2o_iovec_t bearer_of(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char scheme[] = "bearer ";
    size_t sl = sizeof(scheme) - 1;
    if (v.len <= sl || !h2o_lcstris(v.base, sl, scheme, sl))
        return h2o_iovec_init(NULL, 0);
    const char *p = v.base + sl, *end = v.base + v.len;
    while (p < end && *p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    return h2o_iovec_init(p, (size_t)(end - p));
}

int ht_auth_request_or_reply(h2o_req_t *req, ht_caller_t *who)
{
    memset(who, 0, sizeof(*who));
    if (ht_auth_open()) {
        *who = (ht_caller_t){HT_ROLE_ALL, open_tenant, open_tenant->name};
        return 0;
    }
    h2o_iovec_t key = bearer_of(req);
    /* Every table is searched, found or not: the time tells nothing of
     * which role a key has. */
    for (int r = 0; key.len && key.len <= KEY_MAX && r < HT_ROLE__COUNT; r++) {
        ht_tenant_t *t = ht_auth_lookup(atomic_load(&current[r]), key.base, key.len);
        if (t && !who->roles) {
            who->roles = 1u << r;
            who->tenant = who->roles == HT_ROLE_TENANT ? t : NULL;
            who->name = t->name;
        }
    }
    if (who->roles)
        return 0;
    if (!key.len) {
        ht_http_add_header(req, "www-authenticate", "Bearer realm=\"hangtight\"");
        return ht_http_problem(req, HT_P_UNAUTHORIZED,
                               "send an API key: Authorization: Bearer <key>");
    }
    ht_http_add_header(req, "www-authenticate",
                       "Bearer realm=\"hangtight\", error=\"invalid_token\"");
    return ht_http_problem(req, HT_P_UNAUTHORIZED, "the API key is not valid");
}

/* "localhost", "127.0.0.1" or "[::1]" (any case), with or without a
 * port: the name is what a rebinding page cannot forge, its port is any
 * (an ssh tunnel or a local proxy may map ours to another). */
static int host_is_local(const char *h, size_t n)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t l = strlen(names[i]);
        if (n < l || !h2o_lcstris(h, l, names[i], l))
            continue;
        if (n == l)
            return 1;
        if (h[l] != ':' || n - l - 1 > 5)
            continue;
        size_t j = l + 1;
        while (j < n && h[j] >= '0' && h[j] <= '9')
            j++;
        return j == n;
    }
    return 0;
}

int ht_auth_host_or_reply(h2o_req_t *req)
{
    h2o_iovec_t host = req->input.authority;
    if (host.len == 0 || host_is_local(host.base, host.len))
        return 0;
    return ht_http_problem(req, HT_P_FORBIDDEN,
                           "Host '%.*s' is not a loopback name: with no API keys the api "
                           "answers only Host localhost, 127.0.0.1 or [::1] (DNS rebinding "
                           "guard; configure HANGTIGHT_API_KEYS_FILE to serve other names)",
                           (int)(host.len > 200 ? 200 : host.len), host.base);
}

void ht_auth_shutdown(void)
{
    for (int r = 0; r < HT_ROLE__COUNT; r++) {
        ht_auth_free(atomic_exchange(&current[r], NULL));
        free(keys_paths[r]);
        keys_paths[r] = NULL;
    }
}
