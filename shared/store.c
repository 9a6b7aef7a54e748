/* The blocking Redis store of the worker and the CLI: one hiredis context,
 * reconnected lazily, and one function per Redis function of the keyspace
 * library (migrations/0001_core.lua).  Nothing else in these processes
 * speaks Redis. */
#include "shared/store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/migrations.h"

struct ht_store {
    ht_redis_url_t url;
    int timeout_ms;
    redisContext *c; /* NULL while disconnected */
    char err[512];
};

static struct timeval to_timeval(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void set_err(ht_store_t *s, const char *fmt, const char *detail)
{
    snprintf(s->err, sizeof(s->err), fmt, detail);
}

static void drop_connection(ht_store_t *s)
{
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
}

/* Sends one command on the open context; the reply is the caller's. */
static redisReply *send_argv(ht_store_t *s, ht_argv_t *a)
{
    return redisCommandArgv(s->c, (int)a->n, a->v, a->len);
}

/* Sends a command whose reply only matters for being an error. */
static int setup_cmd(ht_store_t *s, ht_argv_t *a, const char *what)
{
    int rc = 0;
    redisReply *r = send_argv(s, a);
    if (!r) {
        set_err(s, "redis: %s", s->c->errstr);
        rc = HT_EREDIS;
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(s->err, sizeof(s->err), "redis refused %s: %s", what, r->str);
        rc = HT_EREDIS;
    }
    freeReplyObject(r);
    return rc;
}

/* AUTH and SELECT, as the URL asks. */
static int login(ht_store_t *s)
{
    ht_argv_t cmds[2];
    size_t n = ht_redis_login_cmds(&s->url, 1, cmds);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = setup_cmd(s, &cmds[i], cmds[i].v[0]);
        ht_argv_clear(&cmds[i]);
    }
    return rc;
}

static int connect_now(ht_store_t *s)
{
    struct timeval tv = to_timeval(s->timeout_ms);
    if (s->url.kind == HT_REDIS_UNIX)
        s->c = redisConnectUnixWithTimeout(s->url.path, tv);
    else
        s->c = redisConnectWithTimeout(s->url.host, s->url.port, tv);
    if (!s->c) {
        set_err(s, "redis: %s", "out of memory");
        return HT_ENOMEM;
    }
    if (s->c->err) {
        snprintf(s->err, sizeof(s->err), "cannot connect to redis at %s:%d: %s",
                 s->url.kind == HT_REDIS_UNIX ? s->url.path : s->url.host,
                 s->url.kind == HT_REDIS_UNIX ? 0 : s->url.port, s->c->errstr);
        drop_connection(s);
        return HT_EREDIS;
    }
    redisSetTimeout(s->c, tv);
    int rc = login(s);
    if (rc < 0)
        drop_connection(s);
    return rc;
}

int ht_store_open(ht_store_t **out, const ht_redis_url_t *url, int timeout_ms)
{
    ht_store_t *s = calloc(1, sizeof(*s));
    *out = s;
    if (!s)
        return HT_ENOMEM;
    s->url = *url;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    if (url->kind == HT_REDIS_CLUSTER) {
        set_err(s, "%s", "redis+cluster:// is not supported yet: use one Redis node");
        return HT_EINVAL;
    }
    return connect_now(s);
}

void ht_store_close(ht_store_t *s)
{
    if (!s)
        return;
    drop_connection(s);
    free(s);
}

const char *ht_store_errstr(const ht_store_t *s)
{
    return s && s->err[0] ? s->err : "no error";
}

int ht_store_error_is_unavailable(const char *redis_error)
{
    static const char *const codes[] = {"OOM",      "MISCONF",    "LOADING",  "BUSY",
                                        "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(redis_error, codes[i], n) == 0 &&
            (redis_error[n] == ' ' || redis_error[n] == '\0'))
            return 1;
    }
    return 0;
}

/* Runs one command, reconnecting first if needed.  Returns the reply (the
 * caller frees it), or NULL with *rc set: HT_EREDIS when the connection is
 * gone (it is dropped, the next call reconnects) or Redis answers that it
 * is unavailable for now (ht_store_error_is_unavailable), HT_ESCHEMA when a
 * function of the keyspace library is missing, HT_EPROTO for other errors. */
static redisReply *call(ht_store_t *s, ht_argv_t *a, int *rc)
{
    *rc = 0;
    if (a->overflow) {
        set_err(s, "%s", "internal error: too many command arguments");
        *rc = HT_EINVAL;
        return NULL;
    }
    if (!s->c && (*rc = connect_now(s)) < 0)
        return NULL;
    redisReply *r = send_argv(s, a);
    if (!r) {
        set_err(s, "redis connection lost: %s", s->c->errstr);
        drop_connection(s);
        *rc = HT_EREDIS;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(s, "redis: %s", r->str);
        *rc = strstr(r->str, "Function not found")     ? HT_ESCHEMA
              : ht_store_error_is_unavailable(r->str) ? HT_EREDIS
                                                      : HT_EPROTO;
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs a command whose answer is an integer. */
static int call_int(ht_store_t *s, ht_argv_t *a, long long *out)
{
    int rc;
    redisReply *r = call(s, a, &rc);
    ht_argv_clear(a);
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

/* Fills `job` from a flat field/value array reply. */
static int job_from_reply(ht_store_t *s, const redisReply *r, ht_job_t *job)
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
    rc = ht_job_from_hash(job, r->elements, strs, lens);
    if (rc < 0)
        set_err(s, "%s", "stored job is malformed (missing id, type or status)");
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
    ht_argv_clear(&a);
    if (!r)
        return rc;
    *version = 0;
    if (r->type == REDIS_REPLY_STRING)
        *version = atoi(r->str);
    freeReplyObject(r);
    return 0;
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
    return 0;
}

static int apply_migration(ht_store_t *s, const ht_migration_t *m)
{
    ht_argv_t a;
    ht_argv_init(&a);
    if (m->is_library) {
        ht_argv_add(&a, "FUNCTION");
        ht_argv_add(&a, "LOAD");
        ht_argv_add(&a, "REPLACE");
        ht_argv_addn(&a, m->source, m->len);
    } else {
        ht_argv_add(&a, "EVAL");
        ht_argv_addn(&a, m->source, m->len);
        ht_argv_add(&a, "0");
    }
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (!r) {
        size_t used = strlen(s->err);
        snprintf(s->err + used, sizeof(s->err) - used, " (in migration %s)", m->name);
        return rc;
    }
    freeReplyObject(r);

    long long ignored;
    ht_argv_add(&a, "HSET");
    ht_argv_add(&a, HT_KEY_SCHEMA);
    ht_argv_add(&a, "version");
    ht_argv_addf(&a, "%d", m->version);
    ht_argv_add(&a, "applied_at");
    ht_argv_addf(&a, "%" PRId64, ht_now_ms());
    return call_int(s, &a, &ignored);
}

int ht_store_migrate(ht_store_t *s, int *from, int *to)
{
    int rc = ht_store_schema_version(s, from);
    if (rc < 0)
        return rc;
    *to = *from;
    for (size_t i = 0; i < ht_migrations_count; i++) {
        const ht_migration_t *m = &ht_migrations[i];
        if (m->version <= *from)
            continue;
        if ((rc = apply_migration(s, m)) < 0)
            return rc;
        *to = m->version;
    }
    return 0;
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

int ht_store_claim(ht_store_t *s, const ht_keys_t *k, const char *worker_id, ht_job_t *job)
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
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else {
        rc = job_from_reply(s, r, job);
        rc = rc < 0 ? rc : 1;
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
    if (!s->c) {
        int rc = connect_now(s);
        if (rc < 0) {
            ht_argv_clear(&a);
            return rc;
        }
    }
    /* The socket must outwait the server-side block. */
    redisSetTimeout(s->c, to_timeval(timeout_ms + s->timeout_ms));
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (s->c)
        redisSetTimeout(s->c, to_timeval(s->timeout_ms));
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

int ht_store_renew(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job)
{
    char jobkey[HT_KEY_MAX];
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_renew", 2, 0);
    add_held(&a, k, job, jobkey);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, job->id);
    ht_argv_addf(&a, "%" PRIu64, job->token);
    long long v = 0;
    int rc = call_int(s, &a, &v);
    if (rc < 0)
        return rc;
    return v == 2 ? HT_ECANCELED : held_result(v);
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

int ht_store_complete(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job, ht_outcome_t outcome,
                      const char *json, int retryable, long retry_delay_ms)
{
    return ht_store_complete_next(s, k, job, outcome, json, retryable, retry_delay_ms, NULL, NULL,
                                  NULL);
}

int ht_store_complete_next(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job,
                           ht_outcome_t outcome, const char *json, int retryable,
                           long retry_delay_ms, const char *worker_id, ht_job_t *next, int *got)
{
    static const char *const names[] = {"succeeded", "failed", "canceled"};
    char jobkey[HT_KEY_MAX];
    ht_argv_t a;
    if (got)
        *got = 0;
    /* With a next job wanted: 8 keys, the claim's after ht_complete's 4
     * (migrations/0008_drain.lua). */
    ht_argv_fcall(&a, "ht_complete", next ? 8 : 4, 0);
    add_held(&a, k, job, jobkey);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->wait[job->priority]);
    ht_argv_add(&a, k->signal);
    if (next) {
        ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
        ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
        ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
        ht_argv_add(&a, k->fence);
    }
    ht_argv_add(&a, job->id);
    ht_argv_addf(&a, "%" PRIu64, job->token);
    ht_argv_add(&a, names[outcome]);
    ht_argv_add(&a, json ? json : (outcome == HT_OUTCOME_CANCELED ? "" : "null"));
    ht_argv_add(&a, retryable ? "1" : "0");
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%ld", retry_delay_ms > 0 ? retry_delay_ms : 0);
    if (next) {
        ht_argv_add(&a, k->job_prefix);
        ht_argv_add(&a, worker_id);
    }
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (!r)
        return rc;
    const redisReply *status = r;
    if (next) {
        /* {status or nil, the claimed job or nil} */
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            set_err(s, "%s", "redis: unexpected reply type (wanted an outcome and a job)");
            freeReplyObject(r);
            return HT_EPROTO;
        }
        status = r->element[0];
        if (r->element[1]->type != REDIS_REPLY_NIL) {
            int jrc = job_from_reply(s, r->element[1], next);
            if (jrc < 0) {
                freeReplyObject(r);
                return jrc;
            }
            *got = 1;
        }
    }
    rc = status->type == REDIS_REPLY_NIL ? HT_ESTALE : 0;
    freeReplyObject(r);
    return rc;
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

int ht_store_reap(ht_store_t *s, const ht_keys_t *k, int limit)
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
    long long v = 0;
    int rc = call_int(s, &a, &v);
    return rc < 0 ? rc : (int)v;
}

int ht_store_promote(ht_store_t *s, const ht_keys_t *k, int limit, long long *next_due_ms)
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
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
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

int ht_store_cancel_listen(ht_store_t *s, const ht_keys_t *k)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "SUBSCRIBE");
    ht_argv_add(&a, k->cancel_channel);
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (!r)
        return rc;
    freeReplyObject(r);
    return 0;
}

int ht_store_cancel_next(ht_store_t *s, int timeout_ms, char id[HT_ID_LEN + 1], uint64_t *token)
{
    if (!s->c)
        return HT_EREDIS;
    /* Wait on the socket ourselves: a hiredis read timeout would leave the
     * context unusable, and a quiet channel is the normal case. */
    redisReply *r = NULL;
    if (redisReaderGetReply(s->c->reader, (void **)&r) != REDIS_OK)
        goto broken;
    if (!r) {
        struct pollfd pfd = {.fd = s->c->fd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout_ms);
        if (n == 0 || (n < 0 && errno == EINTR))
            return 0;
        if (n < 0 || redisBufferRead(s->c) != REDIS_OK ||
            redisReaderGetReply(s->c->reader, (void **)&r) != REDIS_OK)
            goto broken;
        if (!r)
            return 0; /* a partial message: the rest comes with the next call */
    }
    int rc = 0;
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

broken:
    set_err(s, "redis connection lost: %s", s->c->errstr[0] ? s->c->errstr : "read error");
    drop_connection(s);
    return HT_EREDIS;
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
    ht_argv_clear(&a);
    if (!r)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        rc = HT_ENOTFOUND;
    else
        rc = job_from_reply(s, r, job);
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
    ht_argv_clear(&a);
    if (!r)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 ||
        r->elements / 3 > (size_t)limit) {
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

int ht_store_check_eviction(ht_store_t *s, int allow)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "INFO");
    ht_argv_add(&a, "memory");
    int rc;
    redisReply *r = call(s, &a, &rc);
    ht_argv_clear(&a);
    if (!r && rc == HT_EREDIS)
        return rc;
    char policy[64] = "";
    if (r && r->type == REDIS_REPLY_STRING)
        info_field(r->str, "maxmemory_policy", policy, sizeof(policy));
    freeReplyObject(r);
    if (!policy[0]) {
        /* A managed Redis may forbid INFO: say so, but do not refuse. */
        ht_log(HT_LOG_WARN,
               "cannot read redis' maxmemory-policy; make sure it is noeviction, or jobs may "
               "be evicted and lost silently",
               "detail", ht_store_errstr(s), NULL);
        return 0;
    }
    if (strcmp(policy, "noeviction") == 0)
        return 0;
    if (allow) {
        ht_log(HT_LOG_WARN,
               "!!! REDIS MAY EVICT JOBS: maxmemory-policy is not noeviction; when Redis fills "
               "up, acknowledged jobs are deleted and lost silently !!!",
               "maxmemory_policy", policy, "fix", "CONFIG SET maxmemory-policy noeviction", NULL);
        return 0;
    }
    snprintf(s->err, sizeof(s->err),
             "redis' maxmemory-policy is %s: it may evict job keys and lose acknowledged jobs "
             "silently; set maxmemory-policy noeviction, or pass --allow-eviction "
             "(HANGTIGHT_ALLOW_EVICTION=1) to run anyway",
             policy);
    return HT_EINVAL;
}
