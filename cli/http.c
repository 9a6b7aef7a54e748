/* The CLI's HTTP client: one libcurl easy request at a time, collecting the
 * body and the few headers the commands look at (Content-Type, ETag,
 * Location, Retry-After). */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 30000L

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    ht_cli_response_t *resp = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(resp->body, resp->body_len + n + 1);
    if (!grown)
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    memcpy(grown + resp->body_len, data, n);
    resp->body = grown;
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
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

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    ht_cli_response_t *resp = userdata;
    size_t len = size * nmemb;
    char retry[32];

    /* A new status line (after a 1xx or a redirect) starts a new header set. */
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        resp->content_type[0] = resp->etag[0] = resp->location[0] = '\0';
        resp->retry_after = -1;
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

int ht_cli_http(const char *method, const char *url, const char *body, const char *if_none_match,
                ht_cli_response_t *resp)
{
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char inm[200];
    int rc = -1;

    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    resp->body = calloc(1, 1);
    curl = curl_easy_init();
    if (!resp->body || !curl) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        goto out;
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    if (if_none_match) {
        snprintf(inm, sizeof inm, "If-None-Match: %s", if_none_match);
        headers = curl_slist_append(headers, inm);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hangtight-cli/" HT_VERSION);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);

    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "%s: %s", url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = 0;
out:
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
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
