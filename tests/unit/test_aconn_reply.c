/* api/aconn.c: replies built in one block per connection read as hiredis'
 * own (every type, nesting, a reply larger than the block, a reply split
 * across reads), and the block is reused from one reply to the next. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "api/aconn.h"

/* The same reply, strings NUL-terminated. */
static int same(const redisReply *a, const redisReply *b)
{
    if (a->type != b->type || a->integer != b->integer || a->len != b->len ||
        a->elements != b->elements)
        return 0;
    if ((a->str == NULL) != (b->str == NULL) || (a->str && memcmp(a->str, b->str, a->len) != 0))
        return 0;
    if (a->str && a->str[a->len] != '\0')
        return 0;
    for (size_t i = 0; i < a->elements; i++)
        if (!same(a->element[i], b->element[i]))
            return 0;
    return 1;
}

/* Feeds `resp` to a block reader and to hiredis' own (in pieces of `step`
 * bytes), compares every reply they give; returns how many. */
static size_t read_all(const char *resp, size_t len, size_t step)
{
    redisReader *mine = ht_aconn_reader_new(), *theirs = redisReaderCreate();
    cr_assert_not_null(mine);
    size_t n = 0;
    for (size_t at = 0; at < len; at += step) {
        size_t k = len - at < step ? len - at : step;
        cr_assert_eq(redisReaderFeed(mine, resp + at, k), REDIS_OK);
        cr_assert_eq(redisReaderFeed(theirs, resp + at, k), REDIS_OK);
        for (;;) {
            void *a = NULL, *b = NULL;
            cr_assert_eq(redisReaderGetReply(mine, &a), REDIS_OK);
            cr_assert_eq(redisReaderGetReply(theirs, &b), REDIS_OK);
            cr_assert_eq(a == NULL, b == NULL, "one reader has a reply, the other not");
            if (!a)
                break;
            cr_assert(same(a, b), "reply %zu differs", n);
            mine->fn->freeObject(a);
            freeReplyObject(b);
            n++;
        }
    }
    ht_aconn_reader_free(mine);
    redisReaderFree(theirs);
    return n;
}

static const char every_type[] = "+OK\r\n"
                                 "-ERR something\r\n"
                                 ":-42\r\n"
                                 "$5\r\nhello\r\n"
                                 "$0\r\n\r\n"
                                 "$-1\r\n"
                                 "*-1\r\n"
                                 "*0\r\n"
                                 "*3\r\n:1\r\n$3\r\nabc\r\n*2\r\n$-1\r\n*1\r\n+in\r\n"
                                 "*6\r\n$1\r\n1\r\n$13\r\n1733600000000\r\n$6\r\nqueued\r\n"
                                 "$36\r\n2f1c1a9e-0a7e-4a8e-9d4b-3c1f7e2a9b10\r\n:0\r\n$7\r\n"
                                 "default\r\n";

Test(aconn_reply, every_type_as_hiredis_builds_it)
{
    size_t len = sizeof(every_type) - 1;
    cr_expect_eq(read_all(every_type, len, len), 10);
}

Test(aconn_reply, split_across_reads)
{
    size_t len = sizeof(every_type) - 1;
    for (size_t step = 1; step < 9; step++)
        cr_expect_eq(read_all(every_type, len, step), 10, "step %zu", step);
}

/* A reply larger than the block (an array of 2,000 strings of 40 bytes),
 * then small ones that use the block again. */
Test(aconn_reply, larger_than_the_block)
{
    size_t cap = 400000, len = 0;
    char *resp = malloc(cap);
    cr_assert_not_null(resp);
    for (int round = 0; round < 3; round++) {
        len += (size_t)snprintf(resp + len, cap - len, "*2000\r\n");
        for (int i = 0; i < 2000; i++)
            len += (size_t)snprintf(resp + len, cap - len, "$40\r\n%040d\r\n", i + round);
        len += (size_t)snprintf(resp + len, cap - len, "*2\r\n:%d\r\n$2\r\nok\r\n", round);
    }
    cr_expect_eq(read_all(resp, len, len), 6);
    cr_expect_eq(read_all(resp, len, 4096), 6);
    free(resp);
}
