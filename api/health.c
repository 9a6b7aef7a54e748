/* Health endpoints: GET /healthz (the process answers) and GET /readyz
 * (this thread's Redis answers and the keyspace is at least the version
 * this binary needs), for load balancers and orchestrators. */
#include <jansson.h>

#include "shared/error.h"
#include "shared/migrations.h"

#include "api/http.h"
#include "api/router.h"

int ht_health_live(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)t;
    (void)args;
    json_t *doc = json_pack("{s:s}", "status", "ok");
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
    return 0;
}

static void on_schema(void *data, int err, long long version)
{
    h2o_req_t *req = data;
    int need = ht_schema_required();
    if (err == HT_EREDIS) {
        ht_http_problem(req, HT_P_UNAVAILABLE, "Redis is unreachable");
        return;
    }
    if (err) {
        ht_http_problem(req, HT_P_UNAVAILABLE, "cannot read the keyspace version: %s",
                        ht_strerror(err));
        return;
    }
    if (version < need) {
        ht_http_problem(req, HT_P_UNAVAILABLE,
                        "keyspace version %lld is older than the %d this binary needs: "
                        "run `hangtight migrate`",
                        version, need);
        return;
    }
    json_t *doc = json_pack("{s:s,s:I}", "status", "ready", "schema", (json_int_t)version);
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
}

int ht_health_ready(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)args;
    /* Not connected; or, on a cluster, the slot map not known or leaving
     * some slots without a master: requests would fail, so not ready. */
    if (!ht_aclient_ready(t->store)) {
        on_schema(req, HT_EREDIS, 0);
        return 0;
    }
    ht_astore_schema_version(t->store, req, on_schema, req);
    return 0;
}
