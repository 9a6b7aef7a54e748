/* The CLI's HTTP client: one libcurl easy request at a time, collecting the
 * body (or streaming it to a callback: SSE) and the few headers the
 * commands look at (Content-Type, ETag, Location, Retry-After).  A body
 * is a JSON text or a file read as it is sent.  Every
 * request carries Authorization: Bearer $HANGTIGHT_API_KEY when that is set.  libcurl
 * reads interim responses (102 Processing) itself and goes on to the final
 * one; the header callback sees their status lines. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"

#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 30000L

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    ht_cli_response_t *resp = userdata;
    const ht_cli_request_t *opt = resp->opt_;
    size_t n = size * nmemb;

    /* Only a 200 is streamed: a problem document is collected as usual. */
    if (opt && opt->on_data && resp->status == 200) {
        resp->streamed = 1;
        if (opt->on_data(opt->ctx, data, n) != 0) {
            resp->stopped = 1;
            return 0; /* ends the transfer (CURLE_WRITE_ERROR, not an error here) */
        }
        return n;
    }
    if (ht_buf_append(&resp->body_, data, n) < 0)
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    return n;
}

/* Copies the value of "Name: value\r\n" into out when the name matches. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return 0;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t vlen = (size_t)(end - v) < outlen - 1 ? (size_t)(end - v) : outlen - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return 1;
}

/* "HTTP/1.1 102 Processing": the status of a status line, or 0. */
static long status_of(const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp || len - (size_t)(sp - line) < 4)
        return 0;
    long status = 0;
    for (int i = 1; i <= 3; i++) {
        if (!isdigit((unsigned char)sp[i]))
            return 0;
        status = status * 10 + (sp[i] - '0');
    }
    return status;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    ht_cli_response_t *resp = userdata;
    const ht_cli_request_t *opt = resp->opt_;
    size_t len = size * nmemb;
    char retry[32];

    /* A new status line (after a 1xx or a redirect) starts a new header set. */
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        resp->content_type[0] = resp->etag[0] = resp->location[0] = '\0';
        resp->retry_after = -1;
        resp->status = status_of(line, len);
        if (opt && opt->verbose) {
            int n = (int)len;
            while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
                n--;
            fprintf(stderr, "< %.*s\n", n, line);
        }
        if (opt && opt->on_interim && resp->status >= 100 && resp->status < 200)
            opt->on_interim(opt->ctx, resp->status);
        return len;
    }
    header_value(line, len, "Content-Type", resp->content_type, sizeof resp->content_type);
    header_value(line, len, "ETag", resp->etag, sizeof resp->etag);
    header_value(line, len, "Location", resp->location, sizeof resp->location);
    if (header_value(line, len, "Retry-After", retry, sizeof retry)) {
        char *end;
        long secs = strtol(retry, &end, 10);
        resp->retry_after = (end != retry && secs >= 0) ? secs : -1;
    }
    return len;
}

/* Reads the next piece of an upload body from its file. */
static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    const ht_cli_request_t *opt = userdata;
    ssize_t n;
    while ((n = read(opt->upload_fd, buf, size * nitems)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return CURL_READFUNC_ABORT;
    if (opt->on_read && n > 0)
        opt->on_read(opt->ctx, buf, (size_t)n);
    return (size_t)n;
}

static int on_xfer(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    const ht_cli_request_t *opt = clientp;
    (void)ultotal;
    opt->on_transfer(opt->ctx, (int64_t)ulnow, (int64_t)dlnow, (int64_t)dltotal);
    return 0;
}

/* Appends "Name: value" to the header list when value is set. */
static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value)
{
    char *line = NULL;
    if (!value)
        return list;
    /* Allocated, not a fixed buffer: a value must reach the server whole
     * (an over-long Idempotency-Key is the server's to refuse). */
    if (asprintf(&line, "%s: %s", name, value) < 0)
        return list;
    struct curl_slist *grown = curl_slist_append(list, line);
    free(line);
    return grown ? grown : list;
}

int ht_cli_http(const char *method, const char *url, const char *body, const char *if_none_match,
                ht_cli_response_t *resp)
{
    ht_cli_request_t opt = {.if_none_match = if_none_match};
    return ht_cli_request(method, url, body, &opt, resp);
}

int ht_cli_request(const char *method, const char *url, const char *body,
                   const ht_cli_request_t *opt, ht_cli_response_t *resp)
{
    static const ht_cli_request_t defaults = {0};
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    int rc = -1;

    if (!opt)
        opt = &defaults;
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    resp->opt_ = opt;
    ht_buf_init(&resp->body_);
    curl = curl_easy_init();
    if (!curl) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        goto out;
    }
    headers = add_header(headers, "Accept", opt->accept ? opt->accept : "application/json");
    if (body)
        headers = add_header(headers, "Content-Type", "application/json");
    if (opt->upload_type)
        headers = add_header(headers, "Content-Type", opt->upload_type);
    headers = add_header(headers, "If-None-Match", opt->if_none_match);
    headers = add_header(headers, "Prefer", opt->prefer);
    headers = add_header(headers, "Last-Event-ID", opt->last_event_id);
    headers = add_header(headers, "Idempotency-Key", opt->idempotency_key);
    /* The API key comes from the environment only: a flag would show it in
     * every process listing. */
    const char *key = getenv("HANGTIGHT_API_KEY");
    if (key && key[0]) {
        char *auth = NULL;
        if (asprintf(&auth, "Bearer %s", key) >= 0) {
            headers = add_header(headers, "Authorization", auth);
            free(auth);
        }
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (opt->upload_type) {
        /* A POST whose body libcurl reads as it sends, with its length up
         * front (Content-Length, and Expect: 100-continue when large: the
         * server may refuse before a byte of it is sent). */
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, (void *)opt);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opt->upload_size);
    }
    if (opt->on_transfer) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)opt);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hangtight-cli/" HT_VERSION);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    long timeout = opt->timeout_ms ? opt->timeout_ms : REQUEST_TIMEOUT_MS;
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 0L);
    if (opt->idle_timeout_s > 0) {
        /* "Less than 1 byte/s for N s": a dead connection, not a slow one. */
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opt->idle_timeout_s);
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);

    CURLcode cc = curl_easy_perform(curl);
    if (cc == CURLE_WRITE_ERROR && resp->stopped)
        cc = CURLE_OK;
    if (cc != CURLE_OK) {
        resp->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        snprintf(resp->error, sizeof resp->error, "%s: %s", url, curl_easy_strerror(cc));
        /* A stream that broke after its 200 keeps its status: the caller
         * resumes it. */
        if (!resp->streamed)
            resp->status = 0;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = 0;
out:
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    resp->opt_ = NULL;
    if (!(resp->body = ht_buf_steal(&resp->body_, &resp->body_len))) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        resp->status = 0;
        rc = -1;
    }
    return rc;
}

void ht_cli_response_clear(ht_cli_response_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

char *ht_cli_join_url(const char *base, const char *path)
{
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char *out = malloc(blen + strlen(path) + 1);
    if (out) {
        memcpy(out, base, blen);
        strcpy(out + blen, path);
    }
    return out;
}

char *ht_cli_job_url(const char *base, const char *id, const char *suffix)
{
    char *escaped = curl_easy_escape(NULL, id, 0);
    char *path = NULL, *url = NULL;
    if (escaped && asprintf(&path, "/v1/jobs/%s%s", escaped, suffix) >= 0)
        url = ht_cli_join_url(base, path);
    curl_free(escaped);
    free(path);
    return url;
}
