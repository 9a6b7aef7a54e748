/* The webhook delivery thread (see webhook.h).
 *
 * Loop: claim up to CLAIM_LIMIT due deliveries (leased for as long as
 * delivering all of them can take, so that no other deliverer posts one
 * again while this one works through the batch, yet the claim of a crashed
 * deliverer comes back), deliver them one by one,
 * record each attempt; look again about every POLL_MS, at once when there
 * was work.  One attempt: render the job document, sign the body, POST it
 * with libcurl (connect and total timeouts, no redirects followed, no
 * proxy, and an open-socket hook that refuses non-public addresses after
 * DNS so rebinding cannot reach a private one), then judge the answer:
 * 2xx delivered; 410 or a refused address failed at once; anything else
 * (timeouts, connection errors, 3xx, 4xx, 5xx) retried with full-jitter
 * backoff, Retry-After honoured as a minimum, until the attempts run out. */
#include "worker/webhook.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/backoff.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/netguard.h"
#include "shared/store.h"
#include "worker/tenant_secrets.h"

#define CLAIM_LIMIT        4
#define CLAIM_MARGIN_MS    5000 /* per delivery, on top of its timeout: signing, recording */
#define POLL_MS 200
#define CONNECT_TIMEOUT_MS 5000
#define RETRY_MAX_MS 3600000L /* the longest wait between attempts: an hour */

ht_delivery_result_t ht_webhook_judge(int curl_failed, int refused, long http_status)
{
    if (curl_failed)
        return refused ? HT_DELIVERY_FAILED : HT_DELIVERY_RETRY;
    if (http_status >= 200 && http_status <= 299)
        return HT_DELIVERY_DELIVERED;
    if (http_status == 410)
        return HT_DELIVERY_FAILED; /* the receiver says: stop sending */
    return HT_DELIVERY_RETRY;
}

long ht_webhook_retry_delay_ms(long base_ms, int attempt, long retry_after_ms,
                               uint64_t (*rnd)(void *), void *state)
{
    long delay = ht_backoff_delay_ms(base_ms, RETRY_MAX_MS, attempt, rnd, state);
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    return delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS;
}

long ht_webhook_retry_after_ms(const char *value, long long now_s)
{
    if (!value || !*value)
        return -1;
    if (value[0] >= '0' && value[0] <= '9') {
        char *end;
        long long secs = strtoll(value, &end, 10);
        if (*end || secs < 0 || secs > RETRY_MAX_MS / 1000)
            return *end ? -1 : RETRY_MAX_MS;
        return (long)(secs * 1000);
    }
    time_t when = curl_getdate(value, NULL);
    if (when < 0)
        return -1;
    long long secs = (long long)when - now_s;
    if (secs < 0)
        return 0;
    return secs > RETRY_MAX_MS / 1000 ? RETRY_MAX_MS : (long)(secs * 1000);
}

/* What one POST did. */
typedef struct {
    int curl_failed;      /* no HTTP answer */
    int refused;          /* the address check refused an address */
    long http_status;
    long retry_after_ms;  /* -1 when none */
    char status_word[24]; /* cb_last_status: "503", "timeout", ... */
} attempt_t;

typedef struct {
    int allow_private;
    int refused;
} sock_guard_t;

/* libcurl's socket opener: the address here is the one about to be
 * connected, after DNS, so this is where a private address is refused. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    sock_guard_t *g = clientp;
    (void)purpose;
    if (!g->allow_private && !ht_addr_is_public(&addr->addr)) {
        g->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* The answer's body is not used: drop it. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static const char *curl_error_word(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "dns";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        return "tls";
    default:
        return "error";
    }
}

static struct curl_slist *make_headers(const char *cb_id, long long ts, const char *sig)
{
    char line[256];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip before the body. */
    h = curl_slist_append(h, "Expect:");
    snprintf(line, sizeof line, "webhook-id: %s", cb_id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "webhook-timestamp: %lld", ts);
    h = curl_slist_append(h, line);
    if (sig) {
        char *s = NULL;
        if (asprintf(&s, "webhook-signature: %s", sig) >= 0) {
            h = curl_slist_append(h, s);
            free(s);
        }
    }
    return h;
}

/* POSTs `body` to `url` once. */
static void post(const ht_webhooks_t *w, const char *url, const char *cb_id, long long ts,
                 const char *sig, const char *body, attempt_t *out)
{
    memset(out, 0, sizeof *out);
    out->retry_after_ms = -1;
    sock_guard_t guard = {w->webhook_allow_private, 0};
    struct curl_slist *headers = make_headers(cb_id, ts, sig);
    CURL *c = curl_easy_init();
    if (!c || !headers) {
        out->curl_failed = 1;
        snprintf(out->status_word, sizeof out->status_word, "error");
        goto done;
    }
    long connect_ms = w->webhook_timeout_ms < CONNECT_TIMEOUT_MS ? w->webhook_timeout_ms
                                                                 : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* no proxy: the check must see the target */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->webhook_timeout_ms);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hangtight-webhook/" HT_VERSION);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        out->curl_failed = 1;
        out->refused = guard.refused;
        snprintf(out->status_word, sizeof out->status_word, "%s",
                 guard.refused ? "refused_address" : curl_error_word(cc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_status);
    snprintf(out->status_word, sizeof out->status_word, "%ld", out->http_status);
    struct curl_header *ra = NULL;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
        out->retry_after_ms = ht_webhook_retry_after_ms(ra->value, ht_now_ms() / 1000);
done:
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
}

int ht_webhook_body_append(ht_buf_t *b, const ht_job_t *job, int64_t now_ms)
{
    char when[HT_TIME_BUFSZ];
    ht_buf_printf(b, "{\"type\":\"job.%s\",\"timestamp\":\"%s\",\"data\":",
                  ht_job_status_name(job->status), ht_format_time(now_ms, when));
    ht_job_doc_append(b, job);
    return ht_buf_putc(b, '}'); /* failure is sticky: this says for all */
}

static const char *outcome_name(ht_delivery_result_t r)
{
    return r == HT_DELIVERY_DELIVERED ? "delivered" : r == HT_DELIVERY_FAILED ? "failed" : "retry";
}

/* One attempt at delivery `d`: render, sign, post, record. */
static void deliver(ht_webhooks_t *w, ht_store_t *store, const ht_delivery_t *d)
{
    ht_job_t job;
    memset(&job, 0, sizeof job);
    char *body = NULL, *sig = NULL;
    ht_keys_t scratch;
    const ht_keys_t *k = ht_wstate_keys_of(w->st, d->id, &scratch);
    int rc = k ? ht_store_get(store, k, d->id, &job) : HT_ENOTFOUND;
    if (rc < 0) {
        /* Gone (expired or deleted): nothing to deliver; a Redis error:
         * the claim runs out and the delivery comes back. */
        if (rc != HT_ENOTFOUND)
            ht_log(HT_LOG_WARN, "webhook: cannot read the job", "id", d->id, "error",
                   ht_store_errstr(store), NULL);
        goto out;
    }
    if (!job.callback_url) {
        rc = ht_store_delivery_done(store, k, d, "failed", "no_url", 0);
        goto out;
    }
    /* The tenant's own secrets, or the fallback (tenant_secrets.h). */
    const ht_webhook_secrets_t *secrets;
    int signing = ht_tsecrets_for(store, job.tenant, &w->webhook_secrets, &secrets);
    if (signing < 0 && signing != HT_EINVAL) {
        ht_log(HT_LOG_WARN, "webhook: cannot read the tenant's signing secrets", "id", d->id,
               "error", ht_store_errstr(store), NULL);
        goto out; /* the claim runs out and it comes back */
    }
    int64_t now = ht_now_ms();
    long long ts = now / 1000;
    ht_buf_t text = HT_BUF_INIT;
    ht_webhook_body_append(&text, &job, now);
    body = ht_buf_steal(&text, NULL);
    int sign = signing == 0 && secrets->n;
    sig = sign ? ht_webhook_signature(secrets, d->cb_id, ts, body, body ? strlen(body) : 0) : NULL;
    if (!body || (sign && !sig)) {
        ht_log(HT_LOG_ERROR, "webhook: cannot build the request", "id", d->id, NULL);
        goto out; /* out of memory: the claim runs out and it comes back */
    }

    attempt_t a;
    if (signing == HT_EINVAL) {
        /* The tenant's own secrets do not open here: sent neither unsigned
         * nor under another secret, the attempt fails and is retried. */
        memset(&a, 0, sizeof a);
        a.curl_failed = 1;
        a.retry_after_ms = -1;
        snprintf(a.status_word, sizeof a.status_word, "no_signing_secret");
    } else {
        post(w, job.callback_url, d->cb_id, ts, sig, body, &a);
    }
    int attempt = d->attempts + 1;
    ht_delivery_result_t res = ht_webhook_judge(a.curl_failed, a.refused, a.http_status);
    if (res == HT_DELIVERY_RETRY && attempt >= w->webhook_max_attempts)
        res = HT_DELIVERY_FAILED;
    long long next_due = 0;
    long delay = 0;
    if (res == HT_DELIVERY_RETRY) {
        delay = ht_webhook_retry_delay_ms(w->webhook_retry_base_ms, attempt, a.retry_after_ms,
                                          NULL, NULL);
        next_due = ht_now_ms() + delay;
    }
    rc = ht_store_delivery_done(store, k, d, outcome_name(res), a.status_word, next_due);

    char attempt_s[16], delay_s[24];
    snprintf(attempt_s, sizeof attempt_s, "%d", attempt);
    snprintf(delay_s, sizeof delay_s, "%ld", delay);
    ht_log(res == HT_DELIVERY_DELIVERED ? HT_LOG_INFO : HT_LOG_WARN, "webhook attempt", "id",
           d->id, "webhook_id", d->cb_id, "attempt", attempt_s, "status", a.status_word,
           "outcome", outcome_name(res), res == HT_DELIVERY_RETRY ? "retry_in_ms" : NULL,
           delay_s, NULL);
    if (rc < 0)
        ht_log(HT_LOG_WARN, "webhook: attempt not recorded", "id", d->id, "error",
               ht_store_errstr(store), NULL);
out:
    free(sig);
    free(body);
    ht_job_clear(&job);
}

static void *webhook_main(void *arg)
{
    ht_webhooks_t *w = arg;
    const ht_parts_t *parts = &w->st->parts;
    ht_store_t *store = NULL;
    /* A failed connect still gives a store that reconnects on its next call. */
    ht_store_open(&store, &w->st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    ht_delivery_t batch[CLAIM_LIMIT];
    /* The batch is delivered in turn: the last may start CLAIM_LIMIT - 1
     * timeouts after the claim (60 s with the default 10 s timeout). */
    long lease_ms = CLAIM_LIMIT * (w->webhook_timeout_ms + CLAIM_MARGIN_MS);
    int warned = 0;
    /* Every partition in turn; a nap only after a sweep that found nothing
     * (the partition's deliveries are claimed by id, so a batch comes from
     * one partition and its calls use that partition's keys). */
    size_t part = 0, idle = 0;
    while (!ht_wthread_quitting(&w->thread)) {
        const ht_keys_t *pk = &parts->parts[part].keys;
        part = (part + 1) % parts->count;
        int n = ht_store_delivery_claim(store, pk, lease_ms, CLAIM_LIMIT, batch);
        if (n < 0) {
            if (!warned++)
                ht_log(HT_LOG_WARN, "webhook: cannot claim deliveries", "error",
                       ht_store_errstr(store), NULL);
            ht_wthread_nap(&w->thread, 1000);
            continue;
        }
        warned = 0;
        /* Claimed but not tried when asked to quit: left to the claim's lease. */
        for (int i = 0; i < n && !ht_wthread_quitting(&w->thread); i++)
            deliver(w, store, &batch[i]);
        idle = n == 0 ? idle + 1 : 0;
        if (idle >= parts->count) {
            idle = 0;
            ht_wthread_nap(&w->thread, POLL_MS);
        }
    }
    ht_store_close(store);
    return NULL;
}

int ht_webhook_start(ht_webhooks_t *w)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return HT_ENOMEM;
    if (w->webhook_secrets.n == 0)
        ht_log(HT_LOG_WARN, "no HANGTIGHT_WEBHOOK_SECRET: webhook deliveries are not signed",
               NULL);
    int rc = ht_wthread_start(&w->thread, webhook_main, w);
    if (rc < 0)
        curl_global_cleanup();
    return rc;
}

void ht_webhook_stop(ht_webhooks_t *w)
{
    if (!w->thread.started)
        return;
    ht_wthread_stop(&w->thread);
    curl_global_cleanup();
}
