/* api/static.c and the table cmake/embed_static.cmake generates: every file
 * of api/dashboard/ and api/openapi.json is embedded byte for byte, with a
 * Content-Type and a strong ETag, and found by name. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/static.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static const char *source_dir(void)
{
    const char *d = getenv("HT_SOURCE_DIR");
    cr_assert(d, "HT_SOURCE_DIR is set by ctest");
    return d;
}

static void check_embedded(const char *path, const char *name)
{
    size_t len = 0;
    char *want = slurp(path, &len);
    cr_assert(want, "read %s", path);
    const ht_static_asset_t *a = ht_static_find(name, strlen(name));
    cr_assert(a, "%s is embedded", name);
    cr_assert_eq(a->len, len, "%s: %zu bytes embedded, %zu on disk (rebuild?)", name, a->len, len);
    cr_assert(memcmp(a->body, want, len) == 0, "%s: same bytes", name);
    cr_assert_eq(a->body[len], '\0', "NUL after the bytes");
    cr_assert(a->content_type && a->content_type[0], "%s has a Content-Type", name);
    cr_assert_eq(strlen(a->etag), 18, "%s: ETag %s", name, a->etag);
    cr_assert(a->etag[0] == '"' && a->etag[17] == '"' && strspn(a->etag + 1, "0123456789abcdef") == 16,
              "%s: strong ETag, got %s", name, a->etag);
    free(want);
}

Test(static, every_dashboard_file_is_embedded)
{
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/api/dashboard", source_dir());
    DIR *d = opendir(dir);
    cr_assert(d, "open %s", dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        check_embedded(path, e->d_name);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 3, "index.html, app.js, app.css at least");
    snprintf(path, sizeof path, "%s/api/openapi.json", source_dir());
    check_embedded(path, "openapi.json");
    cr_assert_eq(ht_static_assets_count, n + 1, "nothing else is embedded");
}

Test(static, content_types_and_lookup)
{
    static const struct {
        const char *name, *type;
    } want[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"app.css", "text/css; charset=utf-8"},
        {"openapi.json", "application/json"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ht_static_asset_t *a = ht_static_find(want[i].name, strlen(want[i].name));
        cr_assert(a, "%s", want[i].name);
        cr_assert_str_eq(a->content_type, want[i].type);
    }
    cr_assert_null(ht_static_find("app", 3), "a prefix is not a name");
    cr_assert_null(ht_static_find("app.jsx", 7));
    cr_assert_null(ht_static_find("", 0));
}
