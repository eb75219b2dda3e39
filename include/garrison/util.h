/*
 * util: small helpers shared by every program: base64, random bytes, time formatting, files.
 * All functions that return allocated memory say so; the caller frees it with free().
 */
#ifndef GARRISON_UTIL_H
#define GARRISON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Standard base64 with padding. Returns a malloc()ed NUL-terminated string, or NULL. */
char *util_b64_encode(const void *data, size_t len);
/* Decodes standard base64 (whitespace not allowed). Returns 0 and a malloc()ed buffer
 * (NUL-terminated for convenience, *outlen excludes the NUL), or -EINVAL. */
int util_b64_decode(const char *s, unsigned char **out, size_t *outlen);

/* Fills buf with cryptographically strong random bytes. 0 or -EIO. */
int util_random(void *buf, size_t len);
/* A random lowercase hex string of 2*nbytes characters, malloc()ed. */
char *util_random_hex(size_t nbytes);

/* RFC 3339 UTC time with seconds ("2026-11-27T03:26:57Z") into buf (>= 32 bytes). */
void util_time_rfc3339(time_t t, char *buf, size_t len);
/* Milliseconds of CLOCK_MONOTONIC. */
int64_t util_now_ms(void);
/* Formats a sentence into err (len bytes, always terminated); err NULL or len 0: nothing. */
void util_set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads a whole file (at most max bytes). Returns 0 and a malloc()ed NUL-terminated buffer,
 * -ENOENT, -EFBIG when the file is larger than max, or another -errno. */
int util_read_file(const char *path, size_t max, char **out, size_t *outlen);
/* Writes data to path atomically (temp file + fsync + rename) with the given mode. 0 or -errno. */
int util_write_file(const char *path, const void *data, size_t len, int mode);
/* mkdir -p with the given mode for the directories it creates. 0 or -errno. */
int util_mkdirs(const char *path, int mode);

/* Constant-time comparison of two equal-length buffers; 1 when equal. */
int util_ct_equal(const void *a, const void *b, size_t len);

#endif
