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
#include "shared/store.h" /* ht_store_error_is_unavailable */

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

/* One answer of ht_submit, {version, created_at, status, id, replayed,
 * priority applied}, or its error: IDEMMISMATCH (the key was used with
 * another body: HT_EEXIST), OVERCAP max_queued <n> (the tenant's waiting
 * jobs are at its share of the cap: HT_ELIMIT, with res->max_queued) or
 * another (EXISTS: the id is taken, a bug or a broken random source, never
 * expected: HT_EPROTO).  `res` borrows from `r`. */
static int submitted_of(const redisReply *r, ht_astore_submitted_t *res)
{
    long long version = 0, created_at = 0, replayed = 0;
    memset(res, 0, sizeof(*res));
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "IDEMMISMATCH", 12) == 0)
            return HT_EEXIST;
        if (sscanf(r->str, "OVERCAP max_queued %lld", &res->max_queued) == 1)
            return HT_ELIMIT;
        return HT_EPROTO;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
        reply_ll(r->element[4], &replayed) < 0 || r->element[3]->type != REDIS_REPLY_STRING)
        return HT_EPROTO;
    if (!replayed &&
        (reply_ll(r->element[0], &version) < 0 || reply_ll(r->element[1], &created_at) < 0 ||
         r->element[2]->type != REDIS_REPLY_STRING ||
         ht_job_status_parse(r->element[2]->str, &res->status) < 0 ||
         r->element[5]->type != REDIS_REPLY_STRING ||
         ht_priority_parse(r->element[5]->str, &res->priority) < 0))
        return HT_EPROTO;
    res->replayed = replayed != 0;
    res->id = r->element[3]->str;
    res->version = (uint64_t)version;
    res->created_at = created_at;
    return 0;
}

static void finish_submit(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_submitted_t res;
    long long replicas = -1;
    memset(&res, 0, sizeof(res));
    if (!err && call->all_replies) {
        /* [FCALL's reply, WAIT's reply] */
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || reply_ll(r->element[1], &replicas))
            err = HT_EPROTO;
        else
            r = r->element[0];
    }
    if (!err && r->type == REDIS_REPLY_ERROR && ht_store_error_is_unavailable(r->str)) {
        ht_log(HT_LOG_WARN, "redis unavailable for now", "detail", r->str, NULL);
        err = HT_EREDIS;
    } else if (!err) {
        err = submitted_of(r, &res);
        if (err == HT_EPROTO)
            ht_log(HT_LOG_ERROR, "unexpected reply to ht_submit", "detail",
                   r->type == REDIS_REPLY_ERROR ? r->str : "(shape)", NULL);
        res.replicas = (long)replicas;
    }
    ((ht_astore_submit_cb)call->cb)(call->data, err, err && err != HT_ELIMIT ? NULL : &res);
}

/* A field name, with `prefix` in front when there is one (a schedule's
 * template keeps the fields of its jobs as j_<name>). */
static void add_name(ht_argv_t *a, const char *prefix, const char *name)
{
    if (prefix)
        ht_argv_addf(a, "%s%s", prefix, name);
    else
        ht_argv_add(a, name);
}

/* The fields of a job ht_submit stores, name and value: of a job (prefix
 * NULL, with its tenant) or of a schedule's template (prefix "j_", every
 * field).  A job's fields at their default are left out, and its queue
 * (the key names it): ht_submit reads them absent as their default and
 * then stores the others straight from its arguments (shared/library.lua
 * NOT_AS_IS). */
static void add_job_fields(ht_argv_t *a, const char *prefix, const char *tenant,
                           const ht_job_request_t *jr, const char *payload_json,
                           const char *metadata_json, long failed_ttl_s)
{
    int all = prefix != NULL;
    add_name(a, prefix, "type");
    ht_argv_add(a, jr->type);
    if (tenant && strcmp(tenant, "default") != 0) {
        ht_argv_add(a, "tenant");
        ht_argv_add(a, tenant);
    }
    if (all || jr->priority != HT_PRIO_DEFAULT) {
        add_name(a, prefix, "priority");
        ht_argv_add(a, ht_priority_name(jr->priority));
    }
    add_name(a, prefix, "payload");
    ht_argv_add(a, payload_json);
    if (metadata_json) {
        add_name(a, prefix, "metadata");
        ht_argv_add(a, metadata_json);
    }
    if (all || jr->max_attempts != HT_MAX_ATTEMPTS_DEFAULT) {
        add_name(a, prefix, "max_attempts");
        ht_argv_addll(a, jr->max_attempts);
    }
    if (all || jr->timeout_s != HT_TIMEOUT_S_DEFAULT) {
        add_name(a, prefix, "timeout_s");
        ht_argv_addll(a, jr->timeout_s);
    }
    if (all || jr->ttl_s != HT_TTL_S_DEFAULT) {
        add_name(a, prefix, "ttl_s");
        ht_argv_addll(a, jr->ttl_s);
    }
    if (all || failed_ttl_s != HT_FAILED_TTL_S_DEFAULT) {
        add_name(a, prefix, "failed_ttl_s");
        ht_argv_addll(a, failed_ttl_s);
    }
    if (jr->callback_url) {
        add_name(a, prefix, "callback_url");
        ht_argv_add(a, jr->callback_url);
    }
}

/* ht_submit's arguments after the keys: id, channel, run_at, idempotency
 * key and body hash. */
static void add_submit_args(ht_argv_t *a, const ht_keys_t *k, const char *id,
                            const ht_astore_submit_opts_t *opts)
{
    ht_argv_add(a, id);
    ht_argv_add(a, k->channel);
    ht_argv_addll(a, opts->run_at_ms);
    ht_argv_add(a, opts->idem_key ? opts->idem_key : "");
    ht_argv_add(a, opts->idem_key && opts->idem_hash ? opts->idem_hash : "");
}

void ht_astore_submit(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, const ht_job_request_t *jr, const char *payload_json,
                      const char *metadata_json, const ht_astore_submit_opts_t *opts,
                      ht_astore_submit_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    /* The FCALL, and a WAIT after it for a durable submit: built in place
     * (an ht_argv_t is never copied by value). */
    ht_argv_t cmds[2];
    ht_argv_t *a = &cmds[0];
    ht_argv_fcall(a, "ht_submit", 3, 0);
    ht_argv_add(a, jobkey);
    ht_argv_add(a, k->wait[jr->priority]);
    ht_argv_add(a, k->signal);
    add_submit_args(a, k, id, opts);
    add_job_fields(a, NULL, tenant, jr, payload_json, metadata_json, opts->failed_ttl_s);
    if (opts->input) {
        ht_argv_add(a, "input");
        ht_argv_add(a, opts->input);
    }
    if (opts->watched_always) {
        ht_argv_add(a, "watch");
        ht_argv_add(a, HT_WATCH_ALWAYS);
    }
    ht_acall_t call = {
        .finish = finish_submit, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    if (opts->wait_replicas <= 0) {
        ht_aclient_send(s, req, a, 1, &call);
        return;
    }
    ht_argv_init(&cmds[1]);
    ht_argv_add(&cmds[1], "WAIT");
    ht_argv_addll(&cmds[1], opts->wait_replicas);
    ht_argv_addll(&cmds[1], opts->wait_timeout_ms);
    call.all_replies = 1;
    ht_aclient_send(s, req, cmds, 2, &call);
}

/* Fills `job` from n strings, field and value alternating (the caller
 * clears it either way); `id`: the id of the key read, NULL when the
 * strings carry it (shared/job.h).  0 strings: HT_ENOTFOUND. */
static int job_from_pairs(size_t n, const char **strs, const size_t *lens, const char *id,
                          ht_job_t *job)
{
    if (n == 0)
        return HT_ENOTFOUND; /* a missing key: never stored, or expired */
    if (ht_job_from_hash(job, id, n, strs, lens) < 0) {
        ht_log(HT_LOG_ERROR, "stored job is malformed", NULL);
        return HT_EPROTO;
    }
    return 0;
}

/* A flat field, value array (HGETALL of the job `id`, or with id NULL a
 * job of ht_list's or a claim's reply, which carry it) into `job` (which
 * the caller clears either way). */
static int job_from_reply(const redisReply *r, const char *id, ht_job_t *job)
{
    const char **strs = NULL;
    size_t *lens = NULL;
    int err = 0;
    memset(job, 0, sizeof(*job));
    if (r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    if (r->elements == 0)
        return HT_ENOTFOUND;
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
    if (!err)
        err = job_from_pairs(r->elements, strs, lens, id, job);
    free(strs);
    free(lens);
    return err;
}

/* "HMGET <job key> <document fields>": the job as its document needs it,
 * without the payload (shared/job.h ht_job_doc_fields). */
static void add_doc_read(ht_argv_t *a, const char *jobkey)
{
    const char *names[HT_JOB_DOC_FIELDS_MAX];
    size_t n = ht_job_doc_fields(names, HT_JOB_DOC_FIELDS_MAX);
    ht_argv_add(a, "HMGET");
    ht_argv_add(a, jobkey);
    for (size_t i = 0; i < n && i < HT_JOB_DOC_FIELDS_MAX; i++)
        ht_argv_add(a, names[i]);
}

/* The reply of add_doc_read's HMGET of the job `id` (values in the order
 * of the names, nil for a field not stored; NULL: ht_watch's answer, which
 * carries the id) into `job` (which the caller clears either way).  Every
 * value nil: no such job. */
static int job_from_doc_reply(const redisReply *r, const char *id, ht_job_t *job)
{
    const char *names[HT_JOB_DOC_FIELDS_MAX];
    size_t nf = ht_job_doc_fields(names, HT_JOB_DOC_FIELDS_MAX);
    const char *strs[2 * HT_JOB_DOC_FIELDS_MAX];
    size_t lens[2 * HT_JOB_DOC_FIELDS_MAX];
    size_t n = 0;
    memset(job, 0, sizeof(*job));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nf || nf > HT_JOB_DOC_FIELDS_MAX)
        return HT_EPROTO;
    for (size_t i = 0; i < nf; i++) {
        const redisReply *v = r->element[i];
        if (v->type == REDIS_REPLY_NIL)
            continue;
        if (v->type != REDIS_REPLY_STRING)
            return HT_EPROTO;
        strs[n] = names[i];
        lens[n++] = strlen(names[i]);
        strs[n] = v->str;
        lens[n++] = v->len;
    }
    return job_from_pairs(n, strs, lens, id, job);
}

static void finish_job(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    if (!err)
        err = job_from_doc_reply(r, call->arg, &job);
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
    add_doc_read(&a, jobkey);
    ht_acall_t call = {.finish = finish_job, .cb = (ht_acall_cb)cb, .data = data};
    snprintf(call.arg, sizeof(call.arg), "%s", id); /* the hash holds no id */
    ht_aclient_send(s, req, &a, 1, &call);
}

/* An LRANGE of the job's list log into a malloc'd array: the entries
 * from log id `from` on (inclusive; all when NULL), unreadable ones
 * skipped with a log line. */
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

/* "FCALL ht_watch 1 <job key> <ms> <log> <document fields>". */
static void add_watch(ht_argv_t *a, const ht_keys_t *k, const char *id, long watch_ms,
                      const char *log)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_fcall(a, "ht_watch", 1, 0);
    ht_argv_add(a, jobkey);
    ht_argv_addll(a, watch_ms);
    ht_argv_add(a, log);
    const char *names[HT_JOB_DOC_FIELDS_MAX];
    size_t n = ht_job_doc_fields(names, HT_JOB_DOC_FIELDS_MAX);
    for (size_t i = 0; i < n && i < HT_JOB_DOC_FIELDS_MAX; i++)
        ht_argv_add(a, names[i]);
}

/* ht_watch answers nil (no such job) or [HMGET reply, LRANGE reply or nil]. */
static int watch_reply(const redisReply *r, ht_job_t *job)
{
    memset(job, 0, sizeof(*job));
    if (r->type == REDIS_REPLY_NIL)
        return HT_ENOTFOUND;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return HT_EPROTO;
    return job_from_doc_reply(r->element[0], NULL, job);
}

static void finish_watch(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    if (!err)
        err = watch_reply(r, &job);
    ((ht_astore_job_cb)call->cb)(call->data, err, err ? NULL : &job);
    ht_job_clear(&job);
}

void ht_astore_watch(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     long watch_ms, ht_astore_job_cb cb, void *data)
{
    ht_argv_t a;
    add_watch(&a, k, id, watch_ms, "");
    ht_acall_t call = {.finish = finish_watch, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

static void finish_watch_log(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_job_t job;
    ht_event_entry_t *entries = NULL;
    size_t n = 0;
    memset(&job, 0, sizeof(job));
    if (!err)
        err = watch_reply(r, &job);
    if (!err && r->element[1]->type != REDIS_REPLY_NIL)
        err = list_log_from_reply(r->element[1], call->arg[0] ? call->arg : NULL, &entries, &n);
    ((ht_astore_job_log_cb)call->cb)(call->data, err, err ? NULL : &job, err ? 0 : n,
                                     err ? NULL : entries);
    ht_job_clear(&job);
    free(entries);
}

void ht_astore_watch_log(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                         long watch_ms, const char *from, ht_astore_job_log_cb cb, void *data)
{
    ht_argv_t a;
    /* The whole log: at most ~100 short entries, filtered on arrival. */
    add_watch(&a, k, id, watch_ms, from ? "all" : "");
    ht_acall_t call = {.finish = finish_watch_log, .cb = (ht_acall_cb)cb, .data = data};
    snprintf(call.arg, sizeof(call.arg), "%s", from ? from : "");
    ht_aclient_send(s, req, &a, 1, &call);
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
    ht_argv_addll(&a, burst);
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

/* A cursor page: {next cursor, record, record, ...}, each record a flat
 * field, value array, or a BADCURSOR error. Reads the records into a new
 * array of `size`-byte items with `parse` (an unreadable one is logged as
 * `skipped` and left out, cleared with `clear`); returns 0 or an error code,
 * *items (the caller frees it and what it holds) and *n. */
static int read_page(int err, const redisReply *r, size_t size,
                     int (*parse)(const redisReply *, void *), void (*clear)(void *),
                     const char *skipped, void **items, size_t *n)
{
    *items = NULL;
    *n = 0;
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
    if (!err && r->elements > 1 && !(*items = calloc(r->elements - 1, size)))
        err = HT_ENOMEM;
    for (size_t i = 1; !err && i < r->elements; i++) {
        void *item = (char *)*items + *n * size;
        int rc = parse(r->element[i], item);
        if (rc == 0) {
            (*n)++;
        } else {
            clear(item);
            ht_log(HT_LOG_WARN, skipped, "detail", ht_strerror(rc), NULL);
        }
    }
    return err;
}

/* Frees a page of read_page (n items of `size` bytes, each cleared). */
static void free_page(void *items, size_t n, size_t size, void (*clear)(void *))
{
    for (size_t i = 0; i < n; i++)
        clear((char *)items + i * size);
    free(items);
}

static int read_job(const redisReply *r, void *job)
{
    return job_from_reply(r, NULL, job);
}

static void clear_job(void *job)
{
    ht_job_clear(job);
}

/* ht_list answers a cursor page of jobs. */
static void finish_list(const ht_acall_t *call, int err, const redisReply *r)
{
    void *page;
    size_t n;
    err = read_page(err, r, sizeof(ht_job_t), read_job, clear_job,
                    "unreadable job skipped in a listing", &page, &n);
    ht_job_t *jobs = page;
    ((ht_astore_list_cb)call->cb)(call->data, err, err ? NULL : r->element[0]->str, err ? 0 : n,
                                  err ? NULL : jobs);
    free_page(page, n, sizeof(ht_job_t), clear_job);
}

void ht_astore_list(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *index,
                    int limit, const char *cursor, const char *type, ht_astore_list_cb cb,
                    void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_list", 1, 1);
    ht_argv_add(&a, index);
    ht_argv_add(&a, k->base);
    ht_argv_addll(&a, limit);
    ht_argv_add(&a, cursor ? cursor : "");
    ht_argv_add(&a, type ? type : "");
    /* The document's fields: the function reads only these of each job. */
    const char *names[HT_JOB_DOC_FIELDS_MAX];
    size_t nf = ht_job_doc_fields(names, HT_JOB_DOC_FIELDS_MAX);
    for (size_t i = 0; i < nf && i < HT_JOB_DOC_FIELDS_MAX; i++)
        ht_argv_add(&a, names[i]);
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

/* ---- batch submit ------------------------------------------------------ */

/* ht_submit_many answers one entry per job: ht_submit's answer or error. */
static void finish_submit_many(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_astore_submit_outcome_t *out = NULL;
    size_t n = 0;
    if (!err && r->type == REDIS_REPLY_ERROR) {
        ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
        err = HT_EPROTO;
    } else if (!err && r->type != REDIS_REPLY_ARRAY) {
        err = HT_EPROTO;
    }
    if (!err && r->elements > 0 && !(out = calloc(r->elements, sizeof(*out))))
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i < r->elements; i++, n++) {
        const redisReply *e = r->element[i];
        out[i].err = submitted_of(e, &out[i].res);
        if (out[i].err == HT_EPROTO)
            out[i].refusal = e->type == REDIS_REPLY_ERROR ? e->str : "unexpected reply";
    }
    ((ht_astore_submit_many_cb)call->cb)(call->data, err, err ? 0 : n, err ? NULL : out);
    free(out);
}

/* Sets argument i of `a`, added as a placeholder, to `s` (borrowed). */
static void argv_set(ht_argv_t *a, size_t i, const char *s)
{
    a->v[i] = s;
    a->len[i] = strlen(s);
}

void ht_astore_submit_many(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                           size_t n, const ht_astore_submit_item_t *items,
                           ht_astore_submit_many_cb cb, void *data)
{
    /* Each job's field count, known once its fields are added. */
    char(*counts)[24] = calloc(n ? n : 1, sizeof(*counts));
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_submit_many", (int)(1 + 2 * n), 0);
    if (!counts)
        a.overflow = 1; /* the send fails (HT_EINVAL) */
    ht_argv_add(&a, k->signal);
    for (size_t i = 0; i < n; i++) {
        ht_argv_addf(&a, "%s%s", k->job_prefix, items[i].id);
        ht_argv_add(&a, k->wait[items[i].jr->priority]);
    }
    ht_argv_add(&a, k->channel);
    for (size_t i = 0; counts && i < n; i++) {
        const ht_astore_submit_item_t *it = &items[i];
        ht_argv_add(&a, it->id);
        ht_argv_addll(&a, it->opts.run_at_ms);
        ht_argv_add(&a, it->opts.idem_key ? it->opts.idem_key : "");
        ht_argv_add(&a, it->opts.idem_key && it->opts.idem_hash ? it->opts.idem_hash : "");
        size_t at = a.n;
        ht_argv_add(&a, "");
        add_job_fields(&a, NULL, tenant, it->jr, it->payload_json, it->metadata_json,
                       it->opts.failed_ttl_s);
        if (it->opts.watched_always) {
            ht_argv_add(&a, "watch");
            ht_argv_add(&a, HT_WATCH_ALWAYS);
        }
        if (!a.overflow) {
            snprintf(counts[i], sizeof(counts[i]), "%zu", (a.n - at - 1) / 2);
            argv_set(&a, at, counts[i]);
        }
    }
    ht_acall_t call = {
        .finish = finish_submit_many, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    ht_aclient_send(s, req, &a, 1, &call); /* formats its own copy */
    free(counts);
}

/* ---- schedules --------------------------------------------------------- */

/* A flat HGETALL array into `sched` (which the caller clears either way);
 * HT_ENOTFOUND when empty. */
static int sched_from_reply(const redisReply *r, ht_schedule_t *sched)
{
    memset(sched, 0, sizeof(*sched));
    if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0))
        return HT_ENOTFOUND;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return HT_EPROTO;
    const char **strs = calloc(r->elements, sizeof(*strs));
    if (!strs)
        return HT_ENOMEM;
    int err = 0;
    for (size_t i = 0; !err && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            err = HT_EPROTO;
        else
            strs[i] = r->element[i]->str;
    }
    if (!err && ht_schedule_from_hash(sched, r->elements, strs) < 0) {
        ht_log(HT_LOG_ERROR, "stored schedule is malformed", NULL);
        err = HT_EPROTO;
    }
    free(strs);
    return err;
}

/* One schedule, or TOOMANY (create: the tenant's quota is full), or nil. */
static void finish_sched(const ht_acall_t *call, int err, const redisReply *r)
{
    ht_schedule_t sched;
    memset(&sched, 0, sizeof(sched));
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "TOOMANY", 7) == 0) {
            err = HT_ELIMIT;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    }
    if (!err)
        err = sched_from_reply(r, &sched);
    ((ht_astore_sched_cb)call->cb)(call->data, err, err ? NULL : &sched);
    ht_schedule_clear(&sched);
}

/* The keys every schedule call names first: its hash and the due set. */
static void add_sched_keys(ht_argv_t *a, const ht_keys_t *k, const char *id)
{
    char key[HT_KEY_MAX];
    ht_keys_sched(k, id, key);
    ht_argv_add_owned(a, strdup(key));
    ht_argv_add(a, k->sched_due);
}

void ht_astore_sched_create(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                            const ht_astore_sched_new_t *n, ht_astore_sched_cb cb, void *data)
{
    const ht_schedule_request_t *r = n->r;
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_create", 3, 0);
    add_sched_keys(&a, k, n->id);
    ht_argv_addf(&a, "%st:%s:scheds", k->base, n->tenant);
    ht_argv_add(&a, n->id);
    ht_argv_add(&a, n->tenant);
    ht_argv_addll(&a, HT_SCHEDULES_PER_TENANT_MAX);
    ht_argv_addll(&a, n->next_run_ms);
    if (r->name[0]) {
        ht_argv_add(&a, "name");
        ht_argv_add(&a, r->name);
    }
    if (r->when.is_cron) {
        ht_argv_add(&a, "cron");
        ht_argv_add(&a, r->cron_text);
        if (r->when.tz[0]) {
            ht_argv_add(&a, "timezone");
            ht_argv_add(&a, r->when.tz);
        }
        if (r->seconds) {
            ht_argv_add(&a, "seconds");
            ht_argv_add(&a, "1");
        }
    } else {
        ht_argv_add(&a, "every_s");
        ht_argv_addll(&a, r->when.every_s);
        ht_argv_add(&a, "anchor");
        ht_argv_addll(&a, n->next_run_ms);
    }
    ht_argv_add(&a, "catch_up");
    ht_argv_add(&a, ht_catch_up_name(r->when.catch_up));
    ht_argv_add(&a, "job");
    ht_argv_add(&a, r->job_json);
    add_job_fields(&a, "j_", NULL, &r->job, n->payload_json, n->metadata_json, n->failed_ttl_s);
    ht_acall_t call = {
        .finish = finish_sched, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_sched_get(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                         ht_astore_sched_cb cb, void *data)
{
    char key[HT_KEY_MAX];
    ht_keys_sched(k, id, key);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, key);
    ht_acall_t call = {.finish = finish_sched, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

static int read_sched(const redisReply *r, void *sched)
{
    return sched_from_reply(r, sched);
}

static void clear_sched(void *sched)
{
    ht_schedule_clear(sched);
}

/* ht_sched_list answers a cursor page of schedules. */
static void finish_sched_list(const ht_acall_t *call, int err, const redisReply *r)
{
    void *page;
    size_t n;
    err = read_page(err, r, sizeof(ht_schedule_t), read_sched, clear_sched,
                    "unreadable schedule skipped in a listing", &page, &n);
    ht_schedule_t *scheds = page;
    ((ht_astore_sched_list_cb)call->cb)(call->data, err, err ? NULL : r->element[0]->str,
                                        err ? 0 : n, err ? NULL : scheds);
    free_page(page, n, sizeof(ht_schedule_t), clear_sched);
}

void ht_astore_sched_list(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                          int limit, const char *cursor, ht_astore_sched_list_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_list", 1, 1);
    ht_argv_addf(&a, "%st:%s:scheds", k->base, tenant);
    ht_argv_add(&a, k->base);
    ht_argv_addll(&a, limit);
    ht_argv_add(&a, cursor ? cursor : "");
    ht_acall_t call = {
        .finish = finish_sched_list, .cb = (ht_acall_cb)cb, .data = data, .own_errors = 1};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_sched_delete(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                            const char *tenant, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_delete", 3, 0);
    add_sched_keys(&a, k, id);
    ht_argv_addf(&a, "%st:%s:scheds", k->base, tenant);
    ht_argv_add(&a, id);
    ht_argv_add(&a, tenant);
    ht_acall_t call = {.finish = finish_int, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_sched_pause(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                           const char *tenant, ht_astore_sched_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_pause", 2, 0);
    add_sched_keys(&a, k, id);
    ht_argv_add(&a, id);
    ht_argv_add(&a, tenant);
    ht_acall_t call = {.finish = finish_sched, .cb = (ht_acall_cb)cb, .data = data};
    ht_aclient_send(s, req, &a, 1, &call);
}

void ht_astore_sched_resume(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                            const char *tenant, int64_t next_run_ms, ht_astore_sched_cb cb,
                            void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_resume", 2, 0);
    add_sched_keys(&a, k, id);
    ht_argv_add(&a, id);
    ht_argv_add(&a, tenant);
    ht_argv_addll(&a, next_run_ms);
    ht_acall_t call = {.finish = finish_sched, .cb = (ht_acall_cb)cb, .data = data};
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
    ht_argv_addll(&a, rotation_ms);
    ht_argv_addll(&a, most);
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

/* ---- the HTTP worker API ---------------------------------------------- */

/* A flat HGETALL answer of ht_claim into `c` (which the caller clears). */
static int claimed_from_reply(const redisReply *r, ht_astore_claimed_t *c)
{
    memset(c, 0, sizeof(*c));
    int err = job_from_reply(r, NULL, &c->job);
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
                     long lease_ms, long grace_ms, const char *types, ht_astore_claim_cb cb,
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
        int rc = job_from_reply(r->element[1], call->arg + 1, &job);
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
    /* With a next claim: fence after ht_complete's 4 keys, and the claim's
     * arguments after its own (shared/library.lua). */
    ht_argv_fcall(&a[1], "ht_complete", o->next_worker ? 5 : 4, 0);
    ht_argv_add(&a[1], jobkey);
    ht_argv_add(&a[1], k->active);
    ht_argv_add(&a[1], k->wait[o->priority]);
    ht_argv_add(&a[1], k->signal);
    if (o->next_worker)
        ht_argv_add(&a[1], k->fence);
    ht_argv_add(&a[1], o->id);
    ht_argv_addf(&a[1], "%" PRIu64, o->token);
    ht_argv_add(&a[1], o->outcome);
    ht_argv_add(&a[1], o->body ? o->body : "");
    ht_argv_add(&a[1], o->retryable ? "1" : "0");
    ht_argv_add(&a[1], k->channel);
    ht_argv_addf(&a[1], "%ld", o->retry_delay_ms > 0 ? o->retry_delay_ms : 0);
    if (o->next_worker) {
        ht_argv_add(&a[1], k->base);
        ht_argv_add(&a[1], o->next_worker);
        ht_argv_addf(&a[1], "%ld", o->lease_ms);
        ht_argv_addf(&a[1], "%ld", o->grace_ms);
        ht_argv_add(&a[1], o->next_types);
    }
    if (o->output) /* the 8th argument, or the 13th after the claim's */
        ht_argv_add(&a[1], o->output);
    ht_argv_init(&a[2]);
    ht_argv_add(&a[2], "HGETALL");
    ht_argv_add(&a[2], jobkey);
    ht_argv_init(&a[3]);
    ht_argv_add(&a[3], "EXEC");
    ht_acall_t call = {.finish = finish_outcome, .cb = (ht_acall_cb)cb, .data = data};
    /* arg: 'n' (a next claim) or '-', then the id (the HGETALL's job). */
    snprintf(call.arg, sizeof(call.arg), "%c%s", o->next_worker ? 'n' : '-', o->id);
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
