/* libFuzzer harness: the exec handler's stdout parser (worker/exec_output.c).
 * The input is a child's stdout; its first byte picks the line limit and
 * how the stream is cut into reads (the parser must give the same answer
 * whatever the cuts), so partial lines and the too-large state are covered.
 * Built as a libFuzzer binary (HT_FUZZ) and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "worker/exec_output.h"

#define REQUIRE(cond) \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

typedef struct {
    ht_exec_output_state_t state;
    char *result; /* compact JSON of the result, or NULL */
    char *error;
    int retry;
    int percent; /* last progress seen, -1 for none */
} outcome_t;

/* Feeds `data` in pieces of `step` bytes (0: all at once). */
static void run(outcome_t *o, const uint8_t *data, size_t size, size_t max_line, size_t step)
{
    ht_exec_output_t *p = ht_exec_output_new(max_line);
    REQUIRE(p != NULL);
    o->percent = -1;
    size_t off = 0;
    while (off < size) {
        size_t n = step == 0 || size - off < step ? size - off : step;
        REQUIRE(ht_exec_output_feed(p, (const char *)data + off, n) == 0);
        off += n;
        int pct;
        const char *msg;
        if (ht_exec_output_take_progress(p, &pct, &msg)) {
            REQUIRE(pct >= 0 && pct <= 100);
            o->percent = pct;
        }
    }
    REQUIRE(ht_exec_output_finish(p) == 0);
    int pct;
    const char *msg;
    if (ht_exec_output_take_progress(p, &pct, &msg)) {
        REQUIRE(pct >= 0 && pct <= 100);
        o->percent = pct;
    }
    o->state = ht_exec_output_state(p);
    json_t *r = ht_exec_output_result(p);
    o->result = r ? json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *e = ht_exec_output_error(p, &o->retry);
    o->error = e ? strdup(e) : NULL;
    ht_exec_output_free(p);
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t knob = data[0];
    data++, size--;
    /* Small limits reach the too-large state with small inputs. */
    static const size_t limits[] = {0, 1, 16, 64, 256, 4096};
    size_t max_line = limits[knob % (sizeof(limits) / sizeof(limits[0]))];
    size_t step = (size_t)(knob >> 3); /* 0..31 */

    outcome_t whole, cut;
    run(&whole, data, size, max_line, 0);
    run(&cut, data, size, max_line, step);
    /* Cutting the stream differently must not change what it means. */
    REQUIRE(whole.state == cut.state);
    REQUIRE(same_str(whole.result, cut.result));
    REQUIRE(same_str(whole.error, cut.error));
    REQUIRE(!whole.error || whole.retry == cut.retry);
    free(whole.result), free(whole.error), free(cut.result), free(cut.error);
    return 0;
}
