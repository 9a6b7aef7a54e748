/* The s3: backend of the blob store: objects in an S3-compatible service,
 * through libcurl.
 *
 * Requests are path-style (<endpoint>/<bucket>/<prefix><key>) and signed by
 * libcurl itself (CURLOPT_AWS_SIGV4).  libcurl signs the payload hash it
 * finds in x-amz-content-sha256, so each request sets that header: the
 * body's SHA-256 when the whole body is at hand (XML bodies, a blob sent in
 * one PUT), UNSIGNED-PAYLOAD for parts streamed from a file or a buffer.
 * libcurl (7.88) puts the query string into the signature as it is written,
 * so every query here is written in canonical form: parameters sorted,
 * each with '=', values percent-encoded (query_add).
 *
 * A blob's SHA-256 and content type are object metadata (x-amz-meta-sha256,
 * Content-Type), set when the object is created.  A writer whose blob fits
 * in one part sends it in one PUT at commit, when the digest is known.  A
 * larger one uploads parts as they fill: to the final key when the digest
 * was given in advance (then checked at commit), else to a staging key
 * "<key>.tmp-<16 hex>" that the commit copies to the final key with the
 * metadata (a server-side copy, no bytes through here) and then deletes.
 * Either way the object appears whole or not at all; a failure aborts the
 * multipart upload and deletes a staging object. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/blob_impl.h"
#include "shared/error.h"

#define RESP_MAX       (2u << 20) /* bytes kept of a response body that is not a blob's */
#define OBJ_MAX        (HT_BLOB_KEY_MAX + 256 + 32)
#define URL_MAX        (OBJ_MAX + 1024)
#define QUERY_MAX      2048
#define MAX_PARTS      10000 /* S3's limit */
#define MIN_PART       (5u << 20)
#define TRIES          3 /* attempts of a request that failed in a way worth retrying */
#define FIRST_BUF      (64u << 10)
#define COPY_STALL_MUL 10 /* a server-side copy may go quiet for longer */

static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

typedef struct {
    char endpoint[512]; /* no trailing '/' */
    char bucket[64];
    char prefix[256]; /* "" or "a/b/" */
    char sigv4[128];
    char *access_key, *secret_key, *session_token;
    char tmp_dir[PATH_MAX];
    uint64_t part_bytes;
    long connect_ms, stall_s;
    CURL *curl; /* the handle's connection, kept alive between calls */
} s3_t;

static s3_t *S(ht_blob_t *b)
{
    return b->be;
}

/* ---- XML ------------------------------------------------------------------- */

/* The text of the first <tag>...</tag> in [p, end), entities decoded, into
 * out[outlen] (cut to fit).  Returns the end of the closing tag, or NULL
 * when there is none.  S3's answers are flat enough for this: no CDATA,
 * no attributes on the elements read here. */
const char *ht__blob_xml_text(const char *p, const char *end, const char *tag, char *out,
                              size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (!a)
        return NULL;
    a += strlen(open);
    const char *z = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!z)
        return NULL;
    size_t o = 0;
    for (const char *s = a; s < z && o + 1 < outlen;) {
        if (*s != '&') {
            out[o++] = *s++;
            continue;
        }
        static const struct {
            const char *name;
            char c;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        size_t i;
        for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
            size_t n = strlen(ents[i].name);
            if ((size_t)(z - s) >= n && memcmp(s, ents[i].name, n) == 0) {
                out[o++] = ents[i].c;
                s += n;
                break;
            }
        }
        if (i < sizeof(ents) / sizeof(ents[0]))
            continue;
        if (z - s > 3 && s[1] == '#') { /* &#NN; or &#xNN;, ASCII only */
            char *e;
            long v = s[2] == 'x' ? strtol(s + 3, &e, 16) : strtol(s + 2, &e, 10);
            if (e < z && *e == ';' && v > 0 && v < 128) {
                out[o++] = (char)v;
                s = e + 1;
                continue;
            }
        }
        out[o++] = *s++;
    }
    out[o] = '\0';
    return z + strlen(close);
}

/* ---- requests -------------------------------------------------------------- */

/* Appends "name=value" to a canonical query (callers add parameters in
 * sorted order), the value percent-encoded as SigV4 wants. */
static void query_add(char q[QUERY_MAX], const char *name, const char *value)
{
    size_t n = strlen(q);
    n += (size_t)snprintf(q + n, QUERY_MAX - n, "%s%s=", n ? "&" : "", name);
    for (const unsigned char *v = (const unsigned char *)value; *v && n + 4 < QUERY_MAX; v++) {
        if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') ||
            *v == '-' || *v == '_' || *v == '.' || *v == '~')
            q[n++] = (char)*v;
        else
            n += (size_t)snprintf(q + n, QUERY_MAX - n, "%%%02X", *v);
    }
    q[n] = '\0';
}

typedef struct {
    /* the request */
    const char *method;      /* GET HEAD PUT POST DELETE */
    const char *obj;         /* object name under the bucket, prefix included; NULL: the bucket */
    const char *query;       /* canonical (query_add) or NULL */
    struct curl_slist *hdrs; /* more headers, owned by the caller */
    const char *body;        /* a body in memory, signed with its SHA-256 ... */
    size_t body_len;
    const char *body_sha256; /* ... which the caller may know already */
    int fd;                  /* or a body from a file (fd >= 0), unsigned */
    uint64_t fd_off, fd_len;
    uint64_t range_off, range_len; /* GET: Range when range_len > 0 */
    ht_blob_sink_fn sink;          /* GET: where a 2xx body goes */
    void *sink_ud;
    long stall_s; /* 0: the store's */

    /* the answer */
    long status;
    char *resp; /* a body that went to no sink (errors, XML), NUL-terminated */
    size_t resp_len;
    char etag[HT_BLOB_ETAG_MAX];
    char content_type[HT_BLOB_CTYPE_MAX];
    char sha256[HT_BLOB_SHA256_LEN + 1];
    uint64_t content_length;
    int64_t mtime;

    /* transfer state */
    CURL *curl;
    uint64_t pos;         /* of the body sent */
    uint64_t delivered;   /* bytes given to the sink */
    uint64_t range_start; /* where the body starts (Content-Range of a 206) */
    uint64_t skip;        /* bytes of the body before the range, dropped so far */
    int range_bad;        /* the body starts after the range asked for */
    int sink_stopped;
    int read_errno;
} call_t;

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    call_t *c = ud;
    size_t want = size * nmemb;
    uint64_t total = c->fd >= 0 ? c->fd_len : c->body_len;
    if (want > total - c->pos)
        want = (size_t)(total - c->pos);
    if (want == 0)
        return 0;
    if (c->fd < 0) {
        memcpy(buf, c->body + c->pos, want);
        c->pos += want;
        return want;
    }
    ssize_t n;
    do {
        n = pread(c->fd, buf, want, (off_t)(c->fd_off + c->pos));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        c->read_errno = n < 0 ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    c->pos += (uint64_t)n;
    return (size_t)n;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
    call_t *c = ud;
    if (origin != SEEK_SET || offset < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    c->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void copy_value(char *out, size_t outlen, const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t header_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    call_t *c = ud;
    size_t len = size * nmemb;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a new answer (after a 100) */
        c->etag[0] = c->content_type[0] = c->sha256[0] = '\0';
        c->content_length = c->range_start = 0;
        c->mtime = 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    while (v < buf + len && *v == ' ')
        v++;
    size_t vlen = (size_t)(buf + len - v);
    char tmp[128];
    if (nlen == 4 && strncasecmp(buf, "etag", 4) == 0) {
        copy_value(c->etag, sizeof(c->etag), v, vlen);
    } else if (nlen == 12 && strncasecmp(buf, "content-type", 12) == 0) {
        copy_value(c->content_type, sizeof(c->content_type), v, vlen);
    } else if (nlen == 14 && strncasecmp(buf, "content-length", 14) == 0) {
        copy_value(tmp, sizeof(tmp), v, vlen);
        c->content_length = strtoull(tmp, NULL, 10);
    } else if (nlen == 13 && strncasecmp(buf, "last-modified", 13) == 0) {
        copy_value(tmp, sizeof(tmp), v, vlen);
        time_t t = curl_getdate(tmp, NULL);
        c->mtime = t < 0 ? 0 : (int64_t)t;
    } else if (nlen == 13 && strncasecmp(buf, "content-range", 13) == 0) {
        copy_value(tmp, sizeof(tmp), v, vlen); /* "bytes FIRST-LAST/TOTAL" */
        if (strncmp(tmp, "bytes ", 6) == 0)
            c->range_start = strtoull(tmp + 6, NULL, 10);
    } else if (nlen == 17 && strncasecmp(buf, "x-amz-meta-sha256", 17) == 0) {
        copy_value(tmp, sizeof(tmp), v, vlen);
        if (strlen(tmp) == HT_BLOB_SHA256_LEN)
            memcpy(c->sha256, tmp, sizeof(c->sha256));
    }
    return len;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    call_t *c = ud;
    size_t total = size * nmemb, len = total;
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (c->sink && status / 100 == 2) {
        /* The body may start before the range asked for: a server that
         * ignores Range sends the whole object (200), and s3rver 3.7 answers
         * "bytes=0-0" with the whole object as a 206.  The range is cut out
         * here, from where Content-Range says the body starts. */
        if (c->range_len > 0) {
            uint64_t start = status == 206 ? c->range_start : 0;
            if (start > c->range_off) {
                c->range_bad = 1;
                return 0;
            }
            if (c->skip < c->range_off - start) {
                uint64_t drop = c->range_off - start - c->skip;
                if (drop >= len) {
                    c->skip += len;
                    return total;
                }
                c->skip += drop;
                p += drop;
                len -= (size_t)drop;
            }
            if (len > c->range_len - c->delivered)
                len = (size_t)(c->range_len - c->delivered);
        }
        if (len > 0 && c->sink(c->sink_ud, p, len) != 0) {
            c->sink_stopped = 1;
            return 0;
        }
        c->delivered += len;
        return total;
    }
    if (c->resp_len + len + 1 > RESP_MAX)
        return total; /* the rest of a long error page is not needed */
    char *r = realloc(c->resp, c->resp_len + len + 1);
    if (!r)
        return 0;
    c->resp = r;
    memcpy(c->resp + c->resp_len, p, len);
    c->resp_len += len;
    c->resp[c->resp_len] = '\0';
    return total;
}

/* What a failed answer means, with its S3 error code in the words. */
static int status_code(call_t *c, char *err, size_t errlen)
{
    char code[128] = "", msg[256] = "";
    if (c->resp) {
        const char *end = c->resp + c->resp_len;
        ht__blob_xml_text(c->resp, end, "Code", code, sizeof(code));
        ht__blob_xml_text(c->resp, end, "Message", msg, sizeof(msg));
    }
    int rc;
    long s = c->status;
    if (s == 404 && strcmp(code, "NoSuchBucket") != 0 && strcmp(code, "NoSuchUpload") != 0)
        rc = HT_ENOTFOUND;
    else if (s == 403 || s == 401)
        rc = -EACCES;
    else if (s == 507)
        rc = HT_ENOSPACE;
    else if (s >= 500 || s == 429 || s == 408)
        rc = HT_EUNAVAIL;
    else if (strcmp(code, "EntityTooLarge") == 0)
        rc = HT_ETOOBIG;
    else
        rc = HT_EPROTO;
    return ht_errorf(err, errlen, rc, "S3 %s /%s: %ld %s%s%s", c->method, c->obj ? c->obj : "", s,
                     code[0] ? code : "(no S3 error code)", msg[0] ? ": " : "", msg);
}

/* Whether a failure may pass if the same request is sent again: the
 * service said so (5xx, 429) or the connection broke, and no byte has been
 * handed to a sink yet.  A refused connection or a timeout is final:
 * the store is down, and the caller hears so at once. */
static int worth_retrying(call_t *c, CURLcode res)
{
    if (c->delivered > 0 || c->sink_stopped || c->read_errno || c->range_bad)
        return 0;
    if (res == CURLE_OK)
        return c->status >= 500 || c->status == 429;
    return res == CURLE_SEND_ERROR || res == CURLE_RECV_ERROR || res == CURLE_GOT_NOTHING;
}

static void sha256_hex_of(const void *p, size_t n, char out[HT_BLOB_SHA256_LEN + 1])
{
    unsigned char md[32];
    EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
    ht__blob_hex(md, out);
}

/* Sends c with curl (a connection of s's or a writer's).  Returns 0 for a
 * 2xx answer (c->resp holds its body when no sink took it), else a code
 * with words in err. */
static int perform(s3_t *s, CURL *curl, call_t *c, char *err, size_t errlen)
{
    char url[URL_MAX], range[64], errbuf[CURL_ERROR_SIZE];
    snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->endpoint, s->bucket, c->obj ? "/" : "",
             c->obj ? c->obj : "", c->query ? "?" : "", c->query ? c->query : "");
    char payload[HT_BLOB_SHA256_LEN + 1];
    const char *payload_hash = EMPTY_SHA256;
    if (c->fd >= 0) {
        payload_hash = c->body_sha256 ? c->body_sha256 : "UNSIGNED-PAYLOAD";
    } else if (c->body) {
        if (!c->body_sha256)
            sha256_hex_of(c->body, c->body_len, payload);
        payload_hash = c->body_sha256 ? c->body_sha256 : payload;
    }
    char h_payload[96], h_token[4096];
    snprintf(h_payload, sizeof(h_payload), "x-amz-content-sha256: %s", payload_hash);
    struct curl_slist *extra = curl_slist_append(NULL, h_payload);
    if (extra && s->session_token) {
        snprintf(h_token, sizeof(h_token), "x-amz-security-token: %s", s->session_token);
        extra = curl_slist_append(extra, h_token);
    }
    for (struct curl_slist *h = c->hdrs; extra && h; h = h->next)
        extra = curl_slist_append(extra, h->data);
    if (!extra)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");

    int rc = 0;
    for (int attempt = 0; attempt < TRIES; attempt++) {
        free(c->resp);
        c->resp = NULL;
        c->resp_len = 0;
        c->status = 0;
        c->pos = c->delivered = c->skip = c->range_start = 0;
        c->sink_stopped = c->read_errno = c->range_bad = 0;
        c->curl = curl;
        errbuf[0] = '\0';

        curl_easy_reset(curl); /* keeps the live connection */
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(curl, CURLOPT_USERNAME, s->access_key);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, s->secret_key);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, extra);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, s->connect_ms);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, c->stall_s ? c->stall_s : s->stall_s);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (strcmp(c->method, "HEAD") == 0) {
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        } else if (strcmp(c->method, "PUT") == 0) {
            curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                             (curl_off_t)(c->fd >= 0 ? c->fd_len : c->body_len));
            curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(curl, CURLOPT_READDATA, c);
            curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_cb);
            curl_easy_setopt(curl, CURLOPT_SEEKDATA, c);
        } else if (strcmp(c->method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POST, 1L);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body ? c->body : "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        } else if (strcmp(c->method, "DELETE") == 0) {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        if (c->range_len > 0) {
            if (c->range_len == UINT64_MAX || c->range_off + c->range_len < c->range_off)
                snprintf(range, sizeof(range), "%llu-", (unsigned long long)c->range_off);
            else
                snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)c->range_off,
                         (unsigned long long)(c->range_off + c->range_len - 1));
            curl_easy_setopt(curl, CURLOPT_RANGE, range);
        }

        CURLcode res = curl_easy_perform(curl);
        if (res == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
        if (res == CURLE_OK && c->status / 100 == 2) {
            rc = 0;
            break;
        }
        if (c->sink_stopped) {
            rc = ht_errorf(err, errlen, HT_ECANCELED, "read stopped by its reader");
            break;
        }
        if (c->range_bad) {
            rc = ht_errorf(err, errlen, HT_EPROTO, "S3 GET %s: the answer starts after the range",
                           url);
            break;
        }
        if (c->read_errno) {
            rc = ht_errorf(err, errlen, -c->read_errno, "reading the file to upload: %s",
                           strerror(c->read_errno));
            break;
        }
        if (res == CURLE_OK)
            rc = status_code(c, err, errlen);
        else
            rc = ht_errorf(err, errlen, HT_EUNAVAIL, "S3 %s %s: %s", c->method, url,
                           errbuf[0] ? errbuf : curl_easy_strerror(res));
        if (!worth_retrying(c, res))
            break;
        struct timespec pause = {0, 100000000L << attempt}; /* 100 ms, then 200 ms */
        nanosleep(&pause, NULL);
    }
    /* The handle outlives this frame: it must not keep pointers into it. */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(extra);
    return rc;
}

static void call_init(call_t *c, const char *method, const char *obj)
{
    memset(c, 0, sizeof(*c));
    c->method = method;
    c->obj = obj;
    c->fd = -1;
}

static void call_done(call_t *c)
{
    free(c->resp);
    c->resp = NULL;
}

/* ---- opening --------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : HT_ENOMEM;
}

static int bucket_valid(const char *s, size_t n)
{
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '-'))
            return 0;
    return 1;
}

static void s3_free(s3_t *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s);
}

static int s3_open(ht_blob_t *b, const char *spec, const ht_blob_settings_t *set, char *err,
                   size_t errlen)
{
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc < 0)
        return ht_errorf(err, errlen, curl_init_rc, "curl_global_init failed");
    s3_t *s = calloc(1, sizeof(*s));
    if (!s)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    int rc = HT_EINVAL;
    const char *slash = strchr(spec, '/');
    size_t blen = slash ? (size_t)(slash - spec) : strlen(spec);
    if (!bucket_valid(spec, blen)) {
        ht_errorf(err, errlen, rc, "s3: bucket name must be 3 to 63 of [a-z0-9.-]");
        goto fail;
    }
    memcpy(s->bucket, spec, blen);
    /* The prefix: segments like a tenant's, so it needs no escaping. */
    if (slash && slash[1]) {
        const char *p = slash + 1;
        size_t n = 0;
        while (*p) {
            const char *e = strchr(p, '/');
            size_t sl = e ? (size_t)(e - p) : strlen(p);
            if (!ht__blob_segment_valid(p, sl) || n + sl + 2 > 200) {
                ht_errorf(err, errlen, rc, "s3: prefix segments must be 1 to 64 of [A-Za-z0-9_.-]");
                goto fail;
            }
            memcpy(s->prefix + n, p, sl);
            n += sl;
            s->prefix[n++] = '/';
            p += sl;
            while (*p == '/')
                p++;
        }
    }
    const char *region = set->s3_region && *set->s3_region ? set->s3_region : "us-east-1";
    for (const char *r = region; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-') ||
            r - region > 40) {
            ht_errorf(err, errlen, rc, "s3: region must be [a-z0-9-]");
            goto fail;
        }
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", region);
    if (set->s3_endpoint && *set->s3_endpoint) {
        const char *e = set->s3_endpoint;
        if ((strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0) ||
            strlen(e) >= sizeof(s->endpoint) || strpbrk(e, " ?#")) {
            ht_errorf(err, errlen, rc, "s3: endpoint must be an http:// or https:// URL");
            goto fail;
        }
        snprintf(s->endpoint, sizeof(s->endpoint), "%s", e);
    } else {
        snprintf(s->endpoint, sizeof(s->endpoint), "https://s3.%s.amazonaws.com", region);
    }
    size_t n = strlen(s->endpoint);
    while (n > 8 && s->endpoint[n - 1] == '/')
        s->endpoint[--n] = '\0';
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");
    if (!ak || !*ak || !sk || !*sk) {
        ht_errorf(err, errlen, rc, "s3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set");
        goto fail;
    }
    if (tok && strlen(tok) > 3000) {
        ht_errorf(err, errlen, rc, "s3: AWS_SESSION_TOKEN too long");
        goto fail;
    }
    s->access_key = strdup(ak);
    s->secret_key = strdup(sk);
    s->session_token = tok && *tok ? strdup(tok) : NULL;
    const char *tmp = set->tmp_dir && *set->tmp_dir ? set->tmp_dir : getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (strlen(tmp) > 3000) {
        ht_errorf(err, errlen, rc, "s3: tmp dir path too long");
        goto fail;
    }
    snprintf(s->tmp_dir, sizeof(s->tmp_dir), "%s", tmp);
    s->part_bytes = (uint64_t)(set->s3_part_mb >= 5 ? set->s3_part_mb : 8) << 20;
    s->connect_ms = set->s3_connect_timeout_ms > 0 ? set->s3_connect_timeout_ms : 5000;
    s->stall_s = set->s3_stall_timeout_s > 0 ? set->s3_stall_timeout_s : 30;
    s->curl = curl_easy_init();
    if (!s->access_key || !s->secret_key || (tok && *tok && !s->session_token) || !s->curl) {
        rc = ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
        goto fail;
    }
    b->be = s;
    return 0;
fail:
    s3_free(s);
    return rc;
}

static void s3_close(ht_blob_t *b)
{
    s3_free(b->be);
}

static void obj_name(s3_t *s, const char *key, char out[OBJ_MAX])
{
    snprintf(out, OBJ_MAX, "%s%s", s->prefix, key);
}

/* The part size for an upload of up to max bytes: the setting, or more
 * when 10,000 parts of it would not hold max. */
static uint64_t part_size(s3_t *s, uint64_t max)
{
    uint64_t p = s->part_bytes;
    if (max / MAX_PARTS >= p)
        p = max / MAX_PARTS + 1;
    return p < MIN_PART ? MIN_PART : p;
}

/* ---- multipart uploads ----------------------------------------------------- */

typedef struct {
    char obj[OBJ_MAX];
    char upload_id[512];
    char (*etags)[HT_BLOB_ETAG_MAX];
    int nparts, cap;
} mpu_t;

static void sha_header(struct curl_slist **h, const char *sha)
{
    char line[128];
    snprintf(line, sizeof(line), "x-amz-meta-sha256: %s", sha);
    *h = curl_slist_append(*h, line);
}

static struct curl_slist *meta_headers(const char *ctype, const char *sha)
{
    char line[HT_BLOB_CTYPE_MAX + 32];
    snprintf(line, sizeof(line), "Content-Type: %s", ctype);
    struct curl_slist *h = curl_slist_append(NULL, line);
    if (h && sha)
        sha_header(&h, sha);
    return h;
}

static int mpu_start(s3_t *s, CURL *curl, mpu_t *m, const char *ctype, const char *sha, char *err,
                     size_t errlen)
{
    call_t c;
    call_init(&c, "POST", m->obj);
    c.query = "uploads=";
    c.hdrs = meta_headers(ctype, sha);
    if (!c.hdrs)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    int rc = perform(s, curl, &c, err, errlen);
    if (rc == 0 && (!c.resp ||
                    !ht__blob_xml_text(c.resp, c.resp + c.resp_len, "UploadId", m->upload_id,
                                       sizeof(m->upload_id)) ||
                    !m->upload_id[0]))
        rc = ht_errorf(err, errlen, HT_EPROTO, "S3 CreateMultipartUpload: no UploadId");
    curl_slist_free_all(c.hdrs);
    call_done(&c);
    return rc;
}

/* Uploads part number nparts + 1 from memory (body) or from fd. */
static int mpu_part(s3_t *s, CURL *curl, mpu_t *m, const void *body, int fd, uint64_t off,
                    uint64_t len, char *err, size_t errlen)
{
    if (m->nparts == MAX_PARTS)
        return ht_errorf(err, errlen, HT_ETOOBIG, "more than %d parts", MAX_PARTS);
    if (m->nparts == m->cap) {
        int cap = m->cap ? m->cap * 2 : 64;
        void *e = realloc(m->etags, (size_t)cap * sizeof(*m->etags));
        if (!e)
            return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
        m->etags = e;
        m->cap = cap;
    }
    char query[QUERY_MAX] = "", num[16];
    snprintf(num, sizeof(num), "%d", m->nparts + 1);
    query_add(query, "partNumber", num);
    query_add(query, "uploadId", m->upload_id);
    call_t c;
    call_init(&c, "PUT", m->obj);
    c.query = query;
    if (fd >= 0) {
        c.fd = fd;
        c.fd_off = off;
        c.fd_len = len;
    } else {
        /* Streamed like a file part: hashing every part again to sign it
         * would cost a second pass over all the bytes. */
        c.body = body;
        c.body_len = (size_t)len;
        c.body_sha256 = "UNSIGNED-PAYLOAD";
    }
    int rc = perform(s, curl, &c, err, errlen);
    if (rc == 0 && !c.etag[0])
        rc = ht_errorf(err, errlen, HT_EPROTO, "S3 UploadPart: no ETag in the answer");
    if (rc == 0)
        snprintf(m->etags[m->nparts++], HT_BLOB_ETAG_MAX, "%s", c.etag);
    call_done(&c);
    return rc;
}

/* An S3 quirk: CompleteMultipartUpload and CopyObject may answer 200 with
 * an <Error> body. */
static int error_in_200(call_t *c, char *err, size_t errlen)
{
    if (!c->resp || !strstr(c->resp, "<Error>"))
        return 0;
    c->status = 500;
    return status_code(c, err, errlen);
}

static int mpu_complete(s3_t *s, CURL *curl, mpu_t *m, char etag[HT_BLOB_ETAG_MAX], char *err,
                        size_t errlen)
{
    size_t cap = 128 + (size_t)m->nparts * (64 + HT_BLOB_ETAG_MAX), n = 0;
    char *xml = malloc(cap);
    if (!xml)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    n += (size_t)snprintf(xml + n, cap - n, "<CompleteMultipartUpload>");
    for (int i = 0; i < m->nparts; i++)
        n += (size_t)snprintf(xml + n, cap - n,
                              "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1,
                              m->etags[i]);
    n += (size_t)snprintf(xml + n, cap - n, "</CompleteMultipartUpload>");
    char query[QUERY_MAX] = "";
    query_add(query, "uploadId", m->upload_id);
    call_t c;
    call_init(&c, "POST", m->obj);
    c.query = query;
    c.body = xml;
    c.body_len = n;
    c.hdrs = curl_slist_append(NULL, "Content-Type: application/xml");
    /* Assembling a large object can keep the service quiet for a while. */
    c.stall_s = s->stall_s * COPY_STALL_MUL;
    int rc = c.hdrs ? perform(s, curl, &c, err, errlen) : HT_ENOMEM;
    if (rc == 0)
        rc = error_in_200(&c, err, errlen);
    if (rc == 0) {
        etag[0] = '\0';
        ht__blob_xml_text(c.resp ? c.resp : "", c.resp ? c.resp + c.resp_len : "", "ETag", etag,
                          HT_BLOB_ETAG_MAX);
    }
    curl_slist_free_all(c.hdrs);
    call_done(&c);
    free(xml);
    return rc;
}

static void mpu_abort(s3_t *s, CURL *curl, mpu_t *m)
{
    if (!m->upload_id[0])
        return;
    char query[QUERY_MAX] = "", err[256];
    query_add(query, "uploadId", m->upload_id);
    call_t c;
    call_init(&c, "DELETE", m->obj);
    c.query = query;
    perform(s, curl, &c, err, sizeof(err)); /* best effort: see docs/blobs.md */
    call_done(&c);
    m->upload_id[0] = '\0';
}

static int put_object(s3_t *s, CURL *curl, const char *obj, const void *body, int fd, uint64_t len,
                      const char *sha, const char *ctype, char etag[HT_BLOB_ETAG_MAX], char *err,
                      size_t errlen)
{
    call_t c;
    call_init(&c, "PUT", obj);
    if (fd >= 0) {
        c.fd = fd;
        c.fd_len = len;
    } else {
        c.body = body ? body : "";
        c.body_len = (size_t)len;
    }
    c.body_sha256 = sha; /* the body is the whole blob: its digest signs it */
    c.hdrs = meta_headers(ctype, sha);
    int rc = c.hdrs ? perform(s, curl, &c, err, errlen) : HT_ENOMEM;
    if (rc == 0)
        snprintf(etag, HT_BLOB_ETAG_MAX, "%s", c.etag);
    curl_slist_free_all(c.hdrs);
    call_done(&c);
    return rc;
}

static int delete_object(s3_t *s, CURL *curl, const char *obj, char *err, size_t errlen)
{
    call_t c;
    call_init(&c, "DELETE", obj);
    int rc = perform(s, curl, &c, err, errlen);
    call_done(&c);
    return rc == HT_ENOTFOUND ? 0 : rc;
}

/* ---- writers --------------------------------------------------------------- */

typedef struct {
    CURL *curl; /* the writer's own connection: it may move between threads */
    unsigned char *buf;
    size_t len, cap;
    uint64_t part;
    mpu_t mpu;
    int staging;           /* the parts go to a staging object */
    int staging_completed; /* ... which exists and must be deleted */
} s3_writer_t;

static int s3_writer_open(ht_blob_writer_t *w)
{
    s3_t *s = S(w->store);
    s3_writer_t *sw = calloc(1, sizeof(*sw));
    if (!sw || !(sw->curl = curl_easy_init())) {
        free(sw);
        return ht__blob_wfail(w, HT_ENOMEM, "out of memory");
    }
    sw->part = part_size(s, w->max_bytes);
    obj_name(s, w->key, sw->mpu.obj);
    w->be = sw;
    return 0;
}

/* Sends the full buffer as the next part, starting the upload first. */
static int flush_part(ht_blob_writer_t *w, s3_writer_t *sw)
{
    s3_t *s = S(w->store);
    int rc;
    if (!sw->mpu.upload_id[0]) {
        if (!w->expect_sha256[0]) {
            char hex[33];
            rc = ht__blob_random_hex(hex);
            if (rc < 0)
                return ht__blob_wfail(w, rc, "getrandom: %s", ht_strerror(rc));
            snprintf(sw->mpu.obj, sizeof(sw->mpu.obj), "%s%s.tmp-%.16s", s->prefix, w->key, hex);
            sw->staging = 1;
        }
        rc = mpu_start(s, sw->curl, &sw->mpu, w->content_type,
                       w->expect_sha256[0] ? w->expect_sha256 : NULL, w->err, sizeof(w->err));
        if (rc < 0)
            return rc;
    }
    rc = mpu_part(s, sw->curl, &sw->mpu, sw->buf, -1, 0, sw->len, w->err, sizeof(w->err));
    if (rc == 0)
        sw->len = 0;
    return rc;
}

static int s3_writer_write(ht_blob_writer_t *w, const void *buf, size_t len)
{
    s3_writer_t *sw = w->be;
    const unsigned char *p = buf;
    while (len > 0) {
        if (sw->len == sw->cap) {
            if (sw->cap == sw->part) {
                int rc = flush_part(w, sw);
                if (rc < 0)
                    return rc; /* words in w->err; blob.c makes it sticky */
                continue;
            }
            /* Grow toward one part; an announced small blob gets its size. */
            size_t cap = sw->cap ? sw->cap * 2 : FIRST_BUF;
            if (w->expect_bytes > 0 && !sw->cap && (uint64_t)w->expect_bytes < sw->part)
                cap = (size_t)w->expect_bytes;
            if (cap > sw->part)
                cap = (size_t)sw->part;
            unsigned char *nb = realloc(sw->buf, cap);
            if (!nb)
                return ht__blob_wfail(w, HT_ENOMEM, "out of memory");
            sw->buf = nb;
            sw->cap = cap;
        }
        size_t n = sw->cap - sw->len < len ? sw->cap - sw->len : len;
        memcpy(sw->buf + sw->len, p, n);
        sw->len += n;
        p += n;
        len -= n;
    }
    return 0;
}

static int s3_writer_commit(ht_blob_writer_t *w, const char *sha, ht_blob_info_t *info)
{
    s3_t *s = S(w->store);
    s3_writer_t *sw = w->be;
    char final[OBJ_MAX];
    obj_name(s, w->key, final);
    int rc;
    if (!sw->mpu.upload_id[0]) { /* it all fits in one part: one PUT */
        rc = put_object(s, sw->curl, final, sw->buf, -1, sw->len, sha, w->content_type, info->etag,
                        w->err, sizeof(w->err));
        goto done;
    }
    if (sw->len > 0 && (rc = flush_part(w, sw)) < 0)
        goto done;
    rc = mpu_complete(s, sw->curl, &sw->mpu, info->etag, w->err, sizeof(w->err));
    if (rc < 0)
        goto done;
    sw->mpu.upload_id[0] = '\0';
    if (!sw->staging)
        goto done;
    sw->staging_completed = 1;
    /* The staging object becomes the blob, with the metadata now known. */
    call_t c;
    call_init(&c, "PUT", final);
    c.body = "";
    c.stall_s = s->stall_s * COPY_STALL_MUL;
    c.hdrs = meta_headers(w->content_type, sha);
    char line[OBJ_MAX + 64];
    ht__blob_pathf(line, sizeof(line), "x-amz-copy-source: /%s/%s", s->bucket, sw->mpu.obj);
    if (c.hdrs)
        c.hdrs = curl_slist_append(c.hdrs, line);
    if (c.hdrs)
        c.hdrs = curl_slist_append(c.hdrs, "x-amz-metadata-directive: REPLACE");
    rc = c.hdrs ? perform(s, sw->curl, &c, w->err, sizeof(w->err)) : HT_ENOMEM;
    if (rc == 0)
        rc = error_in_200(&c, w->err, sizeof(w->err));
    if (rc == 0) {
        info->etag[0] = '\0';
        ht__blob_xml_text(c.resp ? c.resp : "", c.resp ? c.resp + c.resp_len : "", "ETag",
                          info->etag, sizeof(info->etag));
    }
    curl_slist_free_all(c.hdrs);
    call_done(&c);
    if (rc == 0) {
        char err[256];
        /* A leftover staging object is partial: the sweeper takes it. */
        if (delete_object(s, sw->curl, sw->mpu.obj, err, sizeof(err)) == 0)
            sw->staging_completed = 0;
    }
done:
    if (rc == 0)
        info->mtime = (int64_t)time(NULL);
    return rc; /* words in w->err */
}

static void s3_writer_abort(ht_blob_writer_t *w)
{
    s3_t *s = S(w->store);
    s3_writer_t *sw = w->be;
    if (!sw)
        return;
    mpu_abort(s, sw->curl, &sw->mpu);
    if (sw->staging_completed) {
        char err[256];
        delete_object(s, sw->curl, sw->mpu.obj, err, sizeof(err));
    }
}

/* Frees what s3_writer_open made; called by both ends of a writer. */
static void s3_writer_free(ht_blob_writer_t *w)
{
    s3_writer_t *sw = w->be;
    if (!sw)
        return;
    curl_easy_cleanup(sw->curl);
    free(sw->mpu.etags);
    free(sw->buf);
    free(sw);
    w->be = NULL;
}

static int s3_writer_commit_and_free(ht_blob_writer_t *w, const char *sha, ht_blob_info_t *info)
{
    int rc = s3_writer_commit(w, sha, info);
    if (rc == 0)
        s3_writer_free(w);
    return rc;
}

static void s3_writer_abort_and_free(ht_blob_writer_t *w)
{
    s3_writer_abort(w);
    s3_writer_free(w);
}

/* ---- whole files ----------------------------------------------------------- */

static int s3_put_fd_wants(ht_blob_t *b, const struct stat *st, unsigned flags)
{
    (void)b, (void)st, (void)flags;
    return 1; /* always straight from the file */
}

static int s3_put_fd(ht_blob_t *b, const char *key, int fd, const char *path, uint64_t size,
                     const char *sha, const char *ctype, ht_blob_info_t *info)
{
    (void)path;
    s3_t *s = S(b);
    mpu_t m = {0};
    obj_name(s, key, m.obj);
    uint64_t part = part_size(s, size);
    int rc;
    if (size <= part) {
        rc = put_object(s, s->curl, m.obj, NULL, fd, size, sha, ctype, info->etag, b->err,
                        sizeof(b->err));
    } else {
        rc = mpu_start(s, s->curl, &m, ctype, sha, b->err, sizeof(b->err));
        for (uint64_t off = 0; rc == 0 && off < size; off += part)
            rc = mpu_part(s, s->curl, &m, NULL, fd, off, size - off < part ? size - off : part,
                          b->err, sizeof(b->err));
        if (rc == 0)
            rc = mpu_complete(s, s->curl, &m, info->etag, b->err, sizeof(b->err));
        if (rc == 0)
            m.upload_id[0] = '\0';
        mpu_abort(s, s->curl, &m); /* only when it was not completed */
    }
    free(m.etags);
    info->mtime = (int64_t)time(NULL);
    return rc;
}

static int s3_tmp_path(ht_blob_t *b, char *out, size_t outlen)
{
    char hex[33];
    int rc = ht__blob_random_hex(hex);
    if (rc < 0)
        return ht__blob_fail(b, rc, "getrandom: %s", ht_strerror(rc));
    if ((size_t)snprintf(out, outlen, "%s/ht-blob-%s.out", S(b)->tmp_dir, hex) >= outlen)
        return ht__blob_fail(b, HT_EINVAL, "path buffer too small");
    return 0;
}

/* ---- reading --------------------------------------------------------------- */

static int s3_stat(ht_blob_t *b, const char *key, ht_blob_info_t *info)
{
    s3_t *s = S(b);
    char obj[OBJ_MAX];
    obj_name(s, key, obj);
    call_t c;
    call_init(&c, "HEAD", obj);
    int rc = perform(s, s->curl, &c, b->err, sizeof(b->err));
    if (rc == 0) {
        info->bytes = c.content_length;
        memcpy(info->sha256, c.sha256, sizeof(info->sha256));
        snprintf(info->content_type, sizeof(info->content_type), "%s",
                 c.content_type[0] ? c.content_type : HT_BLOB_CTYPE_DEFAULT);
        memcpy(info->etag, c.etag, sizeof(info->etag));
        ht__blob_etag(info);
        info->mtime = c.mtime;
    } else if (rc == HT_ENOTFOUND) {
        ht__blob_fail(b, rc, "no blob %s", key);
    }
    call_done(&c);
    return rc;
}

static int s3_read(ht_blob_t *b, const char *key, uint64_t off, uint64_t len, ht_blob_sink_fn sink,
                   void *ud)
{
    s3_t *s = S(b);
    if (len == 0) {
        ht_blob_info_t info;
        return s3_stat(b, key, &info);
    }
    char obj[OBJ_MAX];
    obj_name(s, key, obj);
    call_t c;
    call_init(&c, "GET", obj);
    c.range_off = off;
    c.range_len = len;
    c.sink = sink;
    c.sink_ud = ud;
    int rc = perform(s, s->curl, &c, b->err, sizeof(b->err));
    if (rc == HT_EPROTO && c.status == 416) /* the range starts at or past the end */
        rc = 0;
    else if (rc == HT_ENOTFOUND)
        ht__blob_fail(b, rc, "no blob %s", key);
    call_done(&c);
    return rc;
}

/* ---- removing -------------------------------------------------------------- */

/* "<blob key>.tmp-<16 hex>": a writer's staging object. */
static int s3_partial_key_valid(const char *key)
{
    const char *dot = strrchr(key, '.');
    if (!dot || strncmp(dot, ".tmp-", 5) != 0 || strlen(dot) != 5 + 16)
        return 0;
    for (const char *p = dot + 5; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    char blob[HT_BLOB_KEY_MAX];
    if ((size_t)(dot - key) >= sizeof(blob))
        return 0;
    memcpy(blob, key, (size_t)(dot - key));
    blob[dot - key] = '\0';
    return ht_blob_key_valid(blob);
}

static int s3_del(ht_blob_t *b, const char *key)
{
    s3_t *s = S(b);
    char obj[OBJ_MAX];
    obj_name(s, key, obj);
    return delete_object(s, s->curl, obj, b->err, sizeof(b->err));
}

static int64_t parse_iso8601(const char *t)
{
    struct tm tm = {0};
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int s3_list(ht_blob_t *b, const char *tenant, ht_blob_list_fn fn, void *ud)
{
    s3_t *s = S(b);
    char prefix[OBJ_MAX], token[1024] = "";
    snprintf(prefix, sizeof(prefix), "%s%s%s", s->prefix, tenant ? tenant : "", tenant ? "/" : "");
    size_t plen = strlen(s->prefix);
    int rc = 0;
    do {
        char query[QUERY_MAX] = "";
        if (token[0])
            query_add(query, "continuation-token", token);
        query_add(query, "list-type", "2");
        if (prefix[0])
            query_add(query, "prefix", prefix);
        call_t c;
        call_init(&c, "GET", NULL);
        c.query = query;
        rc = perform(s, s->curl, &c, b->err, sizeof(b->err));
        const char *p = c.resp ? c.resp : "", *end = p + c.resp_len;
        char truncated[16] = "";
        if (rc == 0) {
            ht__blob_xml_text(p, end, "IsTruncated", truncated, sizeof(truncated));
            token[0] = '\0';
            if (strcmp(truncated, "true") == 0 &&
                (!ht__blob_xml_text(p, end, "NextContinuationToken", token, sizeof(token)) ||
                 !token[0]))
                rc = ht__blob_fail(b, HT_EPROTO, "S3 ListObjectsV2: truncated without a token");
        }
        while (rc == 0) {
            const char *a = memmem(p, (size_t)(end - p), "<Contents>", 10);
            const char *z = a ? memmem(a, (size_t)(end - a), "</Contents>", 11) : NULL;
            if (!z)
                break;
            char key[OBJ_MAX + 64], size[32] = "", mod[64] = "";
            if (ht__blob_xml_text(a, z, "Key", key, sizeof(key)) &&
                strncmp(key, s->prefix, plen) == 0) {
                ht__blob_xml_text(a, z, "Size", size, sizeof(size));
                ht__blob_xml_text(a, z, "LastModified", mod, sizeof(mod));
                const char *k = key + plen;
                int blob = ht_blob_key_valid(k);
                if (blob || (!tenant && s3_partial_key_valid(k))) {
                    ht_blob_entry_t e = {k, strtoull(size, NULL, 10), parse_iso8601(mod), !blob};
                    if (fn(ud, &e) != 0)
                        rc = ht__blob_fail(b, HT_ECANCELED, "listing stopped by its reader");
                }
            }
            p = z + 11;
        }
        call_done(&c);
    } while (rc == 0 && token[0]);
    return rc;
}

const ht__blob_ops_t ht__blob_s3_ops = {
    .open = s3_open,
    .close = s3_close,
    .write_blocks = 1,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit_and_free,
    .writer_abort = s3_writer_abort_and_free,
    .put_fd_wants = s3_put_fd_wants,
    .put_fd = s3_put_fd,
    .tmp_path = s3_tmp_path,
    .stat = s3_stat,
    .read = s3_read,
    .path = NULL,
    .partial_key_valid = s3_partial_key_valid,
    .del = s3_del,
    .list = s3_list,
};
