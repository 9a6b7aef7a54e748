/* shared/buf.c: appends, printf growth, direct writes after a reserve,
 * steal, sticky failure through the allocation hook, and arena buffers. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "shared/buf.h"
#include "shared/error.h"

Test(buf, appends_and_stays_a_c_string)
{
    ht_buf_t b = HT_BUF_INIT;
    cr_expect_eq(ht_buf_puts(&b, "id: "), 0);
    cr_expect_eq(ht_buf_append(&b, "5-0xyz", 3), 0);
    cr_expect_eq(ht_buf_putc(&b, '\n'), 0);
    cr_expect_eq(ht_buf_printf(&b, "%s=%d;", "n", 42), 0);
    cr_expect_eq(ht_buf_append(&b, NULL, 0), 0);
    cr_expect_str_eq(b.data, "id: 5-0\nn=42;");
    cr_expect_eq(b.len, strlen(b.data));
    cr_expect_not(ht_buf_failed(&b));
    ht_buf_free(&b);
    cr_expect_null(b.data);
    cr_expect_eq(b.len, 0);
}

Test(buf, grows_past_many_doublings)
{
    ht_buf_t b;
    ht_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(ht_buf_printf(&b, "%05d,", i), 0);
    cr_expect_eq(b.len, 60000);
    cr_expect(b.cap > b.len);
    cr_expect_eq(memcmp(b.data + 6 * 9999, "09999,", 6), 0);
    cr_expect_eq(b.data[b.len], '\0');
    /* One printf longer than the whole buffer so far. */
    char big[100001];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(ht_buf_printf(&b, "[%s]", big), 0);
    cr_expect_eq(b.len, 60000 + 100002);
    cr_expect_eq(b.data[60000], '[');
    cr_expect_eq(b.data[b.len - 1], ']');
    ht_buf_free(&b);
}

Test(buf, reserve_then_write_in_place)
{
    ht_buf_t b = HT_BUF_INIT;
    ht_buf_puts(&b, "ab");
    cr_assert_eq(ht_buf_reserve(&b, 1000), 0);
    cr_expect(b.cap >= b.len + 1000 + 1);
    char *before = b.data;
    memcpy(b.data + b.len, "cdef", 4);
    ht_buf_set_len(&b, b.len + 4);
    cr_expect_str_eq(b.data, "abcdef");
    cr_expect_eq(ht_buf_reserve(&b, 10), 0);
    cr_expect_eq(b.data, before, "room was there: no new block");
    ht_buf_set_len(&b, 3); /* shorten */
    cr_expect_str_eq(b.data, "abc");
    ht_buf_free(&b);
}

Test(buf, set_len_past_the_room_aborts, .signal = SIGABRT)
{
    ht_buf_t b = HT_BUF_INIT;
    ht_buf_reserve(&b, 8);
    ht_buf_set_len(&b, b.cap);
}

Test(buf, steal_hands_over_the_string)
{
    ht_buf_t b = HT_BUF_INIT;
    size_t len = 99;
    char *s = ht_buf_steal(&b, &len);
    cr_assert_not_null(s, "an empty buffer gives \"\"");
    cr_expect_str_eq(s, "");
    cr_expect_eq(len, 0);
    free(s);
    ht_buf_puts(&b, "hello");
    s = ht_buf_steal(&b, &len);
    cr_expect_str_eq(s, "hello");
    cr_expect_eq(len, 5);
    cr_expect_null(b.data, "the buffer is empty again");
    cr_expect_eq(b.len, 0);
    free(s);
    ht_buf_puts(&b, "again");
    cr_expect_str_eq(b.data, "again");
    ht_buf_reset(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_str_eq(b.data, "");
    ht_buf_free(&b);
}

/* The hook: fails every allocation from the n-th on. */
static int allocs_left;
static void *failing_realloc(void *p, size_t n)
{
    if (allocs_left-- <= 0)
        return NULL;
    return realloc(p, n);
}

static void restore_hook(void)
{
    ht_buf_set_realloc(NULL);
}

Test(buf, failure_is_sticky_and_keeps_the_bytes, .fini = restore_hook)
{
    ht_buf_set_realloc(failing_realloc);
    allocs_left = 1;
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_buf_puts(&b, "kept"), 0);
    char big[200];
    memset(big, 'y', sizeof(big));
    cr_expect_eq(ht_buf_append(&b, big, sizeof(big)), HT_ENOMEM);
    cr_expect(ht_buf_failed(&b));
    cr_expect_str_eq(b.data, "kept", "what it held stays");
    allocs_left = 100;
    cr_expect_eq(ht_buf_putc(&b, 'x'), HT_ENOMEM, "sticky, even with room");
    cr_expect_eq(ht_buf_printf(&b, "%d", 1), HT_ENOMEM);
    cr_expect_eq(ht_buf_reserve(&b, 1), HT_ENOMEM);
    cr_expect_str_eq(b.data, "kept");
    ht_buf_reset(&b);
    cr_expect_not(ht_buf_failed(&b), "a reset forgets the failure");
    cr_expect_eq(ht_buf_puts(&b, "new"), 0);
    allocs_left = 0;
    cr_expect_eq(ht_buf_append(&b, big, sizeof(big)), HT_ENOMEM);
    cr_expect_null(ht_buf_steal(&b, NULL), "a failed buffer has nothing to hand over");
    cr_expect_null(b.data, "and is freed");
}

Test(buf, a_writer_can_fail_it)
{
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_buf_puts(&b, "part"), 0);
    ht_buf_fail(&b);
    cr_expect(ht_buf_failed(&b));
    cr_expect_eq(ht_buf_puts(&b, "more"), HT_ENOMEM);
    cr_expect_str_eq(b.data, "part");
    cr_expect_null(ht_buf_steal(&b, NULL));
}

Test(buf, printf_that_cannot_grow, .fini = restore_hook)
{
    ht_buf_set_realloc(failing_realloc);
    allocs_left = 1;
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_buf_puts(&b, "ab"), 0);
    cr_expect_eq(ht_buf_printf(&b, "%0200d", 7), HT_ENOMEM);
    cr_expect_eq(b.len, 2);
    cr_expect_str_eq(b.data, "ab", "the cut-short text is not kept");
    ht_buf_free(&b);
}

/* An arena that records its blocks (freed together at the end). */
typedef struct {
    void *blocks[64];
    size_t sizes[64];
    int n;
    int fail;
} arena_t;

static void *arena_alloc(void *a, size_t size)
{
    arena_t *ar = a;
    if (ar->fail || ar->n == 64)
        return NULL;
    ar->sizes[ar->n] = size;
    return ar->blocks[ar->n++] = malloc(size);
}

static void arena_clear(arena_t *ar)
{
    for (int i = 0; i < ar->n; i++)
        free(ar->blocks[i]);
}

Test(buf, arena_reserve_first_is_one_block)
{
    arena_t ar = {0};
    ht_buf_t b;
    ht_buf_init_arena(&b, arena_alloc, &ar);
    cr_assert_eq(ht_buf_reserve(&b, 500), 0);
    cr_expect_eq(ar.n, 1);
    cr_expect_eq(ar.sizes[0], 501, "just what was asked, and the NUL");
    for (int i = 0; i < 50; i++)
        ht_buf_puts(&b, "0123456789");
    cr_expect_eq(ar.n, 1, "500 bytes fit the block");
    ht_buf_puts(&b, "more");
    cr_expect_eq(ar.n, 2, "then a bigger block");
    cr_expect_eq(b.len, 504);
    cr_expect_eq(memcmp(b.data, "0123456789", 10), 0, "copied over");
    cr_expect_str_eq(b.data + 500, "more");
    size_t len;
    char *s = ht_buf_steal(&b, &len);
    cr_expect_eq(s, ar.blocks[1], "the arena's block");
    cr_expect_eq(len, 504);
    ht_buf_free(&b); /* nothing of the heap to free */
    ar.fail = 1;
    cr_expect_eq(ht_buf_puts(&b, "x"), HT_ENOMEM);
    arena_clear(&ar);
}
