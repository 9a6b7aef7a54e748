/* What shared/blob.c shares with its backends (blob_dir.c, blob_s3.c) and
 * with the unit tests; no other caller includes it.  blob.c checks every
 * argument (keys, content types, digests, sizes) and keeps the running
 * SHA-256 and byte count of writers, so a backend sees only valid input
 * and moves bytes. */
#ifndef HT_BLOB_IMPL_H
#define HT_BLOB_IMPL_H

#include <openssl/evp.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "shared/blob.h"

#define HT__BLOB_ERR_MAX 512

typedef struct ht__blob_ops ht__blob_ops_t;

struct ht_blob {
    const ht__blob_ops_t *ops;
    void *be; /* the backend's state */
    char err[HT__BLOB_ERR_MAX];
};

struct ht_blob_writer {
    ht_blob_t *store; /* settings only: see "Threads" in blob.h */
    void *be;         /* the backend's state of this upload */
    char key[HT_BLOB_KEY_MAX];
    char content_type[HT_BLOB_CTYPE_MAX];
    char expect_sha256[HT_BLOB_SHA256_LEN + 1]; /* "" when none was given */
    uint64_t max_bytes;
    int64_t expect_bytes;
    uint64_t bytes;
    EVP_MD_CTX *sha;
    int failed;    /* the sticky error, 0 while all is well */
    int committed; /* 1 once visible: closing leaves it */
    char err[HT__BLOB_ERR_MAX];
};

struct ht__blob_ops {
    int (*open)(ht_blob_t *b, const char *spec, const ht_blob_settings_t *s, char *err,
                size_t errlen);
    void (*close)(ht_blob_t *b);
    int write_blocks;

    /* Writers: w's fields are set; write gets the bytes after blob.c
     * counted and hashed them; commit gets the final digest (already
     * checked against expect_sha256) and fills info (bytes, sha256 and
     * content type are filled by blob.c); abort undoes what open and write
     * did.  Errors go to w with ht__blob_wfail. */
    int (*writer_open)(ht_blob_writer_t *w);
    int (*writer_write)(ht_blob_writer_t *w, const void *buf, size_t len);
    int (*writer_commit)(ht_blob_writer_t *w, const char *sha256, ht_blob_info_t *info);
    void (*writer_abort)(ht_blob_writer_t *w);

    /* put_file's direct way, taken when put_fd_wants says so: fd is the
     * source (size bytes, SHA-256 sha256, already checked); otherwise
     * blob.c copies the file through a writer. */
    int (*put_fd_wants)(ht_blob_t *b, const struct stat *st, unsigned flags);
    int (*put_fd)(ht_blob_t *b, const char *key, int fd, const char *path, uint64_t size,
                  const char *sha256, const char *content_type, ht_blob_info_t *info);

    int (*tmp_path)(ht_blob_t *b, char *out, size_t outlen);
    int (*stat)(ht_blob_t *b, const char *key, ht_blob_info_t *info);
    int (*read)(ht_blob_t *b, const char *key, uint64_t off, uint64_t len, ht_blob_sink_fn sink,
                void *ud);
    int (*path)(ht_blob_t *b, const char *key, char *out, size_t outlen); /* NULL: none */
    int (*partial_key_valid)(const char *key);
    int (*del)(ht_blob_t *b, const char *key);
    int (*list)(ht_blob_t *b, const char *tenant, ht_blob_list_fn fn, void *ud);
};

extern const ht__blob_ops_t ht__blob_dir_ops;
extern const ht__blob_ops_t ht__blob_s3_ops;

/* snprintf into out[outlen] that says whether it fit: 0, or HT_EINVAL
 * when the text was cut (paths and object names are bounded by the key
 * rules, so a cut means a bug or an absurd root). */
int ht__blob_pathf(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets info->etag to the quoted SHA-256 when info has one: the same
 * strong validator on both backends (an S3 object's own ETag is an MD5, or
 * an MD5 of MD5s for multipart uploads, and changes with the part size). */
void ht__blob_etag(ht_blob_info_t *info);

/* Sets b's error words and returns code. */
int ht__blob_fail(ht_blob_t *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets w's error words and sticky error and returns code. */
int ht__blob_wfail(ht_blob_writer_t *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The code of a failed file system call's errno: HT_ENOSPACE for a full
 * disk or quota (ENOSPC, EDQUOT, EFBIG), else -e. */
int ht__blob_errno(int e);

/* 1 when s is a tenant or job id segment: 1..64 of [A-Za-z0-9_.-], not "."
 * or "..". */
int ht__blob_segment_valid(const char *s, size_t n);

/* 32 random lowercase hex digits and a NUL into out[33]. */
int ht__blob_random_hex(char out[33]);

/* Lowercase hex of a 32-byte digest into out[65]. */
void ht__blob_hex(const unsigned char *md, char out[HT_BLOB_SHA256_LEN + 1]);

/* The SHA-256 of fd's first size bytes (read with pread), in hex.  Returns
 * 0, HT_ENOMEM, or a negative errno. */
int ht__blob_sha256_fd(int fd, uint64_t size, char out[HT_BLOB_SHA256_LEN + 1]);

/* Writes all of buf to fd (EINTR and short writes handled).  Returns 0 or
 * -errno. */
int ht__blob_write_all(int fd, const void *buf, size_t len);

/* Creates a new file "<dir>/<32 hex>.<suffix>", writes its path into
 * out[outlen] and returns its fd (O_WRONLY, 0640), or a negative code. */
int ht__blob_create_tmp(const char *dir, const char *suffix, char *out, size_t outlen);

/* The text of the first <tag>...</tag> in [p, end), entities decoded,
 * into out[outlen] (blob_s3.c).  Returns the end of the closing tag, or
 * NULL when there is none. */
const char *ht__blob_xml_text(const char *p, const char *end, const char *tag, char *out,
                              size_t outlen);

#endif
