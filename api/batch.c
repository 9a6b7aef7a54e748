/* POST /v1/jobs/batch: many submits in one request (docs/http-api.md).
 *
 *   {"jobs": [<submit body, optionally with "idempotency_key">, ...]}
 *   -> 200 {"jobs": [<job document> | {"error": <problem>}, ...]}
 *
 * The batch is not atomic: each item is checked and stored on its own, in
 * request order, and an item that is refused (its fields, an unknown type,
 * its idempotency key reused with another body) is answered with its
 * problem while the others are created.  The whole request fails only when
 * it cannot be read as a batch (400 malformed JSON, 413, 415, 422 for the
 * top level: no "jobs" array, 0 or more than HT_BATCH_MAX items) or when
 * Redis is down for every partition the items go to (503, nothing
 * stored).  When some partitions answered and others did not, the items of
 * those others carry a 503 problem each and the rest are created.
 *
 * Each item is checked by the one submit schema (shared/job_request.c) and
 * its problems point into the batch ("/jobs/3/type").  An item's
 * "idempotency_key" (Idempotency-Key is one per request) works as the
 * header does for one submit, scoped to the tenant, with the item's own
 * fields, in canonical form, as the body it names.
 *
 * Items go to partitions as single submits do (by the key's hash when an
 * item has one, round-robin otherwise); the items of one partition are
 * stored by one call of ht_submit_many, so a batch costs one Redis round
 * trip per partition it touches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"
#include "shared/schedule.h"

#include "api/http.h"
#include "api/idem.h"
#include "api/parts.h"
#include "api/router.h"

#define HT_BATCH_MAX      1000
#define MAX_PAYLOAD_DEPTH 32

typedef enum {
    ITEM_READY,   /* checked, to be stored */
    ITEM_STORED,  /* created (or replayed: an earlier job of its key) */
    ITEM_REFUSED, /* problem set */
} item_state_t;

typedef struct batch batch_t;

typedef struct {
    batch_t *b;
    size_t index;
    item_state_t state;
    ht_problem_t problem;
    ht_job_request_t jr;
    char id[HT_ID_LEN + 1];
    char *payload_json, *metadata_json; /* malloc'd, freed once sent */
    ht_astore_submit_opts_t opts;
    char *idem_key; /* key name (HT_KEY_MAX, pool), NULL when none */
    char idem_hash[HT_IDEM_HASH_LEN + 1];
    const ht_keys_t *keys;
    unsigned part_index, part_n;
    /* Once stored: */
    uint64_t version;
    int64_t created_at;
    ht_job_status_t status;
    h2o_iovec_t replayed_doc; /* a replay: the earlier job's document (pool) */
} item_t;

/* The items of one partition, stored by one call. */
typedef struct {
    batch_t *b;
    const ht_keys_t *keys;
    size_t n;
    item_t **items;
} group_t;

struct batch {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant;
    size_t n;
    item_t *items; /* malloc'd */
    size_t pending;
    size_t groups, groups_down; /* calls made; calls that found Redis unavailable */
    int err;                    /* a failure that fails the whole request */
};

static void batch_dispose(void *p)
{
    batch_t *b = p;
    for (size_t i = 0; b->items && i < b->n; i++) {
        ht_problem_clear(&b->items[i].problem);
        ht_job_request_clear(&b->items[i].jr);
        free(b->items[i].payload_json);
        free(b->items[i].metadata_json);
    }
    free(b->items);
}

/* ---- per-item problems ----------------------------------------------------- */

static void refuse(item_t *it, const char *pointer, const char *code, const char *detail)
{
    it->state = ITEM_REFUSED;
    ht_problem_add_error(&it->problem, pointer, code, "%s", detail);
    ht_problem_set(&it->problem, HT_P_INVALID_FIELDS, "1 problem with this item");
}

static void refuse_kind(item_t *it, ht_problem_kind_t kind, const char *detail)
{
    it->state = ITEM_REFUSED;
    ht_problem_set(&it->problem, kind, "%s", detail);
}

/* A refusal of ht_submit for one item: the Redis error's first word says
 * what it was. */
static void refuse_stored(item_t *it, int err, const char *refusal)
{
    char ptr[48];
    snprintf(ptr, sizeof(ptr), "/jobs/%zu/idempotency_key", it->index);
    if (err == HT_EEXIST) {
        refuse(it, ptr, "idempotency_key_reused",
               "this idempotency_key was used with another job: send the same fields, or a "
               "new key");
        return;
    }
    if (err == HT_EREDIS) {
        refuse_kind(it, HT_P_UNAVAILABLE, "the store is unavailable; this item was not stored");
        return;
    }
    if (err == HT_ELIMIT) {
        refuse_kind(it, HT_P_OVER_CAP,
                    "max_queued: the tenant has its share of the cap of jobs waiting in this "
                    "item's partition; this item was not stored");
        return;
    }
    ht_log(HT_LOG_ERROR, "batch item refused by the store", "detail",
           refusal ? refusal : ht_strerror(err), NULL);
    refuse_kind(it, HT_P_INTERNAL, "the store refused this item");
}

/* ---- the answer ------------------------------------------------------------ */

/* The document of a job just created, from what was sent and what Redis
 * answered (borrowed strings: never ht_job_clear()ed). */
static void created_job(const batch_t *b, const item_t *it, ht_job_t *job)
{
    ht_job_request_start_job(&it->jr, job);
    memcpy(job->id, it->id, sizeof(job->id));
    job->queue = (char *)it->keys->queue;
    job->tenant = (char *)b->tenant;
    job->status = it->status;
    job->run_at = it->status == HT_JOB_SCHEDULED ? it->opts.run_at_ms : 0;
    job->metadata = it->metadata_json;
    job->created_at = it->created_at;
    job->version = it->version;
}

static void send_answer(batch_t *b)
{
    h2o_req_t *req = b->req;
    if (b->err) {
        ht_http_store_problem(req, b->err);
        return;
    }
    if (b->groups > 0 && b->groups_down == b->groups) {
        ht_http_problem(req, HT_P_UNAVAILABLE, "the store is unavailable; no job was stored");
        return;
    }
    size_t created = 0, refused = 0;
    ht_buf_t out;
    ht_http_buf_init(req, &out);
    ht_buf_puts(&out, "{\"jobs\":[");
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        if (i > 0)
            ht_buf_putc(&out, ',');
        if (it->state == ITEM_STORED && it->replayed_doc.base) {
            ht_buf_append(&out, it->replayed_doc.base, it->replayed_doc.len);
            created++;
        } else if (it->state == ITEM_STORED) {
            ht_job_t job;
            created_job(b, it, &job);
            ht_job_doc_append(&out, &job);
            created++;
        } else {
            json_t *p = ht_problem_to_json(&it->problem);
            char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
            json_decref(p);
            ht_buf_puts(&out, "{\"error\":");
            if (text)
                ht_buf_puts(&out, text);
            else
                ht_buf_fail(&out);
            ht_buf_putc(&out, '}');
            free(text);
            refused++;
        }
    }
    ht_buf_puts(&out, "]}");
    char counts[64];
    snprintf(counts, sizeof(counts), "%zu created, %zu refused", created, refused);
    ht_log(HT_LOG_DEBUG, "batch submitted", "jobs", counts, NULL);
    ht_http_add_header(req, "cache-control", "no-store");
    ht_http_send_json_buf(req, 200, &out);
}

static void settle(batch_t *b)
{
    if (--b->pending == 0)
        send_answer(b);
}

/* ---- storing ---------------------------------------------------------------- */

static void on_replayed_job(void *data, int err, const ht_job_t *job)
{
    item_t *it = data;
    if (err == HT_ENOTFOUND) {
        refuse_kind(it, HT_P_CONFLICT,
                    "the job of this idempotency_key has just expired; send the item again");
    } else if (err) {
        refuse_stored(it, err, NULL);
    } else {
        ht_buf_t doc;
        ht_http_buf_init(it->b->req, &doc);
        if (ht_job_doc_append(&doc, job) < 0) {
            refuse_kind(it, HT_P_INTERNAL, "out of memory");
        } else {
            it->replayed_doc = h2o_iovec_init(doc.data, doc.len);
            it->state = ITEM_STORED;
        }
    }
    settle(it->b);
}

static void on_group_stored(void *data, int err, size_t n, const ht_astore_submit_outcome_t *out)
{
    group_t *g = data;
    batch_t *b = g->b;
    if (!err && n != g->n)
        err = HT_EPROTO;
    if (err == HT_EREDIS)
        b->groups_down++;
    for (size_t i = 0; i < g->n; i++) {
        item_t *it = g->items[i];
        free(it->payload_json); /* sent: the documents need no payload */
        it->payload_json = NULL;
        if (err) {
            refuse_stored(it, err, NULL);
        } else if (out[i].err) {
            refuse_stored(it, out[i].err, out[i].refusal);
        } else if (out[i].res.replayed) {
            /* The key's first job, as it is now (the key lives as long as
             * its job). */
            snprintf(it->id, sizeof(it->id), "%s", out[i].res.id);
            ht_keys_t scratch;
            b->pending++;
            ht_astore_get(b->t->store, b->req, ht_api_keys_of(b->t, it->id, &scratch), it->id,
                          on_replayed_job, it);
        } else {
            it->state = ITEM_STORED;
            it->version = out[i].res.version;
            it->created_at = out[i].res.created_at;
            it->status = out[i].res.status;
            it->jr.priority = out[i].res.priority; /* the tenant's max_priority applied */
        }
    }
    settle(b);
}

/* Sends each partition's items in one call. */
static void store_items(batch_t *b)
{
    h2o_req_t *req = b->req;
    group_t *groups = h2o_mem_alloc_pool(&req->pool, (b->n ? b->n : 1) * sizeof(*groups));
    size_t ng = 0;
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        if (it->state != ITEM_READY)
            continue;
        size_t g = 0;
        while (g < ng && groups[g].keys != it->keys)
            g++;
        if (g == ng) {
            groups[ng] = (group_t){b, it->keys, 0, NULL};
            groups[ng].items = h2o_mem_alloc_pool(&req->pool, b->n * sizeof(item_t *));
            ng++;
        }
        groups[g].items[groups[g].n++] = it;
    }
    b->pending = ng + 1; /* +1 until every call is sent */
    b->groups = ng;
    for (size_t g = 0; g < ng; g++) {
        ht_astore_submit_item_t *calls =
            h2o_mem_alloc_pool(&req->pool, groups[g].n * sizeof(*calls));
        for (size_t i = 0; i < groups[g].n; i++) {
            item_t *it = groups[g].items[i];
            calls[i] = (ht_astore_submit_item_t){it->id, &it->jr, it->payload_json,
                                                 it->metadata_json, it->opts};
        }
        ht_astore_submit_many(b->t->store, req, groups[g].keys, b->tenant, groups[g].n, calls,
                              on_group_stored, &groups[g]);
    }
    settle(b);
}

/* Partition, id and encoded fields of each checked item. */
static void prepare_items(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        if (it->state != ITEM_READY)
            continue;
        int rc = ht_id_new_in(it->id, it->part_index, it->part_n);
        it->payload_json = ht_json_dumps_compact(it->jr.payload);
        if (it->jr.metadata)
            it->metadata_json = ht_json_dumps_compact(it->jr.metadata);
        if (rc < 0 || !it->payload_json || (it->jr.metadata && !it->metadata_json)) {
            refuse_kind(it, HT_P_INTERNAL, rc < 0 ? "cannot make a job id" : "out of memory");
            continue;
        }
        ht_jobs_submit_opts(b->t, &it->jr, &it->opts);
    }
    store_items(b);
}

/* ---- checking --------------------------------------------------------------- */

/* One type the api's cache did not know, asked of Redis. */
typedef struct {
    batch_t *b;
    const char *type; /* an item's (lives in the batch) */
} type_check_t;

static void on_type_checked(void *data, int err, int served)
{
    type_check_t *tc = data;
    batch_t *b = tc->b;
    if (err && !b->err)
        b->err = err;
    for (size_t i = 0; !err && !served && i < b->n; i++) {
        item_t *it = &b->items[i];
        if (it->state == ITEM_READY && strcmp(it->jr.type, tc->type) == 0) {
            char ptr[40], detail[160];
            snprintf(ptr, sizeof(ptr), "/jobs/%zu/type", i);
            snprintf(detail, sizeof(detail), HT_TYPES_UNSERVED, tc->type);
            refuse(it, ptr, "unknown_type", detail);
        }
    }
    if (--b->pending > 0)
        return;
    if (b->err)
        send_answer(b);
    else
        prepare_items(b);
}

/* Asks Redis about the types not in the api's cache, once each. */
static void check_types(batch_t *b)
{
    b->pending = 1; /* until every check is sent */
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        if (it->state != ITEM_READY || ht_types_known(b->t->types, it->jr.type))
            continue;
        size_t j = 0;
        while (j < i &&
               !(b->items[j].state == ITEM_READY && strcmp(b->items[j].jr.type, it->jr.type) == 0))
            j++;
        if (j < i)
            continue; /* asked already */
        type_check_t *tc = h2o_mem_alloc_pool(&b->req->pool, sizeof(*tc));
        tc->b = b;
        tc->type = it->jr.type;
        b->pending++;
        ht_types_check(b->t->types, b->req, it->jr.type, on_type_checked, tc);
    }
    on_type_checked(&(type_check_t){b, ""}, 0, 1);
}

/* An item's idempotency_key: 1 to HT_IDEM_KEY_MAX printable ASCII
 * characters (spaces included). */
static int idem_key_valid(const char *s, size_t len)
{
    if (len < 1 || len > HT_IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* Checks item i (`v`) through the submit schema, with its key apart. */
static void check_item(batch_t *b, size_t i, json_t *v, const ht_job_limits_t *limits)
{
    item_t *it = &b->items[i];
    char prefix[32], ptr[64];
    snprintf(prefix, sizeof(prefix), "/jobs/%zu", i);
    it->b = b;
    it->index = i;
    it->state = ITEM_READY;
    if (!json_is_object(v)) {
        refuse(it, prefix, "invalid_type", "each job must be a job request object");
        return;
    }
    json_t *fields = json_copy(v); /* shallow: the key comes out, the rest is shared */
    json_t *key = json_object_get(fields, "idempotency_key");
    const char *keytext = NULL;
    size_t keylen = 0;
    if (key && !json_is_null(key)) {
        snprintf(ptr, sizeof(ptr), "%s/idempotency_key", prefix);
        if (!json_is_string(key) ||
            !idem_key_valid(json_string_value(key), json_string_length(key))) {
            refuse(it, ptr, "invalid_format",
                   "must be a string of 1 to 255 printable ASCII characters");
            json_decref(fields);
            return;
        }
        keytext = h2o_strdup(&b->req->pool, json_string_value(key), json_string_length(key)).base;
        keylen = json_string_length(key);
    }
    json_object_del(fields, "idempotency_key");
    char *text = json_dumps(fields, JSON_COMPACT);
    char *canonical = keytext ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(fields);
    if (!text || (keytext && !canonical)) {
        free(text);
        free(canonical);
        refuse_kind(it, HT_P_INTERNAL, "out of memory");
        return;
    }
    if (ht_job_request_parse(&it->jr, text, strlen(text), limits, &it->problem) < 0) {
        it->state = ITEM_REFUSED;
        ht_problem_prefix_pointers(&it->problem, prefix);
        free(text);
        free(canonical);
        return;
    }
    free(text);
    /* The partition, as for a single submit: by the key, else round-robin. */
    it->keys = ht_api_submit_keys(b->t, b->tenant, keytext, keylen, &it->part_index, &it->part_n);
    if (keytext) {
        it->idem_key = h2o_mem_alloc_pool(&b->req->pool, HT_KEY_MAX);
        if (ht_keys_idem(it->keys, b->tenant, keytext, keylen, it->idem_key) < 0 ||
            ht_idem_body_hash(canonical, strlen(canonical), it->idem_hash) < 0)
            refuse_kind(it, HT_P_INTERNAL, "cannot fingerprint this item");
        it->opts.idem_key = it->idem_key;
        it->opts.idem_hash = it->idem_hash;
    }
    free(canonical);
}

/* The top level: {"jobs": [...]} and nothing else.  Returns the array, or
 * NULL having answered. */
static json_t *jobs_of(h2o_req_t *req, json_t *doc)
{
    ht_problem_t p = {0};
    json_t *jobs = NULL;
    if (!json_is_object(doc)) {
        ht_problem_add_error(&p, "", "invalid_type",
                             "the body must be an object {\"jobs\": [...]}");
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(doc, k, v) {
            if (strcmp(k, "jobs") != 0)
                ht_problem_add_error(&p, "", "unknown_field", "'%.64s' is not a field of a batch",
                                     k);
        }
        jobs = json_object_get(doc, "jobs");
        if (!jobs || json_is_null(jobs))
            ht_problem_add_error(&p, "/jobs", "required", "is required: an array of jobs");
        else if (!json_is_array(jobs))
            ht_problem_add_error(&p, "/jobs", "invalid_type", "must be an array of jobs");
        else if (json_array_size(jobs) < 1 || json_array_size(jobs) > HT_BATCH_MAX)
            ht_problem_add_error(&p, "/jobs", "out_of_range", "must hold 1 to %d jobs, not %zu",
                                 HT_BATCH_MAX, json_array_size(jobs));
    }
    if (p.errors) {
        size_t n = json_array_size(p.errors);
        ht_problem_set(&p, HT_P_INVALID_FIELDS, "%zu problem%s with the request body", n,
                       n == 1 ? "" : "s");
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return NULL;
    }
    return jobs;
}

int ht_jobs_batch(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    json_t *doc = ht_http_json_body_or_reply(req, t->cfg->max_body_bytes);
    if (!doc)
        return -1;
    json_t *jobs = jobs_of(req, doc);
    if (!jobs) {
        json_decref(doc);
        return -1;
    }
    batch_t *b = h2o_mem_alloc_shared(&req->pool, sizeof(*b), batch_dispose);
    memset(b, 0, sizeof(*b));
    b->t = t;
    b->req = req;
    b->tenant = args->tenant;
    b->n = json_array_size(jobs);
    if (!(b->items = calloc(b->n, sizeof(*b->items)))) {
        json_decref(doc);
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    }
    ht_job_limits_t limits = {.max_payload_depth = MAX_PAYLOAD_DEPTH,
                              .allow_private_callbacks = t->cfg->webhook_allow_private};
    for (size_t i = 0; i < b->n; i++)
        check_item(b, i, json_array_get(jobs, i), &limits);
    json_decref(doc);
    check_types(b);
    return 0;
}
