/*
 * passwd: slow salted password hashes for Console users, with scrypt (RFC 7914) from OpenSSL.
 *
 * Encoded form, stored as text:  $scrypt$ln=15,r=8,p=1$<base64 salt>$<base64 hash>
 * where N = 2^ln, base64 is standard with padding, the salt is 16 random bytes and the hash 32
 * bytes. New hashes use ln=15, r=8, p=1: 32 MiB and about 0.17 s per hash on one core of the
 * reference machine.
 *
 * A stored string is treated as untrusted: before any work, passwd_verify() bounds it to
 * PASSWD_ENCODED_MAX characters and its parameters to ln <= 20, r <= 16, p <= 4 and, jointly,
 * to PASSWD_MEM_MAX bytes of scrypt memory (128*r*N) and PASSWD_WORK_MAX of work (N*r*p), so a
 * corrupted or planted row cannot make the Console allocate gigabytes or spin for minutes.
 * All functions are thread-safe; each call may take a noticeable time: call them off the loop.
 */
#ifndef GARRISON_PASSWD_H
#define GARRISON_PASSWD_H

#include <stddef.h>

/* Longest password accepted, in bytes. */
#define PASSWD_MAX 1024
/* Longest encoded string accepted. */
#define PASSWD_ENCODED_MAX 256
/* Parameters of new hashes. */
#define PASSWD_LN 15
#define PASSWD_R 8
#define PASSWD_P 1
/* Bounds on parameters read from an encoded string. */
#define PASSWD_LN_MAX 20
#define PASSWD_R_MAX 16
#define PASSWD_P_MAX 4
#define PASSWD_MEM_MAX (64UL << 20) /* 128*r*N: twice the default */
#define PASSWD_WORK_MAX (1UL << 20) /* N*r*p: four times the default */

/* Hashes password (1..PASSWD_MAX bytes) with a fresh random salt and the default parameters.
 * *encoded is malloc()ed. 0, -EINVAL (bad password), -ENOMEM or -EIO (no randomness). */
int passwd_hash(const char *password, char **encoded);

/* As passwd_hash() with explicit parameters, within the bounds above (-EINVAL otherwise). For
 * tests and for raising the cost later; use passwd_hash() otherwise. */
int passwd_hash_with(const char *password, unsigned ln, unsigned r, unsigned p, char **encoded);

/* 0 when password matches encoded, -EACCES when it does not (an empty or over-long password never
 * matches), -EINVAL when encoded is malformed or its parameters are out of bounds (the caller
 * should log that the stored hash is corrupt), -ENOMEM. The hash comparison is constant-time. */
int passwd_verify(const char *password, const char *encoded);

/* Spends the same time as a verification against a default-parameter hash and returns -EACCES:
 * for a login naming an unknown user, so that response time does not reveal which users exist. */
int passwd_verify_dummy(const char *password);

/* 1 when encoded is well formed but not made with the current defaults (rehash it at the next
 * successful login), 0 when it is current, -EINVAL when malformed. */
int passwd_needs_rehash(const char *encoded);

#endif
