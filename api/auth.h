/* API keys: who is asking, and for which tenant.
 *
 * HANGTIGHT_API_KEYS_FILE names a file of lines
 *
 *     # comment
 *     acme:k3y-of-acme                   a key in clear text
 *     acme:sha256:<64 hex digits>        a key stored as its SHA-256
 *
 * (blank lines and surrounding spaces ignored; a tenant may have several
 * keys, which is how keys are rotated).  Every key is kept as its SHA-256;
 * a presented key is hashed and compared with every entry in constant time
 * (CRYPTO_memcmp over the whole table), so neither the comparison nor the
 * table's order tells an attacker how close a guess was.
 *
 * HANGTIGHT_OPERATOR_KEYS_FILE names a file of the same lines for operator
 * keys ("ops:k3y..."; the name before the colon names the operator in the
 * logs): they reach what crosses tenants (pause and resume, caps, the
 * queue-wide views, /metrics) and nothing of a tenant's; tenant keys never
 * reach those (api/router.c checks each route's roles).
 * HANGTIGHT_WORKER_KEYS_FILE, the same lines again, names the keys of the
 * HTTP worker API (/v1/worker/...): they claim and settle the jobs of
 * every tenant and reach nothing else.  A key may be in one file only.
 *
 * With no file at all the api runs open: every request is tenant "default"
 * and an operator too.  With any file, each role needs a key of its own.
 *
 * The table in force is swapped atomically by ht_auth_reload() (SIGHUP);
 * tables are never freed before ht_auth_shutdown(), so a request thread can
 * keep using the one it loaded without locks or reference counts (reloads
 * are rare and a table is small). */
#ifndef HT_API_AUTH_H
#define HT_API_AUTH_H

#include <h2o.h>
#include <stddef.h>

#include "api/tenants.h"

typedef struct ht_auth ht_auth_t;

/* What a key lets its holder do: a bit each. */
typedef enum {
    HT_ROLE_TENANT = 1,   /* the tenant's own jobs, queues view, secrets */
    HT_ROLE_OPERATOR = 2, /* pause and resume, caps, queue-wide views, /metrics */
    HT_ROLE_WORKER = 4,   /* the HTTP worker API: claim and settle jobs of every tenant */
} ht_role_t;
#define HT_ROLE__COUNT 3
#define HT_ROLE_ALL    (HT_ROLE_TENANT | HT_ROLE_OPERATOR | HT_ROLE_WORKER)

/* Who sent a request: the roles of its key, and whose it is.  Records live
 * as long as the server. */
typedef struct {
    unsigned roles;      /* HT_ROLE_* bits: one for a key; every role when running open */
    ht_tenant_t *tenant; /* with HT_ROLE_TENANT: the key's tenant ("default" when open) */
    const char *name;    /* the key holder's name from its line (tenant, operator, worker) */
} ht_caller_t;

/* Parses a keys file's text.  Returns 0 with *out (free with
 * ht_auth_free), or HT_EINVAL with "line N: why" in err (nothing kept). */
int ht_auth_parse(const char *text, size_t len, ht_auth_t **out, char *err, size_t errlen);
void ht_auth_free(ht_auth_t *a);
size_t ht_auth_count(const ht_auth_t *a);

/* The tenant of `key`, or NULL.  Constant time in the key's content. */
ht_tenant_t *ht_auth_lookup(const ht_auth_t *a, const char *key, size_t keylen);

/* Process-wide: load the tenant keys file `path`, the operator keys file
 * `operator_path` and the worker keys file `worker_path` (each NULL or "":
 * none of that role; all three: run open, one warning) as the tables in
 * force.  Returns 0 or HT_EINVAL (a bad file, or a key in two) or a
 * negative errno with err filled. */
int ht_auth_install(const char *path, const char *operator_path, const char *worker_path, char *err,
                    size_t errlen);

/* 1 when no keys file is configured (open mode). */
int ht_auth_open(void);

/* 1 when `tenant` has a key in the API keys file in force (open mode:
 * only "default"), else 0: what an operator may set caps for. */
int ht_auth_tenant_known(const char *tenant);

/* "htk_" and 64 hex digits (32 random bytes). */
#define HT_AUTH_GENERATED_KEY_LEN 68

/* Creates the keys file `path` (mode 0600) holding one new random key of
 * tenant "default", unless it exists.  Returns 1 with the key in `key` (to
 * show once), 0 when the file already existed (key untouched), or a
 * negative code with err filled. */
int ht_auth_generate(const char *path, char key[HT_AUTH_GENERATED_KEY_LEN + 1], char *err,
                     size_t errlen);

/* Reads the files again; on any error the old tables stay in force.
 * Returns 0 or a negative code with err filled. */
int ht_auth_reload(char *err, size_t errlen);

/* Authenticates `req` against the tables in force: 0 with *who set, or -1
 * after answering 401 problem+json with WWW-Authenticate: Bearer. */
int ht_auth_request_or_reply(h2o_req_t *req, ht_caller_t *who);

/* The DNS rebinding guard of open mode on loopback (no keys file): a web
 * page on another site that rebinds its name to 127.0.0.1 sends its own
 * name as Host.  0 when the request's Host (HTTP/2 :authority) is
 * localhost, 127.0.0.1 or [::1] (any case, any port or none), or when it
 * has no Host at all (no browser sends that); else -1 after answering 403
 * problem+json. */
int ht_auth_host_or_reply(h2o_req_t *req);

/* Frees every table (at exit, after the server threads are gone). */
void ht_auth_shutdown(void);

#endif
