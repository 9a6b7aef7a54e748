/* A tenant's own webhook signing secrets (docs/webhooks.md "Your own
 * signing secret"; the records are shared/tenant_secret.h's):
 *
 *   POST   /v1/webhook-secrets        201 {"id", "secret", "created_at",
 *                                     "expires_at": null, "current": true}:
 *                                     a new current secret, its key shown
 *                                     only in this answer; the previous
 *                                     ones keep signing for the rotation
 *                                     window.  No body, or {}
 *   GET    /v1/webhook-secrets        200 {"secrets": [{"id", "created_at",
 *                                     "expires_at", "current"}]}, newest
 *                                     first: the live ones, never a key
 *   GET    /v1/webhook-secrets/{id}   200 one of them
 *   DELETE /v1/webhook-secrets/{id}   204; 409 for the current one (make a
 *                                     new one first); 404
 *
 * Every call reaches only the caller's tenant's record: the tenant names
 * the key, so an id of another tenant is 404 like one that never existed.
 * The key is sealed here with the process' HANGTIGHT_SECRETS_KEY before it
 * goes to Redis; without that setting POST answers 501 (listing and
 * revoking still work: they need no key). */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/tenant_secret.h"
#include "shared/webhook.h"

#include "api/http.h"
#include "api/router.h"

/* A body of POST is at most a small object. */
#define BODY_MAX 1024

/* One POST across its Redis call: in the request's pool, wiped when the
 * request goes (it holds the key in clear until the answer is sent). */
typedef struct {
    h2o_req_t *req;
    const char *tenant;
    char id[HT_TSECRET_ID_LEN + 1];
    char text[HT_TSECRET_TEXT_MAX]; /* "whsec_...": the answer's "secret" */
} create_t;

static void create_dispose(void *p)
{
    OPENSSL_cleanse(p, sizeof(create_t));
}

/* The time of `ms` as JSON: an RFC 3339 string, or null for 0. */
static json_t *time_or_null(int64_t ms)
{
    char buf[HT_TIME_BUFSZ];
    return ms ? json_string(ht_format_time(ms, buf)) : json_null();
}

/* What a listing shows of one secret: never its key. */
static json_t *secret_doc(const ht_tsecret_rec_t *r)
{
    return json_pack("{s:s, s:o, s:o, s:b}", "id", r->id, "created_at", time_or_null(r->created_ms),
                     "expires_at", time_or_null(r->expires_ms), "current", r->expires_ms == 0);
}

/* 404 for a secret id that is not one of the caller's live secrets. */
static int not_found(h2o_req_t *req)
{
    return ht_http_problem(req, HT_P_NOT_FOUND, "no webhook secret with this id");
}

/* ---- POST /v1/webhook-secrets -------------------------------------------- */

static void on_created(void *data, int err, long long created_ms)
{
    create_t *c = data;
    h2o_req_t *req = c->req;
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    if (created_ms == 0) {
        ht_http_problem(req, HT_P_CONFLICT,
                        "tenant '%s' has %d live webhook secrets, the most it may have: revoke a "
                        "previous one (DELETE /v1/webhook-secrets/{id}) or wait until one expires",
                        c->tenant, HT_WEBHOOK_SECRETS_MAX);
        return;
    }
    ht_log(HT_LOG_INFO, "webhook secret created", "tenant", c->tenant, "secret_id", c->id, NULL);
    char when[HT_TIME_BUFSZ];
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:n, s:b}", "id", c->id, "secret", c->text, "created_at",
                  ht_format_time(created_ms, when), "expires_at", "current", 1);
    ht_http_add_headerf(req, "location", "/v1/webhook-secrets/%s", c->id);
    ht_http_add_header(req, "cache-control", "no-store");
    ht_http_send_json(req, 201, doc);
    json_decref(doc);
}

/* The body, when there is one, must be an empty JSON object: the request
 * takes no fields.  Returns 0, or -1 having answered. */
static int empty_body_or_reply(h2o_req_t *req)
{
    if (req->entity.len == 0)
        return 0;
    json_t *body = ht_http_json_body_or_reply(req, BODY_MAX);
    if (!body)
        return -1;
    int empty = json_is_object(body) && json_object_size(body) == 0;
    json_decref(body);
    if (empty)
        return 0;
    ht_problem_t p = {0};
    ht_problem_add_error(&p, "", "invalid_value",
                         "must be {} or nothing: this request takes no fields");
    ht_http_send_problem(req, &p);
    ht_problem_clear(&p);
    return -1;
}

int ht_webhook_secrets_create(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    if (!t->cfg->secrets_keys)
        return ht_http_problem(req, HT_P_NOT_IMPLEMENTED,
                               "this server has no HANGTIGHT_SECRETS_KEY, so it cannot keep "
                               "per-tenant webhook secrets; deliveries are signed with the "
                               "operator's HANGTIGHT_WEBHOOK_SECRET");
    if (empty_body_or_reply(req) < 0)
        return -1;
    create_t *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), create_dispose);
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->tenant = args->tenant;
    unsigned char key[HT_TSECRET_KEY_LEN];
    char sealed[HT_TSECRET_SEALED_MAX];
    int rc = ht_tsecret_id_new(c->id);
    if (rc == 0)
        rc = ht_tsecret_key_new(key);
    if (rc == 0)
        rc = ht_tsecret_seal(t->cfg->secrets_keys, args->tenant, c->id, key, sealed);
    if (rc == 0)
        rc = ht_webhook_secret_format(key, sizeof key, c->text, sizeof c->text);
    OPENSSL_cleanse(key, sizeof key);
    if (rc < 0) {
        ht_log(HT_LOG_ERROR, "cannot make a webhook secret", "error", ht_strerror(rc), NULL);
        return ht_http_problem(req, HT_P_INTERNAL, "cannot make a webhook secret");
    }
    ht_astore_whsec_create(t->store, req, args->tenant, c->id, sealed,
                           t->cfg->webhook_rotation_s * 1000LL, HT_WEBHOOK_SECRETS_MAX, on_created,
                           c);
    return 0;
}

/* ---- GET /v1/webhook-secrets[/{id}] -------------------------------------- */

/* One GET: the id asked for, or none for the whole list. */
typedef struct {
    h2o_req_t *req;
    char id[HT_TSECRET_ID_LEN + 1]; /* "" for the list */
} read_t;

static void on_listed(void *data, int err, size_t n, const char *const *strs)
{
    read_t *r = data;
    h2o_req_t *req = r->req;
    ht_tsecret_rec_t recs[HT_TSECRET_LIVE_MAX];
    size_t count = 0;
    int64_t now;
    if (!err && ht_tsecret_parse_list(strs, n, &now, recs, &count) < 0) {
        ht_log(HT_LOG_ERROR, "unexpected answer of ht_whsec_list", NULL);
        err = HT_EPROTO;
    }
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    json_t *doc = NULL;
    if (!r->id[0]) {
        json_t *list = json_array();
        for (size_t i = 0; i < count; i++)
            json_array_append_new(list, secret_doc(&recs[i]));
        doc = json_pack("{s:o}", "secrets", list);
    }
    for (size_t i = 0; r->id[0] && i < count; i++)
        if (strcmp(recs[i].id, r->id) == 0)
            doc = secret_doc(&recs[i]);
    if (!doc) {
        not_found(req);
        return;
    }
    ht_http_add_header(req, "cache-control", "no-store");
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
}

static int read_secrets(ht_api_thread_t *t, h2o_req_t *req, const char *tenant, h2o_iovec_t id)
{
    read_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->req = req;
    if (id.base) {
        if (!ht_tsecret_id_valid(id.base, id.len))
            return not_found(req);
        memcpy(r->id, id.base, id.len);
    }
    ht_astore_whsec_list(t->store, req, tenant, on_listed, r);
    return 0;
}

int ht_webhook_secrets_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return read_secrets(t, req, args->tenant, h2o_iovec_init(NULL, 0));
}

int ht_webhook_secrets_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return read_secrets(t, req, args->tenant, args->id);
}

/* ---- DELETE /v1/webhook-secrets/{id} ------------------------------------- */

typedef struct {
    h2o_req_t *req;
    const char *tenant;
    char id[HT_TSECRET_ID_LEN + 1];
} revoke_t;

static void on_revoked(void *data, int err, const char *word)
{
    revoke_t *r = data;
    h2o_req_t *req = r->req;
    if (err == HT_ENOTFOUND) {
        not_found(req);
        return;
    }
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    if (strcmp(word, "current") == 0) {
        ht_http_problem(req, HT_P_CONFLICT,
                        "this is the current signing secret: make a new one first "
                        "(POST /v1/webhook-secrets), then revoke this one");
        return;
    }
    if (strcmp(word, "revoked") != 0) {
        ht_log(HT_LOG_ERROR, "unexpected answer of ht_whsec_revoke", "detail", word, NULL);
        ht_http_problem(req, HT_P_INTERNAL, "the store answered '%s'", word);
        return;
    }
    ht_log(HT_LOG_INFO, "webhook secret revoked", "tenant", r->tenant, "secret_id", r->id, NULL);
    ht_http_send_empty(req, 204);
}

int ht_webhook_secrets_revoke(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    if (!ht_tsecret_id_valid(args->id.base, args->id.len))
        return not_found(req);
    revoke_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->tenant = args->tenant;
    memcpy(r->id, args->id.base, args->id.len);
    ht_astore_whsec_revoke(t->store, req, args->tenant, r->id, on_revoked, r);
    return 0;
}
