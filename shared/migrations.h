/* The Redis side of the keyspace, compiled in by CMake
 * (cmake/embed_keyspace.cmake): the function library shared/library.lua,
 * its schema version, and the numbered data steps of migrations/.
 * ht_store_migrate() (shared/store.h) applies them; docs/keyspace.md
 * describes the keyspace they make. */
#ifndef HT_MIGRATIONS_H
#define HT_MIGRATIONS_H

#include <stddef.h>

/* Where a data step runs: before the library is loaded (the old one, if
 * any, still serves calls) or after (every call reaches the new one). */
typedef enum { HT_STEP_BEFORE_LIBRARY, HT_STEP_AFTER_LIBRARY } ht_step_when_t;

/* One data step: a Lua script changing stored data from what keyspaces
 * recorded below `version` hold into what the library reads.  It is run on
 * every master with EVAL and no keys, first with ARGV[1] "0", then with the
 * cursor it returned, until it returns "0" (a SCAN cursor: each call walks
 * one batch of that master's keys).  Running it again changes nothing. */
typedef struct {
    int version;        /* the file's number: 0006_tenant_indexes.lua is 6 */
    const char *name;   /* "0006_tenant_indexes.lua" */
    const char *source; /* the file's text */
    size_t len;
    ht_step_when_t when; /* its line "-- runs: before-library|after-library" */
} ht_data_step_t;

typedef struct {
    int schema;          /* the library's SCHEMA */
    const char *library; /* the text of shared/library.lua */
    size_t library_len;
    const ht_data_step_t *steps; /* by version, ascending */
    size_t nsteps;
} ht_keyspace_t;

/* What `hangtight migrate` applies.  Only the CLI links it (the library's
 * text stays out of the api and the worker). */
extern const ht_keyspace_t ht_keyspace;

/* The keyspace version these binaries need: the library's SCHEMA. */
int ht_schema_required(void);

#endif
