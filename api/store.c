/* The api's Redis commands (see store.h): one small function per command
 * that formats it (FCALLs of the function library, a few plain reads) and
 * one that turns its reply into the caller's typed callback.  Sending,
 * routing and answering exactly once are api/aclient.c's. */
#include "api/store.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/log.h"

_Static_assert(HT_EVENT_ID_MAX <= HT_ACALL_ARG_MAX, "a log id fits in ht_acall_t.arg");

/* ---- replies into callbacks ------------------------------------------- */

static int reply_ll(const redisReply *r, long long *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        if (end == r->str || *end != '\0')
            return HT_EPROTO;
        *out = v;
        return 0;
    }
    return HT_EPROTO;
}

/* ht_submit answers {version, created_at, status, id, replayed, priority
 * applied}, or an error: IDEMMISMATCH (the key was used with another
 * body), OVERCAP max_queued <n> (the tenant's waiting jobs are at its cap)
 * or EXISTS (the id is taken: a bug or a broken random source, never
 * expected). */
static void finish_submit(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_submitted_t res;
    long long version = 0, created_at = 0, replayed = 0;
    memset(&res, 0, sizeof(res));
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "IDEMMISMATCH", 12) == 0) {
            err = HT_EEXIST;
        } else if (sscanf(r->str, "OVERCAP max_queued %lld", &res.max_queued) == 1) {
            err = HT_ELIMIT;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    } else if (!err) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
            reply_ll(r->element[4], &replayed) < 0 || r->element[3]->type != REDIS_REPLY_STRING)
            err = HT_EPROTO;
        else if (!replayed && (reply_ll(r->element[0], &version) < 0 ||
                               reply_ll(r->element[1], &created_at) < 0 ||
                               r->element[2]->type != REDIS_REPLY_STRING ||
                               ht_job_status_parse(r->element[2]->str, &res.status) < 0 ||
                               r->element[5]->type != REDIS_REPLY_STRING ||
                               ht_priority_parse(r->element[5]->str, &res.priority) < 0))
            err = HT_EPROTO;
    }
    if (!err) {
        res.replayed = replayed != 0;
        res.id = r->element[3]->str;
        res.version = (uint64_t)version;
        res.created_at = created_at;
    }
    ((ht_astore_submit_cb)call->cb)(call->data, err,
                                    err && err != HT_ELIMIT ? NULL : &res);
}

void ht_astore_submit(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, const ht_job_request_t *jr, const char *payload_json,
                      const char *metadata_json, const ht_astore_submit_opts_t *opts,
                      ht_astore_submit_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_submit", 3, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->wait[jr->priority]);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%lld", (long long)opts->run_at_ms);
    ht_argv_add(&a, opts->idem_key ? opts->idem_key : "");
    ht_argv_add(&a, opts->idem_key && opts->idem_hash ? opts->idem_hash : "");
    ht_argv_add(&a, "type");
    ht_argv_add(&a, jr->type);
    ht_argv_add(&a, "queue");
    ht_argv_add(&a, k->queue);
    ht_argv_add(&a, "tenant");
    ht_argv_add(&a, tenant);
    ht_argv_add(&a, "priority");
    ht_argv_add(&a, ht_priority_name(jr->priority));
    ht_argv_add(&a, "payload");
    ht_argv_add(&a, payload_json);
    if (metadata_json) {
        ht_argv_add(&a, "metadata");
        ht_argv_add(&a, metadata_json);
    }
    ht_argv_add(&a, "max_attempts");
    ht_argv_addf(&a, "%d", jr->max_attempts);
    ht_argv_add(&a, "timeout_s");
    ht_argv_addf(&a, "%ld", jr->timeout_s);
    ht_argv_add(&a, "ttl_s");
    ht_argv_addf(&a, "%ld", jr->ttl_s);
    ht_argv_add(&a, "failed_ttl_s");
    ht_argv_addf(&a, "%ld", opts->failed_ttl_s);
    if (jr->callback_url) {
        ht_argv_add(&a, "callback_url");
        ht_argv_add(&a, jr->callback_url);
    }
    ht_acall_t call = {
        .finish = finish_submit, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* An HGETALL reply into `job` (which the caller clears either way). */
static int job_from_reply(const redisReply *r, ht_job_t *job)
{
    const char **strs = NULL;
    size_t *lens = NULL;
    int err = 0;
    memset(job, 0, sizeof(*job));
    if (r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    if (r->elements == 0)
        return HT_ENOTFOUND; /* HGETALL of a missing key: never stored, or expired */
    strs = calloc(r->elements, sizeof(*strs));
    lens = calloc(r->elements, sizeof(*lens));
    if (!strs || !lens)
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            err = HT_EPROTO;
            break;
        }
        strs[i] = r->element[i]->str;
        lens[i] = r->element[i]->len;
    }
    if (!err && ht_job_from_hash(job, r->elements, strs, lens) < 0) {
        ht_log(HT_LOG_ERROR, "stored job is malformed", NULL);
        err = HT_EPROTO;
    }
    free(strs);
    free(lens);
    return err;
}

static void finish_job(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    if (!err)
        err = job_from_reply(r, &job);
    ((ht_astore_job_cb)call->cb)(call->data, err, err ? NULL : &job);
    ht_job_clear(&job);
}

/* ht_claim answers the claimed job, or nil: nothing claimable. */
static void finish_claim(const ht_acall_t *call, int err, const redisReply *r)
{
    if (!err && r->type == REDIS_REPLY_NIL)
        err = HT_ENOTFOUND;
    finish_job(call, err, r);
}

void ht_astore_claim(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *worker_id,
                     long lease_ms, long grace_ms, const char *types, ht_astore_job_cb cb,
                     void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_claim", 2, 0);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->fence);
    ht_argv_add(&a, k->base);
    ht_argv_add(&a, worker_id);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%ld", lease_ms);
    ht_argv_addf(&a, "%ld", grace_ms);
    ht_argv_add(&a, types);
    ht_acall_t call = {.finish = finish_claim, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_get(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                   ht_astore_job_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, jobkey);
    ht_acall_t call = {.finish = finish_job, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* An LRANGE of the job's list log into a malloc'd array: the entries
 * from log id `from` on (inclusive; all when NULL, which LRANGE already
 * cut to the newest), unreadable ones skipped with a log line. */
static int list_log_from_reply(const redisReply *r, const char *from, ht_event_entry_t **out,
                               size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    if (r->elements == 0)
        return 0;
    ht_event_entry_t *es = calloc(r->elements, sizeof(*es));
    if (!es)
        return HT_ENOMEM;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || ht_event_entry_parse(&es[*n], e->str) < 0)
            ht_log(HT_LOG_WARN, "unreadable job log entry skipped", NULL);
        else if (!from || ht_event_id_cmp(es[*n].id, from) >= 0)
            (*n)++;
    }
    *out = es;
    return 0;
}

/* EXEC answers [HGETALL reply, LRANGE reply]; a job with no list log has
 * an empty one, and its stream shows as its current document. */
static void finish_job_log(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t job;
    ht_event_entry_t *entries = NULL;
    size_t n = 0;
    memset(&job, 0, sizeof(job));
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                 r->element[1]->type != REDIS_REPLY_ARRAY))
        err = HT_EPROTO; /* nil: the transaction was aborted */
    if (!err)
        err = job_from_reply(r->element[0], &job);
    if (!err)
        err = list_log_from_reply(r->element[1], call->arg[0] ? call->arg : NULL, &entries, &n);
    ((ht_astore_job_log_cb)call->cb)(call->data, err, err ? NULL : &job, err ? 0 : n,
                                     err ? NULL : entries);
    ht_job_clear(&job);
    free(entries);
}

void ht_astore_job_log(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                       const char *from, ht_astore_job_log_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX], listkey[HT_KEY_MAX + 8];
    ht_keys_job(k, id, jobkey);
    snprintf(listkey, sizeof(listkey), "%s:ev", jobkey);
    ht_argv_t a[4];
    for (size_t i = 0; i < 4; i++)
        ht_argv_init(&a[i]);
    ht_argv_add(&a[0], "MULTI");
    ht_argv_add(&a[1], "HGETALL");
    ht_argv_add(&a[1], jobkey);
    /* The whole list (at most ~100 short entries, filtered on arrival) or
     * its newest entry.  No fallback read of an older stream log
     * "<job>:log" in the same transaction: on a cluster whose slot is migrating, a
     * transaction naming a key that exists nowhere is refused (TRYAGAIN). */
    ht_argv_add(&a[2], "LRANGE");
    ht_argv_add(&a[2], listkey);
    ht_argv_add(&a[2], from ? "0" : "-1");
    ht_argv_add(&a[2], "-1");
    ht_argv_add(&a[3], "EXEC");
    ht_acall_t call = {.finish = finish_job_log, .cb = (ht_acall_cb)cb, .data = data};
    snprintf(call.arg, sizeof(call.arg), "%s", from ? from : "");
    ht_aclient_send(s, req, a, 4, &call);
}

/* Integer or numeric-string replies; nil counts as 0 (an unset version). */
static void finish_int(const ht_acall_t *call, int err, const redisReply *r)
{
    long long v = 0;
    if (!err && r->type != REDIS_REPLY_NIL && reply_ll(r, &v) < 0)
        err = HT_EPROTO;
    ((ht_astore_int_cb)call->cb)(call->data, err, err ? 0 : v);
}

void ht_astore_schema_version(ht_aclient_t *s, h2o_req_t *req, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGET");
    ht_argv_add(&a, HT_KEY_SCHEMA);
    ht_argv_add(&a, "version");
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_rate(ht_aclient_t *s, h2o_req_t *req, const char *rate_key, double per_s, long burst,
                    ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_rate", 1, 0);
    ht_argv_add(&a, rate_key);
    ht_argv_addf(&a, "%.6g", per_s);
    ht_argv_addf(&a, "%ld", burst);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_type_exists(ht_aclient_t *s, h2o_req_t *req, const char *type, ht_astore_int_cb cb,
                           void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HEXISTS");
    ht_argv_add(&a, HT_KEY_TYPES);
    ht_argv_add(&a, type);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

static void finish_strings(const ht_acall_t *call, int err, const redisReply *r)
{
    const char **strs = NULL;
    size_t n = 0;
    if (!err && r->type != REDIS_REPLY_ARRAY)
        err = HT_EPROTO;
    if (!err && r->elements > 0 && !(strs = calloc(r->elements, sizeof(*strs))))
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            err = HT_EPROTO;
            break;
        }
        strs[n++] = r->element[i]->str;
    }
    ((ht_astore_strings_cb)call->cb)(call->data, err, err ? 0 : n, err ? NULL : strs);
    free(strs);
}

void ht_astore_types(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HKEYS");
    ht_argv_add(&a, HT_KEY_TYPES);
    ht_acall_t call = {.finish = finish_strings, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_workers(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HVALS");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_acall_t call = {.finish = finish_strings, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* ---- lifecycle: cancel, retry, listing, statistics -------------------- */

/* A status word; nil is "no such job". */
static void finish_word(const ht_acall_t *call, int err, const redisReply *r)
{
    if (!err && r->type == REDIS_REPLY_NIL)
        err = HT_ENOTFOUND;
    else if (!err && r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        err = HT_EPROTO;
    ((ht_astore_word_cb)call->cb)(call->data, err, err ? NULL : r->str);
}

void ht_astore_cancel(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, ht_astore_word_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_cancel", 1, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_add(&a, k->cancel_channel);
    ht_argv_add(&a, tenant);
    ht_acall_t call = {.finish = finish_word, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_retry(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     const char *tenant, ht_astore_word_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_retry", 2, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_add(&a, tenant);
    ht_acall_t call = {.finish = finish_word, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* ht_list answers {next cursor, job, job, ...}, each job a flat HGETALL
 * array, or a BADCURSOR error. */
static void finish_list(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t *jobs = NULL;
    size_t n = 0;
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "BADCURSOR", 9) == 0) {
            err = HT_EINVAL;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    } else if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
                        r->element[0]->type != REDIS_REPLY_STRING)) {
        err = HT_EPROTO;
    }
    if (!err && r->elements > 1 && !(jobs = calloc(r->elements - 1, sizeof(*jobs))))
        err = HT_ENOMEM;
    for (size_t i = 1; !err && i < r->elements; i++) {
        int rc = job_from_reply(r->element[i], &jobs[n]);
        if (rc == 0) {
            n++;
        } else {
            ht_job_clear(&jobs[n]);
            ht_log(HT_LOG_WARN, "unreadable job skipped in a listing", "detail", ht_strerror(rc),
                   NULL);
        }
    }
    ((ht_astore_list_cb)call->cb)(call->data, err, err ? NULL : r->element[0]->str, err ? 0 : n,
                                  err ? NULL : jobs);
    for (size_t i = 0; i < n; i++)
        ht_job_clear(&jobs[i]);
    free(jobs);
}

void ht_astore_list(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *index,
                    int limit, const char *cursor, const char *type, ht_astore_list_cb cb,
                    void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_list", 1, 1);
    ht_argv_add(&a, index);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%d", limit);
    ht_argv_add(&a, cursor ? cursor : "");
    ht_argv_add(&a, type ? type : "");
    ht_acall_t call = {.finish = finish_list, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* ht_queue_stats answers a flat name, value array. */
static void finish_stats(const ht_acall_t *call, int err, const redisReply *r)
{
    const char **names = NULL;
    long long *values = NULL;
    size_t n = 0;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0))
        err = HT_EPROTO;
    if (!err && r->elements > 0 &&
        (!(names = calloc(r->elements / 2, sizeof(*names))) ||
         !(values = calloc(r->elements / 2, sizeof(*values)))))
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || reply_ll(r->element[i + 1], &values[n]))
            err = HT_EPROTO;
        else
            names[n++] = r->element[i]->str;
    }
    ((ht_astore_stats_cb)call->cb)(call->data, err, err ? 0 : n, err ? NULL : names,
                                   err ? NULL : values);
    free(names);
    free(values);
}

void ht_astore_queue_stats(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                           ht_astore_stats_cb cb, void *data)
{
    char prefix[HT_KEY_MAX];
    if (tenant && ht_keys_tenant(k, tenant, NULL, prefix) < 0) {
        cb(data, HT_EINVAL, 0, NULL, NULL);
        return;
    }
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_queue_stats", 3, 1);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    if (tenant) {
        ht_argv_add(&a, prefix);
    } else {
        ht_argv_add(&a, k->base);
        ht_argv_add(&a, "1");
    }
    ht_acall_t call = {.finish = finish_stats, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_metrics(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, ht_astore_stats_cb cb,
                       void *data)
{
    static const char *const own[] = {"metrics", "hist:wait", "hist:run"};
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_metrics", 9, 1);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, k->scheduled);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->tenants);
    for (size_t i = 0; i < 3; i++)
        ht_argv_addf(&a, "%s%s", k->base, own[i]);
    ht_argv_add(&a, k->base);
    ht_acall_t call = {.finish = finish_stats, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* ---- tenant webhook signing secrets ----------------------------------- */

/* The FCALL of `fn` on `tenant`'s secrets key; 0, or HT_EINVAL (the
 * tenant name makes no key: never for an authenticated tenant). */
static int whsec_fcall(ht_argv_t *a, const char *fn, int read_only, const char *tenant)
{
    char key[HT_KEY_MAX];
    if (ht_keys_whsec(tenant, key) < 0)
        return HT_EINVAL;
    ht_argv_fcall(a, fn, 1, read_only);
    ht_argv_addf(a, "%s", key);
    return 0;
}

void ht_astore_whsec_create(ht_aclient_t *s, h2o_req_t *req, const char *tenant, const char *id,
                            const char *sealed, long long rotation_ms, int most,
                            ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    if (whsec_fcall(&a, "ht_whsec_create", 0, tenant) < 0) {
        cb(data, HT_EINVAL, 0);
        return;
    }
    ht_argv_add(&a, id);
    ht_argv_add(&a, sealed);
    ht_argv_addf(&a, "%lld", rotation_ms);
    ht_argv_addf(&a, "%d", most);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_whsec_revoke(ht_aclient_t *s, h2o_req_t *req, const char *tenant, const char *id,
                            ht_astore_word_cb cb, void *data)
{
    ht_argv_t a;
    if (whsec_fcall(&a, "ht_whsec_revoke", 0, tenant) < 0) {
        cb(data, HT_EINVAL, NULL);
        return;
    }
    ht_argv_add(&a, id);
    ht_acall_t call = {.finish = finish_word, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_whsec_list(ht_aclient_t *s, h2o_req_t *req, const char *tenant,
                          ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    if (whsec_fcall(&a, "ht_whsec_list", 1, tenant) < 0) {
        cb(data, HT_EINVAL, 0, NULL);
        return;
    }
    ht_acall_t call = {.finish = finish_strings, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* ---- operator settings: pause, caps, weights (api/operator.c) ---------- */

void ht_astore_limits_apply(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                            const char *const *fields, const char *const *values, size_t n,
                            ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_limits", 2, 0);
    ht_argv_addf(&a, "%slimits", k->base);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, k->base);
    for (size_t i = 0; i < n; i++) {
        ht_argv_add(&a, fields[i]);
        ht_argv_add(&a, values[i]);
    }
    if (a.overflow) {
        ht_argv_clear(&a);
        cb(data, HT_EINVAL, 0);
        return;
    }
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_limits_record(ht_aclient_t *s, h2o_req_t *req, const char *field, const char *json,
                             ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, json ? "HSET" : "HDEL");
    ht_argv_add(&a, HT_KEY_LIMITS);
    ht_argv_add(&a, field);
    if (json)
        ht_argv_add(&a, json);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_limits_read(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, HT_KEY_LIMITS);
    ht_acall_t call = {.finish = finish_strings, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}
