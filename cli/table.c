/* The plain-text tables of `hangtight list` and `hangtight stats`.  Pure
 * formatting of documents the api returned: no I/O but the FILE given, so
 * the unit tests check it byte for byte. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Fixed widths: an id is always 36 characters and an RFC 3339 time with
 * milliseconds 24, so every page of `list --all` lines up without first
 * reading them all.  A longer type just pushes its row to the right. */
#define JOBS_ROW "%-36s  %-20s  %-9s  %-7s  %s\n"

/* A string member, or "-" when absent or not a string. */
static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

/* An integer member, 0 when absent. */
static long long int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

void ht_cli_jobs_header(FILE *out)
{
    fprintf(out, JOBS_ROW, "ID", "TYPE", "STATUS", "ATTEMPT", "CREATED");
}

void ht_cli_jobs_rows(FILE *out, const json_t *jobs)
{
    size_t i;
    const json_t *job;
    json_array_foreach(jobs, i, job)
    {
        char attempt[48];
        snprintf(attempt, sizeof attempt, "%lld/%lld", int_of(job, "attempt"),
                 int_of(job, "max_attempts"));
        fprintf(out, JOBS_ROW, str_of(job, "id"), str_of(job, "type"), str_of(job, "status"),
                attempt, str_of(job, "created_at"));
    }
}

/* The columns of a queue row: the depth per priority (in "queued"), then
 * the counts at the queue's top level. */
static const char *const depth_cols[] = {"high", "default", "low"};
static const char *const count_cols[] = {"scheduled", "running", "failed", "canceled", "succeeded"};
#define NDEPTH (sizeof depth_cols / sizeof depth_cols[0])
#define NCOUNT (sizeof count_cols / sizeof count_cols[0])

/* Column width: the header's, at least 7 so small numbers line up. */
static int width_of(const char *name)
{
    int w = (int)strlen(name);
    return w < 7 ? 7 : w;
}

static void queues_header(FILE *out)
{
    fprintf(out, "%-16s", "QUEUE");
    for (size_t c = 0; c < NDEPTH; c++)
        fprintf(out, "  %*s", width_of(depth_cols[c]), depth_cols[c]);
    for (size_t c = 0; c < NCOUNT; c++)
        fprintf(out, "  %*s", width_of(count_cols[c]), count_cols[c]);
    fputc('\n', out);
}

static void queue_row(FILE *out, const json_t *q)
{
    const json_t *queued = json_object_get(q, "queued");
    fprintf(out, "%-16s", str_of(q, "name"));
    for (size_t c = 0; c < NDEPTH; c++)
        fprintf(out, "  %*lld", width_of(depth_cols[c]), int_of(queued, depth_cols[c]));
    for (size_t c = 0; c < NCOUNT; c++)
        fprintf(out, "  %*lld", width_of(count_cols[c]), int_of(q, count_cols[c]));
    fputc('\n', out);
}

/* "default totals: submitted 12, succeeded 10": every number in "totals",
 * in the server's order (the set of totals may grow). */
static void queue_totals(FILE *out, const json_t *q)
{
    const json_t *totals = json_object_get(q, "totals");
    const char *key;
    const json_t *v;
    int first = 1;
    if (!json_is_object(totals) || json_object_size(totals) == 0)
        return;
    fprintf(out, "%s totals:", str_of(q, "name"));
    json_object_foreach((json_t *)totals, key, v)
    {
        if (!json_is_integer(v))
            continue;
        fprintf(out, "%s %s %lld", first ? "" : ",", key, json_integer_value(v));
        first = 0;
    }
    fputc('\n', out);
}

void ht_cli_queues_table(FILE *out, const json_t *doc)
{
    const json_t *queues = json_object_get(doc, "queues");
    size_t i;
    const json_t *q;
    queues_header(out);
    json_array_foreach(queues, i, q)
    {
        queue_row(out, q);
    }
    json_array_foreach(queues, i, q)
    {
        queue_totals(out, q);
    }
}
