/* API keys and worker keys: who is asking, and for what.
 *
 * Two files of the same format, each a table of keys:
 *   - HANGTIGHT_API_KEYS_FILE: tenant keys; a request with one acts as that
 *     tenant (submit, read, cancel its own jobs);
 *   - HANGTIGHT_WORKER_KEYS_FILE: worker keys, for remote workers of the
 *     HTTP worker API (/v1/worker/...: claim, progress, complete, fail jobs
 *     of every tenant) and nothing else.
 * A tenant key never reaches the worker API and a worker key never reaches
 * anything else (403); the same key in both files is refused at load.
 * Each file holds lines
 *
 *     # comment
 *     acme:k3y-of-acme                   a key in clear text
 *     acme:sha256:<64 hex digits>        a key stored as its SHA-256
 *
 * (the name a tenant's or a worker's; blank lines and surrounding spaces
 * ignored; a name may have several keys, which is how keys are rotated).
 * Every key is kept as its SHA-256; a presented key is hashed and compared
 * with every entry of a table in constant time (CRYPTO_memcmp over the
 * whole table), so neither the comparison nor the table's order tells an
 * attacker how close a guess was.
 *
 * Open mode: with no API keys file every tenant request is tenant
 * "default"; with no keys file at all the worker API is open too.  With
 * API keys but no worker keys, the worker API takes no key (401/403).
 *
 * The tables in force are swapped atomically by ht_auth_reload() (SIGHUP);
 * tables are never freed before ht_auth_shutdown(), so a request thread can
 * keep using the one it loaded without locks or reference counts (reloads
 * are rare and a table is small). */
#ifndef HT_API_AUTH_H
#define HT_API_AUTH_H

#include <h2o.h>
#include <stddef.h>

#include "api/tenants.h"

typedef struct ht_auth ht_auth_t;

/* What a key is for: its table. */
typedef enum {
    HT_ROLE_TENANT, /* HANGTIGHT_API_KEYS_FILE */
    HT_ROLE_WORKER, /* HANGTIGHT_WORKER_KEYS_FILE */
    HT_ROLE__COUNT
} ht_role_t;

/* Parses a keys file's text.  Returns 0 with *out (free with
 * ht_auth_free), or HT_EINVAL with "line N: why" in err (nothing kept). */
int ht_auth_parse(const char *text, size_t len, ht_auth_t **out, char *err, size_t errlen);
void ht_auth_free(ht_auth_t *a);
size_t ht_auth_count(const ht_auth_t *a);

/* The name of `key` (a tenant's record; for a worker key, the record of
 * the worker key's name), or NULL.  Constant time in the key's content. */
ht_tenant_t *ht_auth_lookup(const ht_auth_t *a, const char *key, size_t keylen);

/* Process-wide: load `path` (NULL or "": run open, one warning) as the table
 * of tenant keys in force.  Returns 0 or HT_EINVAL or a negative errno with
 * err filled. */
int ht_auth_install(const char *path, char *err, size_t errlen);

/* The same for worker keys (NULL or "": none); call after
 * ht_auth_install().  HT_EINVAL also when a key is a tenant key too. */
int ht_auth_install_workers(const char *path, char *err, size_t errlen);

/* "htk_" and 64 hex digits (32 random bytes). */
#define HT_AUTH_GENERATED_KEY_LEN 68

/* Creates the keys file `path` (mode 0600) holding one new random key of
 * tenant "default", unless it exists.  Returns 1 with the key in `key` (to
 * show once), 0 when the file already existed (key untouched), or a
 * negative code with err filled. */
int ht_auth_generate(const char *path, char key[HT_AUTH_GENERATED_KEY_LEN + 1], char *err,
                     size_t errlen);

/* 1 when a keys file of some role is configured (SIGHUP has work). */
int ht_auth_configured(void);

/* Reads every configured file again; a file with an error (or a key that
 * the other file lists too) keeps its old table in force, the others are
 * reloaded all the same.  Each outcome is logged.  Returns 0 or the first
 * negative code. */
int ht_auth_reload(void);

/* Authenticates `req` for a route of `role`: 0 with *who set (the tenant;
 * for a worker, its key's name record, or NULL when the worker API is
 * open), or -1 after answering 401 problem+json with WWW-Authenticate:
 * Bearer (no key, or an unknown one), or 403 (a key of another role). */
int ht_auth_request_or_reply(h2o_req_t *req, ht_role_t role, ht_tenant_t **who);

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
