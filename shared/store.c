/* The blocking Redis store of the worker and the CLI: one connection to a
 * Redis node or cluster (shared/rconn.h: routing, redirects, reconnects),
 * and one function per Redis function of the keyspace library
 * (shared/library.lua).  Nothing else in these processes speaks
 * Redis. */
#include "shared/store.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/decimal.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/migrations.h"
#include "shared/rconn.h"

struct ht_store {
    ht_rconn_t *conn; /* one node or a cluster: shared/rconn.h */
    int timeout_ms;
    char err[1024];
};

static void set_err(ht_store_t *s, const char *fmt, const char *detail)
{
    snprintf(s->err, sizeof(s->err), fmt, detail);
}

int ht_store_open(ht_store_t **out, const ht_redis_url_t *url, int timeout_ms)
{
    ht_store_t *s = calloc(1, sizeof(*s));
    *out = s;
    if (!s)
        return HT_ENOMEM;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    int rc = ht_rconn_open(&s->conn, url, s->timeout_ms);
    if (rc < 0)
        set_err(s, "%s", s->conn ? ht_rconn_errstr(s->conn) : "redis: out of memory");
    return rc;
}

void ht_store_close(ht_store_t *s)
{
    if (!s)
        return;
    ht_rconn_close(s->conn);
    free(s);
}

const char *ht_store_errstr(const ht_store_t *s)
{
    return s && s->err[0] ? s->err : "no error";
}

int ht_store_error_is_unavailable(const char *redis_error)
{
    /* NOREPLICAS: min-replicas-to-write is set and too few replicas are
     * connected (a failover under way): a 503 like the others. */
    static const char *const codes[] = {"OOM",       "MISCONF",    "LOADING",  "BUSY",
                                        "READONLY",  "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                        "UNBLOCKED", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(redis_error, codes[i], n) == 0 &&
            (redis_error[n] == ' ' || redis_error[n] == '\0'))
            return 1;
    }
    return 0;
}

int ht_store_error_is_no_library(const char *redis_error)
{
    return strstr(redis_error, "Function not found") != NULL;
}

/* Judges a reply of ht_rconn_call().  Returns it (the caller frees it), or
 * NULL with *rc set: HT_EREDIS when Redis is unreachable, the connection is
 * gone (the next call reconnects) or Redis answers that it is unavailable
 * for now (ht_store_error_is_unavailable), HT_ESCHEMA when a function of
 * the keyspace library is missing, HT_EPROTO for other errors. */
static redisReply *judge(ht_store_t *s, redisReply *r, int *rc)
{
    if (!r) {
        set_err(s, "%s", ht_rconn_errstr(s->conn));
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *rc = ht_store_error_is_no_library(r->str)    ? HT_ESCHEMA
              : ht_store_error_is_unavailable(r->str) ? HT_EREDIS
                                                      : HT_EPROTO;
        /* A Redis without the library is new or was emptied (replaced
         * under a running process): say what brings it back. */
        set_err(s,
                *rc == HT_ESCHEMA ? "redis has no hangtight function library (%s): run "
                                    "`hangtight migrate`"
                                  : "redis: %s",
                r->str);
        freeReplyObject(r);
        return NULL;
    }
    *rc = 0;
    return r;
}

/* Runs one command on the node of its key, waiting reply_ms for the
 * answer (0: the store's timeout), and clears `a`; see judge() for the
 * result. */
static redisReply *call_ms(ht_store_t *s, ht_argv_t *a, int reply_ms, int *rc)
{
    redisReply *r = judge(s, ht_rconn_call(s->conn, a, reply_ms, rc), rc);
    ht_argv_clear(a);
    return r;
}

static redisReply *call(ht_store_t *s, ht_argv_t *a, int *rc)
{
    return call_ms(s, a, 0, rc);
}

/* Runs a command whose answer is an integer, and clears `a`. */
static int call_int(ht_store_t *s, ht_argv_t *a, long long *out)
{
    int rc;
    redisReply *r = call(s, a, &rc);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
    } else {
        set_err(s, "%s", "redis: unexpected reply type (wanted an integer)");
        rc = HT_EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

/* Fills `job` from a flat field/value array reply: the HGETALL of the job
 * `id`, or with id NULL a claim's answer, which carries it. */
static int job_from_reply(ht_store_t *s, const redisReply *r, const char *id, ht_job_t *job)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        set_err(s, "%s", "redis: unexpected reply type (wanted a job hash)");
        return HT_EPROTO;
    }
    const char **strs = calloc(r->elements + 1, sizeof(*strs));
    size_t *lens = calloc(r->elements + 1, sizeof(*lens));
    int rc = 0;
    if (!strs || !lens) {
        rc = HT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING) {
            set_err(s, "%s", "redis: job hash holds a non-string");
            rc = HT_EPROTO;
            goto out;
        }
        strs[i] = e->str;
        lens[i] = e->len;
    }
    rc = ht_job_from_hash(job, id, r->elements, strs, lens);
    if (rc < 0)
        set_err(s, "%s", "stored job is malformed (missing id, type or status)");
out:
    free(strs);
    free(lens);
    return rc;
}

/* Copies a reply string into out[HT_COUNTED_MAX] ("" for anything else, or
 * a string that does not fit). */
static void counted_copy(const redisReply *e, char out[HT_COUNTED_MAX])
{
    out[0] = '\0';
    if (e->type == REDIS_REPLY_STRING && e->len < HT_COUNTED_MAX) {
        memcpy(out, e->str, e->len);
        out[e->len] = '\0';
    }
}

/* The wait observation a claim's reply ends with when the caller counts
 * (the pair 'count_wait', "<bucket> <ms>"; ht_claim). */
static void counted_wait(const redisReply *r, ht_counted_t *counted)
{
    counted->wait[0] = '\0';
    if (r->elements >= 2) {
        const redisReply *name = r->element[r->elements - 2];
        if (name->type == REDIS_REPLY_STRING && strcmp(name->str, "count_wait") == 0)
            counted_copy(r->element[r->elements - 1], counted->wait);
    }
}

/* A job claimed by ht_complete_many: {id, token, attempt, type, payload,
 * count_wait (nil: none), then field, value pairs of the fields a job has
 * only when not at their default (tenant, priority, max_attempts,
 * timeout_s, input)}.  Its status is running. */
static const char *const MANY_HEAD[] = {"id", "token", "attempt", "type", "payload"};
#define MANY_HEAD_N (sizeof(MANY_HEAD) / sizeof(MANY_HEAD[0]))

static int job_from_many(ht_store_t *s, const redisReply *r, ht_job_t *job, ht_counted_t *counted)
{
    /* A library of the same schema loaded before this layout answers
     * ht_claim's pairs ("id" first; an id is never "id"). */
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "id") == 0) {
        int rc = job_from_reply(s, r, NULL, job);
        if (rc == 0)
            counted_wait(r, counted);
        return rc;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < MANY_HEAD_N + 1 ||
        (r->elements - MANY_HEAD_N - 1) % 2 != 0) {
        set_err(s, "%s", "redis: unexpected claimed job in the reply to ht_complete_many");
        return HT_EPROTO;
    }
    size_t cap = 2 + 2 * MANY_HEAD_N + (r->elements - MANY_HEAD_N - 1), n = 0;
    const char **strs = calloc(cap, sizeof(*strs));
    size_t *lens = calloc(cap, sizeof(*lens));
    int rc = 0;
    if (!strs || !lens) {
        rc = HT_ENOMEM;
        goto out;
    }
    strs[n] = "status";
    lens[n++] = strlen("status");
    strs[n] = "running";
    lens[n++] = strlen("running");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (i == MANY_HEAD_N) {
            counted_copy(e, counted->wait);
            continue;
        }
        if (i < MANY_HEAD_N && e->type == REDIS_REPLY_NIL)
            continue;
        if (e->type != REDIS_REPLY_STRING) {
            set_err(s, "%s", "redis: claimed job holds a non-string");
            rc = HT_EPROTO;
            goto out;
        }
        if (i < MANY_HEAD_N) {
            strs[n] = MANY_HEAD[i];
            lens[n++] = strlen(MANY_HEAD[i]);
        }
        strs[n] = e->str;
        lens[n++] = e->len;
    }
    rc = ht_job_from_hash(job, NULL, n, strs, lens);
    if (rc < 0)
        set_err(s, "%s", "claimed job is malformed (missing id or type)");
out:
    free(strs);
    free(lens);
    return rc;
}

int ht_store_schema_version(ht_store_t *s, int *version)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGET");
    ht_argv_add(&a, HT_KEY_SCHEMA);
    ht_argv_add(&a, "version");
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    *version = 0;
    if (r->type == REDIS_REPLY_STRING)
        *version = atoi(r->str);
    freeReplyObject(r);
    return 0;
}

/* Appends " (on master host:port)" to the error when there are several. */
static void name_master(ht_store_t *s, int i, int n)
{
    if (n < 2)
        return;
    char name[300];
    ht_rconn_master_name(s->conn, i, name, sizeof name);
    size_t used = strlen(s->err);
    snprintf(s->err + used, sizeof(s->err) - used, " (on master %s)", name);
}

/* FUNCTION LIST of the hangtight library on master i, with its code when
 * `with_code`; see judge() for the result. */
static redisReply *function_list(ht_store_t *s, int i, int with_code, int *rc)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "FUNCTION");
    ht_argv_add(&a, "LIST");
    ht_argv_add(&a, "LIBRARYNAME");
    ht_argv_add(&a, "hangtight");
    if (with_code)
        ht_argv_add(&a, "WITHCODE");
    redisReply *r = judge(s, ht_rconn_call_master(s->conn, i, &a, rc), rc);
    ht_argv_clear(&a);
    return r;
}

/* 1 when master i has the keyspace's function library, 0 when it has not
 * (a master added to a cluster since the last migrate), or a negative code.
 * A refused FUNCTION LIST (a managed Redis) counts as 1: we cannot tell. */
static int has_library(ht_store_t *s, int i)
{
    int rc;
    redisReply *r = function_list(s, i, 0, &rc);
    if (!r)
        return rc == HT_EPROTO ? 1 : rc;
    rc = r->type != REDIS_REPLY_ARRAY || r->elements > 0;
    freeReplyObject(r);
    return rc;
}

int ht_store_check_schema(ht_store_t *s)
{
    int have = 0, need = ht_schema_required();
    int rc = ht_store_schema_version(s, &have);
    if (rc < 0)
        return rc;
    if (have < need) {
        snprintf(s->err, sizeof(s->err),
                 "keyspace version %d is older than the %d this binary needs: "
                 "run `hangtight migrate`",
                 have, need);
        return HT_ESCHEMA;
    }
    /* Every master serves some queue's keys, so every one needs the
     * functions (a master added to a cluster has none until a migrate). */
    int n = ht_rconn_masters(s->conn);
    if (n < 0) {
        set_err(s, "%s", ht_rconn_errstr(s->conn));
        return n;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = has_library(s, i)) < 0)
            return rc;
        if (rc == 0) {
            set_err(s, "%s", "redis has no hangtight function library: run `hangtight migrate`");
            name_master(s, i, n);
            return HT_ESCHEMA;
        }
    }
    return 0;
}

/* ---- migrate ------------------------------------------------------------ */

/* Appends " (in data step NAME)" to the error. */
static void name_step(ht_store_t *s, const ht_data_step_t *st)
{
    size_t used = strlen(s->err);
    snprintf(s->err + used, sizeof(s->err) - used, " (in data step %s)", st->name);
}

/* 1 when master i holds `ks`'s library as it is (same text), 0 when it
 * holds none or another text, or a negative code.  A refused FUNCTION LIST
 * (a managed Redis) counts as 0: the load then says whether it may. */
static int has_current_library(ht_store_t *s, int i, const ht_keyspace_t *ks)
{
    int rc;
    redisReply *r = function_list(s, i, 1, &rc);
    if (!r)
        return rc == HT_EPROTO ? 0 : rc;
    /* [[name, "hangtight", ..., "library_code", code, ...], ...]: the
     * pattern "hangtight" matches that name only. */
    int same = 0;
    for (size_t l = 0; r->type == REDIS_REPLY_ARRAY && l < r->elements; l++) {
        const redisReply *lib = r->element[l];
        for (size_t k = 0; lib->type == REDIS_REPLY_ARRAY && k + 1 < lib->elements; k += 2) {
            const redisReply *key = lib->element[k], *val = lib->element[k + 1];
            if (key->type == REDIS_REPLY_STRING && strcmp(key->str, "library_code") == 0 &&
                val->type == REDIS_REPLY_STRING && val->len == ks->library_len &&
                memcmp(val->str, ks->library, val->len) == 0)
                same = 1;
        }
    }
    freeReplyObject(r);
    return same;
}

/* Loads the library on every master that does not hold it as it is;
 * *loaded counts them. */
static int load_library(ht_store_t *s, const ht_keyspace_t *ks, int masters, int *loaded)
{
    for (int i = 0; i < masters; i++) {
        int rc = has_current_library(s, i, ks);
        if (rc == 0) {
            ht_argv_t a;
            ht_argv_init(&a);
            ht_argv_add(&a, "FUNCTION");
            ht_argv_add(&a, "LOAD");
            ht_argv_add(&a, "REPLACE");
            ht_argv_addn(&a, ks->library, ks->library_len);
            freeReplyObject(judge(s, ht_rconn_call_master(s->conn, i, &a, &rc), &rc));
            ht_argv_clear(&a);
            *loaded += rc == 0;
        }
        if (rc < 0) {
            name_master(s, i, masters);
            return rc;
        }
    }
    return 0;
}

/* Runs data step `st` on every master, one batch a call, until it answers
 * the cursor "0". */
static int run_step(ht_store_t *s, const ht_data_step_t *st, int masters)
{
    for (int i = 0; i < masters; i++) {
        char cursor[32] = "0";
        do {
            ht_argv_t a;
            ht_argv_init(&a);
            ht_argv_add(&a, "EVAL");
            ht_argv_addn(&a, st->source, st->len);
            ht_argv_add(&a, "0");
            ht_argv_add(&a, cursor);
            int rc;
            redisReply *r = judge(s, ht_rconn_call_master(s->conn, i, &a, &rc), &rc);
            ht_argv_clear(&a);
            if (r && r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < sizeof cursor) {
                memcpy(cursor, r->str, r->len + 1);
            } else if (r) {
                set_err(s, "%s", "redis: a data step answered something else than a cursor");
                rc = HT_EPROTO;
            }
            freeReplyObject(r);
            if (rc < 0) {
                name_master(s, i, masters);
                name_step(s, st);
                return rc;
            }
        } while (strcmp(cursor, "0") != 0);
    }
    return 0;
}

/* Runs the steps of `ks` above version `from` that run `when`. */
static int run_steps(ht_store_t *s, const ht_keyspace_t *ks, int from, ht_step_when_t when,
                     int masters)
{
    for (size_t i = 0; i < ks->nsteps; i++) {
        const ht_data_step_t *st = &ks->steps[i];
        int rc = st->version > from && st->when == when ? run_step(s, st, masters) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ht_store_migrate(ht_store_t *s, const ht_keyspace_t *ks, ht_migrate_result_t *res)
{
    memset(res, 0, sizeof *res);
    int rc = ht_store_schema_version(s, &res->from);
    if (rc < 0)
        return rc;
    res->to = res->from;
    if (res->from > ks->schema) {
        snprintf(s->err, sizeof(s->err),
                 "keyspace version %d is newer than the %d of this hangtight: "
                 "migrate with the newer release",
                 res->from, ks->schema);
        return HT_ESCHEMA;
    }
    int masters = ht_rconn_masters(s->conn);
    if (masters < 0) {
        set_err(s, "%s", ht_rconn_errstr(s->conn));
        return masters;
    }
    res->masters = masters;
    if ((rc = run_steps(s, ks, res->from, HT_STEP_BEFORE_LIBRARY, masters)) < 0 ||
        (rc = load_library(s, ks, masters, &res->loaded)) < 0 ||
        (rc = run_steps(s, ks, res->from, HT_STEP_AFTER_LIBRARY, masters)) < 0)
        return rc;
    if (res->from == ks->schema)
        return 0;

    long long ignored;
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HSET");
    ht_argv_add(&a, HT_KEY_SCHEMA);
    ht_argv_add(&a, "version");
    ht_argv_addf(&a, "%d", ks->schema);
    ht_argv_add(&a, "applied_at");
    ht_argv_addf(&a, "%" PRId64, ht_now_ms());
    if ((rc = call_int(s, &a, &ignored)) == 0)
        res->to = ks->schema;
    return rc;
}

int ht_store_register_types(ht_store_t *s, const char *const *types, size_t n,
                            const char *worker_id)
{
    if (n == 0)
        return 0;
    if (2 * n + 2 > HT_ARGV_MAX)
        return HT_EINVAL;
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HSET");
    ht_argv_add(&a, HT_KEY_TYPES);
    json_t *info = json_pack("{s:s, s:I}", "worker", worker_id, "at", (json_int_t)ht_now_ms());
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_decref(info);
    if (!text)
        return HT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ht_argv_add(&a, types[i]);
        ht_argv_add(&a, text);
    }
    long long ignored;
    int rc = call_int(s, &a, &ignored);
    free(text);
    return rc;
}

/* The claim's terms: the last arguments of ht_claim and ht_complete
 * (base, worker id, [channel,] lease_ms, grace_ms, types). */
static void add_terms(ht_argv_t *a, const ht_keys_t *k, const ht_claimer_t *who, int channel)
{
    ht_argv_add(a, k->base);
    ht_argv_add(a, who->worker_id);
    if (channel)
        ht_argv_add(a, k->channel);
    ht_argv_addf(a, "%ld", who->lease_ms);
    ht_argv_addf(a, "%ld", who->grace_ms);
    ht_argv_add(a, who->types ? who->types : "");
}

int ht_store_claim(ht_store_t *s, const ht_keys_t *k, const ht_claimer_t *who, ht_job_t *job,
                   ht_counted_t *counted)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_claim", 2, 0);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->fence);
    add_terms(&a, k, who, 1);
    if (counted)
        ht_argv_add(&a, "1");
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else {
        rc = job_from_reply(s, r, NULL, job);
        rc = rc < 0 ? rc : 1;
        if (rc == 1 && counted)
            counted_wait(r, counted);
    }
    freeReplyObject(r);
    return rc;
}

int ht_store_wait_signal(ht_store_t *s, const ht_keys_t *k, int timeout_ms)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "BLPOP");
    ht_argv_add(&a, k->signal);
    ht_argv_addf(&a, "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
    /* The socket must outwait the server-side block. */
    int rc;
    redisReply *r = call_ms(s, &a, timeout_ms + s->timeout_ms, &rc);
    if (!r)
        return rc;
    rc = r->type == REDIS_REPLY_ARRAY ? 1 : 0;
    freeReplyObject(r);
    return rc;
}

/* Keys and token shared by the calls that act on a held job. */
static void add_held(ht_argv_t *a, const ht_keys_t *k, const ht_job_t *job, char jobkey[HT_KEY_MAX])
{
    ht_keys_job(k, job->id, jobkey);
    ht_argv_add(a, jobkey);
}

/* "FCALL name 4 job active wait signal id token": the start shared by the
 * calls that may put a held job back in its queue. */
static void fcall_requeue(ht_argv_t *a, const char *name, const ht_keys_t *k, const ht_job_t *job,
                          char jobkey[HT_KEY_MAX])
{
    ht_argv_fcall(a, name, 4, 0);
    add_held(a, k, job, jobkey);
    ht_argv_add(a, k->active);
    ht_argv_add(a, k->wait[job->priority]);
    ht_argv_add(a, k->signal);
    ht_argv_add(a, job->id);
    ht_argv_addf(a, "%" PRIu64, job->token);
}

static int held_result(long long v)
{
    return v == 1 ? 0 : HT_ESTALE;
}

int ht_store_renew_many(ht_store_t *s, const ht_keys_t *k, long lease_ms, const ht_held_t *held,
                        size_t n, ht_lease_answer_t *answers)
{
    /* The held jobs travel as one argument, "<id> <token>" pairs. */
    ht_buf_t pairs = HT_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        ht_buf_printf(&pairs, "%s%s %" PRIu64, i ? " " : "", held[i].id, held[i].token);
    if (n == 0 || ht_buf_failed(&pairs)) {
        ht_buf_free(&pairs);
        set_err(s, "%s", n ? "out of memory" : "internal error: nothing to renew");
        return n ? HT_ENOMEM : HT_EINVAL;
    }
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_renew_many", 1, 0);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->job_prefix);
    ht_argv_addf(&a, "%ld", lease_ms);
    ht_argv_addn(&a, pairs.data, pairs.len);
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_buf_free(&pairs);
    if (!r)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        set_err(s, "%s", "redis: unexpected reply to ht_renew_many");
        rc = HT_EPROTO;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_INTEGER || e->integer < HT_LEASE_LOST ||
            e->integer > HT_LEASE_PAST_DEADLINE) {
            set_err(s, "%s", "redis: unexpected answer in the reply to ht_renew_many");
            rc = HT_EPROTO;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        answers[i] = (ht_lease_answer_t)r->element[i]->integer;
    freeReplyObject(r);
    return rc;
}

int ht_store_progress(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job, int pct,
                      const char *msg)
{
    char jobkey[HT_KEY_MAX];
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_progress", 1, 0);
    add_held(&a, k, job, jobkey);
    ht_argv_add(&a, job->id);
    ht_argv_addf(&a, "%" PRIu64, job->token);
    if (pct >= 0)
        ht_argv_addf(&a, "%d", pct);
    else
        ht_argv_add(&a, "");
    ht_argv_add(&a, msg ? msg : "");
    ht_argv_add(&a, k->channel);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : held_result(v);
}

int ht_store_complete_next(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job,
                           ht_outcome_t outcome, const char *json, int retryable,
                           long retry_delay_ms, const char *output, const ht_claimer_t *who,
                           ht_job_t *next, int *got, ht_counted_t *counted,
                           ht_job_status_t *status_out)
{
    static const char *const names[] = {"succeeded", "failed", "canceled"};
    char jobkey[HT_KEY_MAX];
    ht_argv_t a;
    if (got)
        *got = 0;
    if (counted)
        counted->wait[0] = counted->run[0] = '\0';
    /* With a next job wanted: 5 keys, the fence after ht_complete's 4
     * (shared/library.lua). */
    ht_argv_fcall(&a, "ht_complete", next ? 5 : 4, 0);
    add_held(&a, k, job, jobkey);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->wait[job->priority]);
    ht_argv_add(&a, k->signal);
    if (next)
        ht_argv_add(&a, k->fence);
    ht_argv_add(&a, job->id);
    ht_argv_addf(&a, "%" PRIu64, job->token);
    ht_argv_add(&a, names[outcome]);
    ht_argv_add(&a, json ? json : (outcome == HT_OUTCOME_CANCELED ? "" : "null"));
    ht_argv_add(&a, retryable ? "1" : "0");
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%ld", retry_delay_ms > 0 ? retry_delay_ms : 0);
    if (next)
        add_terms(&a, k, who, 0);
    /* The output comes last: the 8th argument with 4 keys, the 13th with 5
     * (after the claim's terms); then the flag of the caller that counts. */
    if ((output && *output) || counted)
        ht_argv_add(&a, output ? output : "");
    if (counted)
        ht_argv_add(&a, "1");
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    const redisReply *status = r;
    if (next || counted) {
        /* {status or nil, the claimed job or nil[, the run observation or
         * nil when the caller counts]} */
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements > 3) {
            set_err(s, "%s", "redis: unexpected reply type (wanted an outcome and a job)");
            freeReplyObject(r);
            return HT_EPROTO;
        }
        status = r->element[0];
        if (next && r->element[1]->type != REDIS_REPLY_NIL) {
            int jrc = job_from_reply(s, r->element[1], NULL, next);
            if (jrc < 0) {
                freeReplyObject(r);
                return jrc;
            }
            *got = 1;
            if (counted)
                counted_wait(r->element[1], counted);
        }
        if (counted && r->elements == 3)
            counted_copy(r->element[2], counted->run);
    }
    rc = status->type == REDIS_REPLY_NIL ? HT_ESTALE : 0;
    if (rc == 0 && status_out &&
        (status->type != REDIS_REPLY_STRING || ht_job_status_parse(status->str, status_out) < 0)) {
        set_err(s, "%s", "redis: unexpected status in the reply to ht_complete");
        rc = HT_EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

/* Writes `v` in decimal at `p` (NUL-terminated, 21 bytes at most); returns
 * its length. */
static size_t put_dec(char *p, uint64_t v)
{
    size_t n = ht_decimal_put(p, v);
    p[n] = '\0';
    return n;
}

int ht_store_complete_many(ht_store_t *s, const ht_keys_t *k, const ht_claimer_t *who,
                           ht_settle_t *o, size_t n, size_t want, ht_job_t *jobs,
                           ht_counted_t *waits, size_t *got)
{
    static const char *const names[] = {"succeeded", "failed", "canceled"};
    *got = 0;
    if (n > HT_COMPLETE_MANY_MAX || want > HT_COMPLETE_MANY_MAX) {
        set_err(s, "%s", "internal error: too many outcomes or claims for one call");
        return HT_EINVAL;
    }
    /* Each outcome's token and retry delay, written here without printf:
     * the vector borrows them for the call. */
    char nums[HT_COMPLETE_MANY_MAX][2][24];
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_complete_many", 3, 0);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->fence);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, k->base);
    ht_argv_add(&a, who->worker_id);
    ht_argv_add(&a, k->channel);
    ht_argv_addll(&a, who->lease_ms);
    ht_argv_addll(&a, who->grace_ms);
    ht_argv_add(&a, who->types ? who->types : "");
    ht_argv_addll(&a, (long long)want);
    for (size_t i = 0; i < n; i++) {
        const ht_settle_t *e = &o[i];
        ht_argv_add(&a, e->job->id);
        ht_argv_addn(&a, nums[i][0], put_dec(nums[i][0], e->job->token));
        ht_argv_add(&a, names[e->outcome]);
        ht_argv_add(&a, e->json ? e->json : (e->outcome == HT_OUTCOME_CANCELED ? "" : "null"));
        ht_argv_add(&a, e->retryable ? "1" : "0");
        ht_argv_addn(&a, nums[i][1],
                     put_dec(nums[i][1], e->retry_delay_ms > 0 ? (uint64_t)e->retry_delay_ms : 0));
        ht_argv_add(&a, e->output ? e->output : "");
    }
    if (a.overflow) {
        ht_argv_clear(&a);
        set_err(s, "%s", "out of memory");
        return HT_ENOMEM;
    }
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    /* {statuses (status or nil, run or nil per outcome), claimed jobs} */
    const redisReply *st = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
    const redisReply *js = st ? r->element[1] : NULL;
    if (!st || st->type != REDIS_REPLY_ARRAY || st->elements != 2 * n ||
        js->type != REDIS_REPLY_ARRAY || js->elements > want) {
        set_err(s, "%s", "redis: unexpected reply to ht_complete_many");
        freeReplyObject(r);
        return HT_EPROTO;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *status = st->element[2 * i];
        o[i].rc = status->type == REDIS_REPLY_NIL ? HT_ESTALE : 0;
        counted_copy(st->element[2 * i + 1], o[i].run);
        if (o[i].rc == 0 && (status->type != REDIS_REPLY_STRING ||
                             ht_job_status_parse(status->str, &o[i].status) < 0)) {
            set_err(s, "%s", "redis: unexpected status in the reply to ht_complete_many");
            rc = HT_EPROTO;
        }
    }
    for (size_t i = 0; rc == 0 && i < js->elements; i++) {
        rc = job_from_many(s, js->element[i], &jobs[i], &waits[i]);
        if (rc == 0)
            *got = i + 1;
    }
    if (rc < 0) {
        /* A reply that cannot be read: the jobs it claimed are leased to
         * us all the same and come back when their leases end. */
        for (size_t i = 0; i < *got; i++)
            ht_job_clear(&jobs[i]);
        *got = 0;
    }
    freeReplyObject(r);
    return rc;
}

int ht_store_count_add(ht_store_t *s, const char *base, const char *worker_id, uint64_t seq,
                       const ht_count_t *counts, size_t n)
{
    char metrics[HT_KEY_MAX];
    snprintf(metrics, sizeof(metrics), "%smetrics", base);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_count_add", 1, 0);
    ht_argv_add(&a, metrics);
    ht_argv_add(&a, base);
    ht_argv_add(&a, worker_id);
    ht_argv_addf(&a, "%" PRIu64, seq);
    for (size_t i = 0; i < n; i++) {
        ht_argv_add(&a, counts[i].key);
        ht_argv_add(&a, counts[i].field);
        ht_argv_addf(&a, "%lld", counts[i].n);
    }
    if (a.overflow) {
        ht_argv_clear(&a);
        set_err(s, "%s", "too many counters for one call");
        return HT_EINVAL;
    }
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : v == 1;
}

int ht_store_release(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job)
{
    char jobkey[HT_KEY_MAX];
    ht_argv_t a;
    fcall_requeue(&a, "ht_release", k, job, jobkey);
    ht_argv_add(&a, k->channel);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : held_result(v);
}

/* The wait lists, highest priority first, and the signal list: the keys
 * of every function that moves jobs back to waiting. */
static void add_waits(ht_argv_t *a, const ht_keys_t *k)
{
    ht_argv_add(a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(a, k->signal);
}

int ht_store_reap(ht_store_t *s, const ht_keys_t *k, int limit)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_reap", 5, 0);
    ht_argv_add(&a, k->active);
    add_waits(&a, k);
    ht_argv_add(&a, k->job_prefix);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%d", limit);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : (int)v;
}

int ht_store_promote(ht_store_t *s, const ht_keys_t *k, int limit, long long *next_due_ms)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_promote", 5, 0);
    ht_argv_add(&a, k->scheduled);
    add_waits(&a, k);
    ht_argv_add(&a, k->base);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%d", limit);
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        *next_due_ms = r->element[1]->integer;
        rc = (int)r->element[0]->integer;
    } else {
        set_err(s, "%s", "redis: unexpected reply to ht_promote");
        rc = HT_EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

int ht_store_trim(ht_store_t *s, const ht_keys_t *k, int limit)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_trim", 1, 0);
    ht_argv_add(&a, k->tenants);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%d", limit);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : (int)v;
}

int ht_store_blobs_gone(ht_store_t *s, const ht_keys_t *k, int limit, char ***keys, size_t *n)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "LPOP");
    ht_argv_add(&a, k->gone);
    ht_argv_addf(&a, "%d", limit);
    return ht_store_cmd_strings(s, &a, keys, n);
}

int ht_store_exists(ht_store_t *s, const char *key)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "EXISTS");
    ht_argv_add(&a, key);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : v > 0;
}

int ht_store_take_lease(ht_store_t *s, const char *key, const char *owner, long ttl_s)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "SET");
    ht_argv_add(&a, key);
    ht_argv_add(&a, owner);
    ht_argv_add(&a, "NX");
    ht_argv_add(&a, "EX");
    ht_argv_addf(&a, "%ld", ttl_s);
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    int taken = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return taken;
}

int ht_store_cancel_next(ht_store_t *s, int timeout_ms, char id[HT_ID_LEN + 1], uint64_t *token)
{
    redisReply *r;
    int rc = ht_rconn_next_message(s->conn, timeout_ms, &r);
    if (rc < 0)
        set_err(s, "%s", ht_rconn_errstr(s->conn));
    if (rc <= 0)
        return rc;
    rc = 0;
    /* ["message", channel, "<id> <token>"] */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        const char *msg = r->element[2]->str;
        const char *sp = strchr(msg, ' ');
        if (sp && ht_id_valid(msg, (size_t)(sp - msg))) {
            memcpy(id, msg, HT_ID_LEN);
            id[HT_ID_LEN] = '\0';
            *token = strtoull(sp + 1, NULL, 10);
            rc = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* ---- recurring schedules --------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const redisReply *r)
{
    if (r->type == REDIS_REPLY_STRING)
        snprintf(dst, cap, "%.*s", (int)r->len, r->str);
    else
        dst[0] = '\0';
}

int ht_store_sched_due(ht_store_t *s, const ht_keys_t *k, int limit, ht_sched_due_t *out,
                       long long *now_ms, long long *next_due_ms)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_due", 1, 0);
    ht_argv_add(&a, k->sched_due);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%d", limit);
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    int n = 0;
    rc = HT_EPROTO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->elements - 2 <= (size_t)limit &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        rc = 0;
        *now_ms = r->element[0]->integer;
        *next_due_ms = r->element[1]->integer;
        for (size_t i = 2; i < r->elements && rc == 0; i++) {
            const redisReply *e = r->element[i];
            ht_sched_due_t *d = &out[n];
            char due[24];
            char *end;
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 8 ||
                e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len != HT_ID_LEN) {
                rc = HT_EPROTO;
                break;
            }
            copy_str(d->id, sizeof(d->id), e->element[0]);
            copy_str(due, sizeof(due), e->element[1]);
            d->due_ms = strtoll(due, &end, 10);
            if (!due[0] || *end) {
                rc = HT_EPROTO;
                break;
            }
            copy_str(d->cron, sizeof(d->cron), e->element[2]);
            copy_str(d->every_s, sizeof(d->every_s), e->element[3]);
            copy_str(d->anchor, sizeof(d->anchor), e->element[4]);
            copy_str(d->tz, sizeof(d->tz), e->element[5]);
            copy_str(d->seconds, sizeof(d->seconds), e->element[6]);
            copy_str(d->catch_up, sizeof(d->catch_up), e->element[7]);
            n++;
        }
    }
    if (rc < 0)
        set_err(s, "%s", "redis: unexpected reply to ht_sched_due");
    freeReplyObject(r);
    return rc < 0 ? rc : n;
}

int ht_store_sched_fire(ht_store_t *s, const ht_keys_t *k, const char *id, long long due_ms,
                        long long tick_ms, long long next_ms, const char *job_id,
                        const char *problem, int *made, char refusal[256])
{
    char sched[HT_KEY_MAX], jobkey[HT_KEY_MAX];
    ht_keys_sched(k, id, sched);
    ht_keys_job(k, job_id, jobkey);
    *made = 0;
    refusal[0] = '\0';
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_sched_fire", 4, 0);
    ht_argv_add(&a, sched);
    ht_argv_add(&a, k->sched_due);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_addf(&a, "%lld", due_ms);
    if (tick_ms > 0)
        ht_argv_addf(&a, "%lld", tick_ms);
    else
        ht_argv_add(&a, "");
    if (next_ms > 0)
        ht_argv_addf(&a, "%lld", next_ms);
    else
        ht_argv_add(&a, "");
    ht_argv_add(&a, job_id);
    ht_argv_add(&a, k->channel);
    ht_argv_add(&a, problem ? problem : "");
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    rc = HT_EPROTO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        rc = r->element[0]->integer == 1;
        if (rc == 1 && r->elements == 3 && r->element[1]->type == REDIS_REPLY_STRING &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            *made = r->element[1]->len > 0;
            copy_str(refusal, 256, r->element[2]);
        } else if (rc == 1) {
            rc = HT_EPROTO;
        }
    }
    if (rc < 0)
        set_err(s, "%s", "redis: unexpected reply to ht_sched_fire");
    freeReplyObject(r);
    return rc;
}

int ht_store_get(ht_store_t *s, const ht_keys_t *k, const char *id, ht_job_t *job)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, jobkey);
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        rc = HT_ENOTFOUND;
    else
        rc = job_from_reply(s, r, id, job);
    freeReplyObject(r);
    return rc;
}

int ht_store_delivery_claim(ht_store_t *s, const ht_keys_t *k, long lease_ms, int limit,
                            ht_delivery_t *out)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_delivery_claim", 1, 0);
    ht_argv_add(&a, k->deliveries);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%ld", lease_ms);
    ht_argv_addf(&a, "%d", limit);
    int rc;
    redisReply *r = call(s, &a, &rc);
    if (!r)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 || r->elements / 3 > (size_t)limit) {
        set_err(s, "%s", "redis: unexpected reply to ht_delivery_claim");
        freeReplyObject(r);
        return HT_EPROTO;
    }
    int n = 0;
    for (size_t i = 0; i + 2 < r->elements; i += 3) {
        redisReply **e = &r->element[i];
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
            e[2]->type != REDIS_REPLY_STRING)
            continue;
        ht_delivery_t *d = &out[n++];
        snprintf(d->id, sizeof d->id, "%s", e[0]->str);
        snprintf(d->cb_id, sizeof d->cb_id, "%s", e[1]->str);
        d->attempts = atoi(e[2]->str);
    }
    freeReplyObject(r);
    return n;
}

int ht_store_delivery_done(ht_store_t *s, const ht_keys_t *k, const ht_delivery_t *d,
                           const char *outcome, const char *last_status, long long next_due_ms)
{
    char job_key[HT_KEY_MAX];
    ht_keys_job(k, d->id, job_key);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_delivery_done", 2, 0);
    ht_argv_add(&a, job_key);
    ht_argv_add(&a, k->deliveries);
    ht_argv_add(&a, d->id);
    ht_argv_add(&a, d->cb_id);
    ht_argv_add(&a, outcome);
    ht_argv_add(&a, last_status);
    ht_argv_addf(&a, "%lld", next_due_ms);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : (int)v;
}

/* ---- eviction ----------------------------------------------------------- */

/* Copies the value of "field:" in an INFO text into out ("" when absent). */
static void info_field(const char *info, const char *field, char *out, size_t len)
{
    size_t flen = strlen(field);
    out[0] = '\0';
    for (const char *p = info; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            size_t n = strcspn(p + flen + 1, "\r\n");
            snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p + flen + 1);
            return;
        }
    }
}

/* The eviction check of master i of n (see ht_store_check_eviction). */
static int check_eviction_on(ht_store_t *s, int i, int n, int allow)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "INFO");
    ht_argv_add(&a, "memory");
    int rc;
    redisReply *r = judge(s, ht_rconn_call_master(s->conn, i, &a, &rc), &rc);
    ht_argv_clear(&a);
    if (!r && rc == HT_EREDIS)
        return rc;
    char policy[64] = "", node[300] = "";
    if (r && r->type == REDIS_REPLY_STRING)
        info_field(r->str, "maxmemory_policy", policy, sizeof(policy));
    freeReplyObject(r);
    if (n > 1)
        ht_rconn_master_name(s->conn, i, node, sizeof node);
    if (!policy[0]) {
        /* A managed Redis may forbid INFO: say so, but do not refuse. */
        ht_log(HT_LOG_WARN,
               "cannot read redis' maxmemory-policy; make sure it is noeviction, or jobs may "
               "be evicted and lost silently",
               "detail", ht_store_errstr(s), n > 1 ? "master" : NULL, node, NULL);
        return 0;
    }
    if (strcmp(policy, "noeviction") == 0)
        return 0;
    if (allow) {
        ht_log(HT_LOG_WARN,
               "!!! REDIS MAY EVICT JOBS: maxmemory-policy is not noeviction; when Redis fills "
               "up, acknowledged jobs are deleted and lost silently !!!",
               "maxmemory_policy", policy, "fix", "CONFIG SET maxmemory-policy noeviction",
               n > 1 ? "master" : NULL, node, NULL);
        return 0;
    }
    snprintf(s->err, sizeof(s->err),
             "redis' maxmemory-policy is %s%s%s: it may evict job keys and lose acknowledged "
             "jobs silently; set maxmemory-policy noeviction, or pass --allow-eviction "
             "(HANGTIGHT_ALLOW_EVICTION=1) to run anyway",
             policy, n > 1 ? " on master " : "", node);
    return HT_EINVAL;
}

/* Every master holds job keys, so every master is checked. */
int ht_store_check_eviction(ht_store_t *s, int allow)
{
    int n = ht_rconn_masters(s->conn), rc = n < 0 ? n : 0;
    if (n < 0)
        set_err(s, "%s", ht_rconn_errstr(s->conn));
    for (int i = 0; i < n && rc == 0; i++)
        rc = check_eviction_on(s, i, n, allow);
    return rc;
}

/* ---- plain commands (partitions: shared/partition_store.c) ------------- */

int ht_store_cmd_int(ht_store_t *s, ht_argv_t *a, long long *out)
{
    return call_int(s, a, out);
}

int ht_store_cmd_strings(ht_store_t *s, ht_argv_t *a, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc;
    redisReply *r = call(s, a, &rc);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_NIL) { /* an empty list popped */
        freeReplyObject(r);
        *out = calloc(1, sizeof(**out));
        return *out ? 0 : HT_ENOMEM;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        set_err(s, "%s", "redis: unexpected reply type (wanted an array)");
        freeReplyObject(r);
        return HT_EPROTO;
    }
    char **v = calloc(r->elements + 1, sizeof(*v));
    for (size_t i = 0; v && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !(v[*n] = strdup(e->str)))
            continue;
        (*n)++;
    }
    freeReplyObject(r);
    if (!v)
        return HT_ENOMEM;
    *out = v;
    return 0;
}

int ht_store_cancel_listen_many(ht_store_t *s, const char *const *channels, size_t n)
{
    int rc = ht_rconn_subscribe_many(s->conn, channels, n);
    if (rc < 0)
        set_err(s, "%s", ht_rconn_errstr(s->conn));
    return rc;
}

void ht_store_strings_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int ht_store_worker_records(ht_store_t *s, char ***v, int64_t **at, size_t *n)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, HT_KEY_WORKERS);
    size_t m = 0;
    int rc = ht_store_cmd_strings(s, &a, v, &m);
    if (rc < 0)
        return rc;
    *n = m / 2;
    *at = malloc((*n ? *n : 1) * sizeof **at);
    if (!*at) {
        ht_store_strings_free(*v);
        *v = NULL;
        return HT_ENOMEM;
    }
    for (size_t i = 0; i < *n; i++) {
        json_t *rec = json_loads((*v)[2 * i + 1], 0, NULL);
        json_t *t = json_object_get(rec, "at");
        (*at)[i] = json_is_integer(t) ? (int64_t)json_integer_value(t) : -1;
        json_decref(rec);
    }
    return 0;
}
