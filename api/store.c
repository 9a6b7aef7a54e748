/* The api's Redis commands (see store.h): one small function per command
 * that formats it (FCALLs of the function library, a few plain reads) and
 * one that turns its reply into the caller's typed callback.  Sending,
 * routing and answering exactly once are api/aclient.c's. */
#include "api/store.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
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

/* ht_submit answers {version, created_at, status, id, replayed}, or an
 * error: IDEMMISMATCH (the key was used with another body) or EXISTS (the
 * id is taken: a bug or a broken random source, never expected). */
static void finish_submit(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_submitted_t res;
    long long version = 0, created_at = 0, replayed = 0;
    memset(&res, 0, sizeof(res));
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "IDEMMISMATCH", 12) == 0) {
            err = HT_EEXIST;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    } else if (!err) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
            reply_ll(r->element[4], &replayed) < 0 || r->element[3]->type != REDIS_REPLY_STRING)
            err = HT_EPROTO;
        else if (!replayed && (reply_ll(r->element[0], &version) < 0 ||
                               reply_ll(r->element[1], &created_at) < 0 ||
                               r->element[2]->type != REDIS_REPLY_STRING ||
                               ht_job_status_parse(r->element[2]->str, &res.status) < 0))
            err = HT_EPROTO;
    }
    if (!err) {
        res.replayed = replayed != 0;
        res.id = r->element[3]->str;
        res.version = (uint64_t)version;
        res.created_at = created_at;
    }
    ((ht_astore_submit_cb)call->cb)(call->data, err, err ? NULL : &res);
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
    if (ht_keys_tenant(k, tenant, NULL, prefix) < 0) {
        cb(data, HT_EINVAL, 0, NULL, NULL);
        return;
    }
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_queue_stats", 3, 1);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, prefix);
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

/* ---- the HTTP worker API ---------------------------------------------- */

/* A flat HGETALL answer of ht_claim into `c` (which the caller clears). */
static int claimed_from_reply(const redisReply *r, ht_astore_claimed_t *c)
{
    memset(c, 0, sizeof(*c));
    int err = job_from_reply(r, &c->job);
    for (size_t i = 0; !err && i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "deadline_at") == 0) {
            long long v;
            if (reply_ll(r->element[i + 1], &v) == 0)
                c->deadline_at = v;
        }
    }
    return err;
}

static void finish_claim(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_claimed_t c;
    memset(&c, 0, sizeof(c));
    int got = 0;
    if (!err && r->type != REDIS_REPLY_NIL) {
        err = claimed_from_reply(r, &c);
        got = !err;
    }
    ((ht_astore_claim_cb)call->cb)(call->data, err, got ? &c : NULL);
    ht_job_clear(&c.job);
}

void ht_astore_claim(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *worker_id,
                     long lease_ms, long grace_ms, ht_astore_claim_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_claim", 5, 0);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->fence);
    ht_argv_add(&a, k->job_prefix);
    ht_argv_add(&a, worker_id);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%ld", lease_ms);
    ht_argv_addf(&a, "%ld", grace_ms);
    ht_acall_t call = {.finish = finish_claim, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

/* BLPOP answers [key, token] or nil (timed out). */
static void finish_popped(const ht_acall_t *call, int err, const redisReply *r)
{
    if (!err && r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY)
        err = HT_EPROTO;
    ((ht_astore_int_cb)call->cb)(call->data, err, !err && r->type == REDIS_REPLY_ARRAY);
}

void ht_astore_wait_signal(ht_aclient_t *s, const ht_keys_t *k, long timeout_ms,
                           ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "BLPOP");
    ht_argv_add(&a, k->signal);
    ht_argv_addf(&a, "%ld.%03ld", timeout_ms / 1000, timeout_ms % 1000);
    ht_acall_t call = {.finish = finish_popped, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

/* ht_renew_many answers one integer per pair: here [answer]; after
 * ht_progress in a transaction, EXEC answers [1 or 0, [answer]]. */
static void finish_renew(const ht_acall_t *call, int err, const redisReply *r)
{
    long long v = 0;
    if (!err && call->arg[0] == 'p') {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            err = HT_EPROTO;
        else
            r = r->element[1];
    }
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
                 reply_ll(r->element[0], &v) < 0 || v < 0 || v > 3))
        err = HT_EPROTO;
    ((ht_astore_int_cb)call->cb)(call->data, err, err ? 0 : v);
}

void ht_astore_renew(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     uint64_t token, long lease_ms, int progress, int percent, const char *message,
                     ht_astore_int_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a[4];
    size_t n = 0;
    ht_acall_t call = {.finish = finish_renew, .cb = (ht_acall_cb)cb, .data = data};
    if (progress) {
        call.arg[0] = 'p';
        ht_argv_init(&a[n]);
        ht_argv_add(&a[n++], "MULTI");
        ht_argv_fcall(&a[n], "ht_progress", 1, 0);
        ht_argv_add(&a[n], jobkey);
        ht_argv_add(&a[n], id);
        ht_argv_addf(&a[n], "%" PRIu64, token);
        if (percent >= 0)
            ht_argv_addf(&a[n], "%d", percent);
        else
            ht_argv_add(&a[n], "");
        ht_argv_add(&a[n], message ? message : "");
        ht_argv_add(&a[n++], k->channel);
    }
    ht_argv_fcall(&a[n], "ht_renew_many", 1, 0);
    ht_argv_add(&a[n], k->active);
    ht_argv_add(&a[n], k->job_prefix);
    ht_argv_addf(&a[n], "%ld", lease_ms);
    ht_argv_addf(&a[n++], "%s %" PRIu64, id, token);
    if (progress) {
        ht_argv_init(&a[n]);
        ht_argv_add(&a[n++], "EXEC");
    }
    ht_aclient_send(s, req, a, n, &call);
}

/* HMGET status token priority attempt max_attempts cancel_requested. */
static void finish_hold(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_hold_t h;
    memset(&h, 0, sizeof(h));
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 6))
        err = HT_EPROTO;
    for (size_t i = 0; !err && i < 6; i++)
        if (r->element[i]->type != REDIS_REPLY_NIL && r->element[i]->type != REDIS_REPLY_STRING)
            err = HT_EPROTO;
    if (!err && r->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *const *e = (const redisReply *const *)r->element;
        long long v;
        h.exists = 1;
        h.held = strcmp(e[0]->str, "running") == 0 && e[1]->type == REDIS_REPLY_STRING &&
                 strcmp(e[1]->str, call->arg) == 0;
        h.priority = HT_PRIO_DEFAULT;
        if (e[2]->type == REDIS_REPLY_STRING)
            ht_priority_parse(e[2]->str, &h.priority);
        h.attempt = e[3]->type == REDIS_REPLY_STRING && reply_ll(e[3], &v) == 0 ? (int)v : 0;
        h.max_attempts = e[4]->type == REDIS_REPLY_STRING && reply_ll(e[4], &v) == 0
                             ? (int)v
                             : HT_MAX_ATTEMPTS_DEFAULT;
        h.cancel_requested = e[5]->type == REDIS_REPLY_STRING && strcmp(e[5]->str, "1") == 0;
    }
    ((ht_astore_hold_cb)call->cb)(call->data, err, err ? NULL : &h);
}

void ht_astore_hold_state(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                          uint64_t token, ht_astore_hold_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HMGET");
    ht_argv_add(&a, jobkey);
    static const char *const fields[] = {"status",  "token",        "priority",
                                         "attempt", "max_attempts", "cancel_requested"};
    for (size_t i = 0; i < 6; i++)
        ht_argv_add(&a, fields[i]);
    ht_acall_t call = {.finish = finish_hold, .cb = (ht_acall_cb)cb, .data = data};
    snprintf(call.arg, sizeof(call.arg), "%" PRIu64, token);
    ht_aclient_send(s, req, &a, 1, &call);
}

/* EXEC answers [ht_complete's answer, the job's HGETALL]; ht_complete's is
 * the status or nil, or with a next claim [status or nil, job or nil]. */
static void finish_outcome(const ht_acall_t *call, int err, const redisReply *r)
{
    const char *status = NULL;
    ht_job_t job;
    ht_astore_claimed_t next;
    memset(&job, 0, sizeof(job));
    memset(&next, 0, sizeof(next));
    int have_job = 0, have_next = 0;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 2))
        err = HT_EPROTO; /* nil: the transaction was aborted */
    const redisReply *done = err ? NULL : r->element[0];
    if (done && done->type == REDIS_REPLY_ERROR) {
        ht_log(HT_LOG_ERROR, "redis error reply", "detail", done->str, NULL);
        err = HT_EPROTO;
    }
    if (!err && call->arg[0] == 'n') {
        if (done->type != REDIS_REPLY_ARRAY || done->elements != 2) {
            err = HT_EPROTO;
        } else {
            if (done->element[1]->type != REDIS_REPLY_NIL) {
                err = claimed_from_reply(done->element[1], &next);
                have_next = !err;
            }
            done = done->element[0];
        }
    }
    if (!err && done->type != REDIS_REPLY_NIL && done->type != REDIS_REPLY_STRING &&
        done->type != REDIS_REPLY_STATUS)
        err = HT_EPROTO;
    if (!err && done->type != REDIS_REPLY_NIL)
        status = done->str;
    if (!err) {
        int rc = job_from_reply(r->element[1], &job);
        if (rc == 0)
            have_job = 1;
        else if (rc != HT_ENOTFOUND)
            err = rc;
    }
    ((ht_astore_outcome_cb)call->cb)(call->data, err, err ? NULL : status,
                                     have_job && !err ? &job : NULL,
                                     have_next && !err ? &next : NULL);
    ht_job_clear(&job);
    ht_job_clear(&next.job);
}

void ht_astore_outcome(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                       const ht_astore_outcome_t *o, ht_astore_outcome_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, o->id, jobkey);
    ht_argv_t a[4];
    ht_argv_init(&a[0]);
    ht_argv_add(&a[0], "MULTI");
    /* With a next claim: the claim's keys after ht_complete's 4
     * (shared/library.lua). */
    ht_argv_fcall(&a[1], "ht_complete", o->next_worker ? 8 : 4, 0);
    ht_argv_add(&a[1], jobkey);
    ht_argv_add(&a[1], k->active);
    ht_argv_add(&a[1], k->wait[o->priority]);
    ht_argv_add(&a[1], k->signal);
    if (o->next_worker) {
        ht_argv_add(&a[1], k->wait[HT_PRIO_HIGH]);
        ht_argv_add(&a[1], k->wait[HT_PRIO_DEFAULT]);
        ht_argv_add(&a[1], k->wait[HT_PRIO_LOW]);
        ht_argv_add(&a[1], k->fence);
    }
    ht_argv_add(&a[1], o->id);
    ht_argv_addf(&a[1], "%" PRIu64, o->token);
    ht_argv_add(&a[1], o->outcome);
    ht_argv_add(&a[1], o->body ? o->body : "");
    ht_argv_add(&a[1], o->retryable ? "1" : "0");
    ht_argv_add(&a[1], k->channel);
    ht_argv_addf(&a[1], "%ld", o->retry_delay_ms > 0 ? o->retry_delay_ms : 0);
    if (o->next_worker) {
        ht_argv_add(&a[1], k->job_prefix);
        ht_argv_add(&a[1], o->next_worker);
        ht_argv_addf(&a[1], "%ld", o->lease_ms);
        ht_argv_addf(&a[1], "%ld", o->grace_ms);
    }
    ht_argv_init(&a[2]);
    ht_argv_add(&a[2], "HGETALL");
    ht_argv_add(&a[2], jobkey);
    ht_argv_init(&a[3]);
    ht_argv_add(&a[3], "EXEC");
    ht_acall_t call = {.finish = finish_outcome, .cb = (ht_acall_cb)cb, .data = data};
    call.arg[0] = o->next_worker ? 'n' : '\0';
    ht_aclient_send(s, req, a, 4, &call);
}

void ht_astore_release(ht_aclient_t *s, const ht_keys_t *k, const char *id, uint64_t token,
                       ht_priority_t priority, ht_astore_int_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_release", 4, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->wait[priority]);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_addf(&a, "%" PRIu64, token);
    ht_argv_add(&a, k->channel);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

void ht_astore_types_remote(ht_aclient_t *s, const char *worker_id, long long ttl_ms,
                            const char *const *types, size_t n, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_types_remote", 1, 0);
    ht_argv_add(&a, HT_KEY_TYPES);
    ht_argv_add(&a, worker_id);
    ht_argv_addf(&a, "%lld", ttl_ms);
    for (size_t i = 0; i < n; i++)
        ht_argv_add(&a, types[i]);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

void ht_astore_worker_record(ht_aclient_t *s, const char *id, const char *record,
                             ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HSET");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_argv_add(&a, id);
    ht_argv_add(&a, record);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

void ht_astore_worker_forget(ht_aclient_t *s, const char *id, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HDEL");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_argv_add(&a, id);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

void ht_astore_workers_all(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_acall_t call = {.finish = finish_strings, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_workers_held(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *prefix,
                            ht_astore_stats_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_workers_held", 1, 1);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->job_prefix);
    ht_argv_add(&a, prefix);
    ht_argv_add(&a, "10000");
    ht_acall_t call = {.finish = finish_stats, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_reap(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_reap", 5, 0);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, k->job_prefix);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%d", limit);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

void ht_astore_trim(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_trim", 1, 0);
    ht_argv_add(&a, k->tenants);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%d", limit);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}

/* ht_promote answers {n, next due or -1}. */
static void finish_promote(const ht_acall_t *call, int err, const redisReply *r)
{
    long long n = 0, next = -1;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                 reply_ll(r->element[0], &n) < 0 || reply_ll(r->element[1], &next) < 0))
        err = HT_EPROTO;
    ((ht_astore_promote_cb)call->cb)(call->data, err, err ? 0 : n, err ? -1 : next);
}

void ht_astore_promote(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_promote_cb cb,
                       void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_promote", 5, 0);
    ht_argv_add(&a, k->scheduled);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, k->base);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%d", limit);
    ht_acall_t call = {.finish = finish_promote, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, NULL, &a, 1, &call);
}
