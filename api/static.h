/* Static files served by the api itself: the dashboard (GET /, GET
 * /dashboard/{file}: api/dashboard/) and the OpenAPI document (GET
 * /openapi.json: api/openapi.json).  They are compiled into the binary by
 * cmake/embed_static.cmake, so there is nothing to install and nothing read
 * from disk at run time.  Each has a strong ETag (If-None-Match gives 304)
 * and Cache-Control: no-cache (revalidate, so an upgraded api is seen at
 * once).  The dashboard pages carry a Content-Security-Policy that allows
 * only this origin's script, style and fetches (no inline script). */
#ifndef HT_API_STATIC_H
#define HT_API_STATIC_H

#include <stddef.h>

#include "api/router.h"

typedef struct {
    const char *name;         /* file name, e.g. "app.js" */
    const char *content_type; /* from the extension */
    const char *body;
    size_t len;
    const char *etag; /* strong, with its quotes: "\"0123456789abcdef\"" */
} ht_static_asset_t;

/* Generated (static_embed.c in the build dir). */
extern const ht_static_asset_t ht_static_assets[];
extern const size_t ht_static_assets_count;

/* The asset called `name` (len bytes), or NULL. */
const ht_static_asset_t *ht_static_find(const char *name, size_t len);

/* GET /: the dashboard page (index.html). */
int ht_static_index(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
/* GET /dashboard/{file}: its script, style sheet and images. */
int ht_static_file(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
/* GET /openapi.json: the OpenAPI 3.1 document of the API. */
int ht_static_openapi(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

#endif
