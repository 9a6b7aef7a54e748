/* shared/blob_s3.c without a server: the settings it accepts and refuses,
 * and the XML reading of S3's answers.  The requests themselves are tested
 * against a real S3-protocol server in tests/integration/test_blob_s3.sh. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/blob.h"
#include "shared/blob_impl.h"
#include "shared/error.h"

static int open_s3(const char *store, const char *endpoint, const char *region, char *err)
{
    ht_blob_settings_t s = {.store = store, .s3_endpoint = endpoint, .s3_region = region};
    ht_blob_t *b = NULL;
    int rc = ht_blob_open(&b, &s, err, 256);
    if (rc == 0) {
        cr_expect_eq(ht_blob_write_blocks(b), 1);
        char path[4096];
        cr_expect_eq(ht_blob_path(b, "a/b/input", path, sizeof(path)), HT_EINVAL,
                     "an s3 store has no local paths");
        ht_blob_close(b);
    }
    return rc;
}

Test(blob_s3, settings)
{
    char err[256];
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    cr_expect_eq(open_s3("s3://bucket", NULL, NULL, err), 0, "%s", err);
    cr_expect_eq(
        open_s3("s3://my.bucket-1/some/prefix/", "http://127.0.0.1:9000/", "eu-west-3", err), 0,
        "%s", err);
    const char *bad_stores[] = {"s3://",          "s3://ab",          "s3://Bucket",
                                "s3://bu_cket",   "s3://bucket/../x", "s3://bucket/a/./b",
                                "s3://bucket/a b"};
    for (size_t i = 0; i < sizeof(bad_stores) / sizeof(bad_stores[0]); i++)
        cr_expect_eq(open_s3(bad_stores[i], NULL, NULL, err), HT_EINVAL, "%s", bad_stores[i]);
    cr_expect_eq(open_s3("s3://bucket", "ftp://x", NULL, err), HT_EINVAL);
    cr_expect_eq(open_s3("s3://bucket", "http://x/?a", NULL, err), HT_EINVAL);
    cr_expect_eq(open_s3("s3://bucket", NULL, "EU WEST", err), HT_EINVAL);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    cr_expect_eq(open_s3("s3://bucket", NULL, NULL, err), HT_EINVAL);
    cr_expect(strstr(err, "AWS_SECRET_ACCESS_KEY"), "%s", err);
}

Test(blob_s3, xml_text)
{
    const char *xml = "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
                      "<Contents><Key>ht/a&amp;b/j/&lt;in&gt;&#39;&#x22;</Key><Size>12</Size>"
                      "</Contents><Contents><Key>second</Key></Contents>"
                      "<NextContinuationToken>1/ab+c==</NextContinuationToken></ListBucketResult>";
    const char *end = xml + strlen(xml);
    char out[64];
    cr_assert(ht__blob_xml_text(xml, end, "IsTruncated", out, sizeof(out)));
    cr_expect_str_eq(out, "true");
    const char *after = ht__blob_xml_text(xml, end, "Key", out, sizeof(out));
    cr_assert(after);
    cr_expect_str_eq(out, "ht/a&b/j/<in>'\"");
    cr_assert(ht__blob_xml_text(after, end, "Key", out, sizeof(out)));
    cr_expect_str_eq(out, "second");
    cr_assert(ht__blob_xml_text(xml, end, "NextContinuationToken", out, sizeof(out)));
    cr_expect_str_eq(out, "1/ab+c==");
    cr_expect_null(ht__blob_xml_text(xml, end, "UploadId", out, sizeof(out)));
    /* Cut to fit, never past the buffer; an unclosed element is none. */
    char tiny[4];
    cr_assert(ht__blob_xml_text(xml, end, "NextContinuationToken", tiny, sizeof(tiny)));
    cr_expect_str_eq(tiny, "1/a");
    const char *open = "<UploadId>abc";
    cr_expect_null(ht__blob_xml_text(open, open + strlen(open), "UploadId", out, sizeof(out)));
    /* The search stays inside [p, end). */
    cr_expect_null(ht__blob_xml_text(xml, xml + 40, "Key", out, sizeof(out)));
}
