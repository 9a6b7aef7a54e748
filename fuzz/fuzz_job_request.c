/* libFuzzer harness: the POST /v1/jobs body parser and validator
 * (shared/job_request.c).  Any byte string must give either a request that
 * satisfies the documented invariants, or a 400/422 problem that renders;
 * never a crash, a leak or undefined behaviour.  Built as a libFuzzer
 * binary (HT_FUZZ) and as a corpus replay test (fuzz/replay_main.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shared/job.h"
#include "shared/problem.h"

/* A broken invariant is a finding: abort so libFuzzer keeps the input. */
#define REQUIRE(cond) \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

static void check_accepted(const ht_job_request_t *r)
{
    REQUIRE(ht_job_type_valid(r->type));
    REQUIRE(r->payload != NULL);
    REQUIRE(r->metadata == NULL || json_is_object(r->metadata));
    REQUIRE(r->max_attempts >= 1 && r->max_attempts <= HT_MAX_ATTEMPTS_MAX);
    REQUIRE(r->timeout_s >= 1 && r->timeout_s <= HT_TIMEOUT_S_MAX);
    REQUIRE(r->ttl_s >= 1 && r->ttl_s <= HT_TTL_S_MAX);
    REQUIRE(r->delay_s >= 0 && r->delay_s <= HT_DELAY_S_MAX);
    REQUIRE(r->delay_s == 0 || r->run_at_ms == 0);
    REQUIRE(r->callback_url == NULL || strlen(r->callback_url) <= HT_CALLBACK_URL_MAX);
    /* What the api stores must serialise. */
    char *s = json_dumps(r->payload, JSON_ENCODE_ANY | JSON_COMPACT);
    REQUIRE(s != NULL);
    free(s);
}

static void check_refused(const ht_problem_t *p)
{
    REQUIRE(p->kind == HT_P_MALFORMED_JSON || p->kind == HT_P_INVALID_FIELDS);
    REQUIRE(p->kind != HT_P_INVALID_FIELDS || json_array_size(p->errors) > 0);
    json_t *doc = ht_problem_to_json(p);
    REQUIRE(doc != NULL);
    char *s = json_dumps(doc, JSON_COMPACT);
    REQUIRE(s != NULL);
    free(s);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Both settings of the private-callback switch; the default depth. */
    for (int allow_private = 0; allow_private <= 1; allow_private++) {
        ht_job_limits_t limits = {.max_payload_depth = 32,
                                  .allow_private_callbacks = allow_private};
        ht_job_request_t req;
        ht_problem_t problem;
        memset(&req, 0, sizeof(req));
        memset(&problem, 0, sizeof(problem));
        if (ht_job_request_parse(&req, (const char *)data, size, &limits, &problem) == 0)
            check_accepted(&req);
        else
            check_refused(&problem);
        ht_job_request_clear(&req);
        ht_problem_clear(&problem);
    }
    return 0;
}
