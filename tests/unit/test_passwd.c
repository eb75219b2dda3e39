/*
 * test_passwd: scrypt hashes verify, mismatches and malformed or hostile stored strings are
 * told apart, and the construction is standard scrypt (RFC 7914 test vector).
 */
#include <garrison/passwd.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "t.h"

/* RFC 7914 section 12, third vector: scrypt("pleaseletmein", "SodiumChloride", N=16384, r=8,
 * p=1, dkLen=64). */
static const unsigned char rfc7914_dk[64] = {
	0x70, 0x23, 0xbd, 0xcb, 0x3a, 0xfd, 0x73, 0x48, 0x46, 0x1c, 0x06, 0xcd, 0x81, 0xfd, 0x38, 0xeb,
	0xfd, 0xa8, 0xfb, 0xba, 0x90, 0x4f, 0x8e, 0x3e, 0xa9, 0xb5, 0x43, 0xf6, 0x54, 0x5d, 0xa1, 0xf2,
	0xd5, 0x43, 0x29, 0x55, 0x61, 0x3f, 0x0f, 0xcf, 0x62, 0xd4, 0x97, 0x05, 0x24, 0x2a, 0x9a, 0xf9,
	0xe6, 0x1e, 0x85, 0xdc, 0x0d, 0x65, 0x1e, 0x40, 0xdf, 0xcf, 0x01, 0x7b, 0x45, 0x57, 0x58, 0x87,
};

/* "$scrypt$<params>$<b64 salt>$<b64 hash>" from raw parts, malloc()ed. */
static char *encode(const char *params, const void *salt, size_t saltlen, const void *hash,
		    size_t hashlen)
{
	char *s64 = util_b64_encode(salt, saltlen), *h64 = util_b64_encode(hash, hashlen), *out = NULL;
	size_t n;

	if (s64 && h64) {
		n = strlen(params) + strlen(s64) + strlen(h64) + 16;
		out = malloc(n);
		if (out)
			snprintf(out, n, "$scrypt$%s$%s$%s", params, s64, h64);
	}
	free(s64);
	free(h64);
	return out;
}

T_TEST(test_hash_and_verify)
{
	char *a = NULL, *b = NULL;

	T_CHECK_INT(passwd_hash("correct horse battery staple", &a), 0);
	T_CHECK_INT(passwd_hash("correct horse battery staple", &b), 0);
	T_CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		goto out;
	/* "$scrypt$ln=15,r=8,p=1$" + 24 base64 characters of salt + '$' + 44 of hash. */
	T_CHECK(strncmp(a, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
	T_CHECK_INT(strlen(a), 22 + 24 + 1 + 44);
	T_CHECK(a[22 + 24] == '$');
	T_CHECK(strcmp(a, b) != 0); /* fresh salt each time */
	T_CHECK_INT(passwd_verify("correct horse battery staple", a), 0);
	T_CHECK_INT(passwd_verify("correct horse battery staple", b), 0);
	T_CHECK_INT(passwd_verify("correct horse battery stapl", a), -EACCES);
	T_CHECK_INT(passwd_verify("Correct horse battery staple", a), -EACCES);
	T_CHECK_INT(passwd_verify("correct horse battery staple ", a), -EACCES);
	T_CHECK_INT(passwd_verify("", a), -EACCES);
	T_CHECK_INT(passwd_verify(NULL, a), -EACCES);
	/* A hash with another salt does not verify. */
	if (strlen(a) == strlen(b)) {
		memcpy(a + 22, b + 22, 24);
		T_CHECK_INT(passwd_verify("correct horse battery staple", a), -EACCES);
	}
	T_CHECK_INT(passwd_needs_rehash(b), 0);
	T_CHECK(ERR_peek_error() == 0);
out:
	free(a);
	free(b);
}

T_TEST(test_password_bounds)
{
	char *pw = malloc(PASSWD_MAX + 2), *enc = (char *)1;

	T_CHECK(pw != NULL);
	if (pw == NULL)
		return;
	T_CHECK_INT(passwd_hash("", &enc), -EINVAL);
	T_CHECK(enc == NULL);
	T_CHECK_INT(passwd_hash(NULL, &enc), -EINVAL);
	T_CHECK_INT(passwd_hash("x", NULL), -EINVAL);
	memset(pw, 'p', PASSWD_MAX + 1);
	pw[PASSWD_MAX + 1] = '\0';
	T_CHECK_INT(passwd_hash(pw, &enc), -EINVAL);
	/* The longest accepted password works, and one more byte never matches it. */
	pw[PASSWD_MAX] = '\0';
	T_CHECK_INT(passwd_hash_with(pw, 10, 8, 1, &enc), 0);
	T_CHECK_INT(passwd_verify(pw, enc), 0);
	pw[PASSWD_MAX] = 'p';
	T_CHECK_INT(passwd_verify(pw, enc), -EACCES);
	free(enc);
	free(pw);
}

T_TEST(test_rfc7914_vector)
{
	char *enc = encode("ln=14,r=8,p=1", "SodiumChloride", 14, rfc7914_dk, sizeof(rfc7914_dk));
	unsigned char wrong[64];

	T_CHECK(enc != NULL);
	T_CHECK_INT(passwd_verify("pleaseletmein", enc), 0);
	T_CHECK_INT(passwd_verify("pleaseletmeim", enc), -EACCES);
	T_CHECK_INT(passwd_needs_rehash(enc), 1);
	free(enc);
	/* Same salt and hash, other parameters: no match. */
	enc = encode("ln=14,r=4,p=2", "SodiumChloride", 14, rfc7914_dk, sizeof(rfc7914_dk));
	T_CHECK_INT(passwd_verify("pleaseletmein", enc), -EACCES);
	free(enc);
	/* Last byte of the hash flipped: no match. */
	memcpy(wrong, rfc7914_dk, sizeof(wrong));
	wrong[63] ^= 0x80;
	enc = encode("ln=14,r=8,p=1", "SodiumChloride", 14, wrong, sizeof(wrong));
	T_CHECK_INT(passwd_verify("pleaseletmein", enc), -EACCES);
	free(enc);
}

T_TEST(test_malformed)
{
	static const unsigned char salt[16] = { 1, 2, 3 }, hash[32] = { 4, 5, 6 };
	static const char *const bad[] = {
		"",
		"garbage",
		"$scrypt$",
		"$scrypt$ln=15,r=8,p=1$",
		"$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==",
		"$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$",
		"$scrypt$ln=15,r=8,p=1$$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$r=8,ln=15,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=015,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=+15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=-1,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=0,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=0,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=0$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=1 $AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=1$AQID!AAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$",
		"$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		/* salt of 4 bytes, hash of 8 bytes: too short */
		"$scrypt$ln=15,r=8,p=1$AQIDBA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAA=",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		"$SCRYPT$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	char *good = encode("ln=15,r=8,p=1", salt, sizeof(salt), hash, sizeof(hash));
	char *longs = malloc(PASSWD_ENCODED_MAX + 2);

	/* Control: the well-formed string these are variations of parses (and mismatches). */
	T_CHECK(good != NULL &&
		strcmp(good, "$scrypt$ln=15,r=8,p=1$AQIDAAAAAAAAAAAAAAAAAA==$"
			     "BAUGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0);
	T_CHECK_INT(passwd_verify("pw", good), -EACCES);
	T_CHECK_INT(passwd_needs_rehash(good), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = passwd_verify("pw", bad[i]);
		if (r != -EINVAL)
			fprintf(stderr, "  case %zu: %s -> %d\n", i, bad[i], r);
		T_CHECK_INT(r, -EINVAL);
		T_CHECK_INT(passwd_needs_rehash(bad[i]), -EINVAL);
	}
	T_CHECK_INT(passwd_verify("pw", NULL), -EINVAL);
	/* Over-long: refused before anything is decoded. */
	if (longs != NULL && good != NULL) {
		size_t n = strlen(good);
		memcpy(longs, good, n);
		memset(longs + n, 'A', PASSWD_ENCODED_MAX + 1 - n);
		longs[PASSWD_ENCODED_MAX + 1] = '\0';
		T_CHECK_INT(passwd_verify("pw", longs), -EINVAL);
	}
	free(longs);
	free(good);
	T_CHECK(ERR_peek_error() == 0);
}

T_TEST(test_hostile_parameters)
{
	static const unsigned char salt[16] = { 9 }, hash[32] = { 7 };
	/* Each would cost gigabytes or minutes if it reached the KDF: all refused as malformed. */
	static const char *const hostile[] = {
		"ln=21,r=8,p=1",	   /* ln above 20 */
		"ln=20,r=16,p=4",	   /* inside the per-field bounds: 2 GiB */
		"ln=20,r=1,p=1",	   /* 128 MiB */
		"ln=17,r=8,p=1",	   /* 128 MiB */
		"ln=16,r=16,p=1",	   /* 128 MiB */
		"ln=16,r=8,p=4",	   /* 64 MiB but twice the work bound */
		"ln=15,r=17,p=1",	   /* r above 16 */
		"ln=15,r=8,p=5",	   /* p above 4 */
		"ln=64,r=8,p=1",	   /* shift overflow */
		"ln=4294967311,r=8,p=1", /* 2^32 + 15: integer overflow */
		"ln=999,r=8,p=1",
	};
	char *enc = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		enc = encode(hostile[i], salt, sizeof(salt), hash, sizeof(hash));
		T_CHECK(enc != NULL);
		int r = passwd_verify("pw", enc);
		if (r != -EINVAL)
			fprintf(stderr, "  %s -> %d\n", hostile[i], r);
		T_CHECK_INT(r, -EINVAL);
		free(enc);
		T_CHECK_INT(passwd_hash_with("pw", 20, 16, 4, &enc), -EINVAL);
		T_CHECK(enc == NULL);
	}
	/* The edges that are allowed: 64 MiB of memory, and the work bound with p > 1. */
	T_CHECK_INT(passwd_hash_with("pw", 16, 8, 1, &enc), 0);
	T_CHECK_INT(passwd_verify("pw", enc), 0);
	T_CHECK_INT(passwd_verify("pW", enc), -EACCES);
	T_CHECK_INT(passwd_needs_rehash(enc), 1);
	free(enc);
	enc = NULL;
	T_CHECK_INT(passwd_hash_with("pw", 14, 8, 4, &enc), 0);
	T_CHECK_INT(passwd_verify("pw", enc), 0);
	free(enc);
	T_CHECK_INT(passwd_hash_with("pw", 0, 8, 1, &enc), -EINVAL);
}

T_TEST(test_dummy)
{
	T_CHECK_INT(passwd_verify_dummy("anything"), -EACCES);
	T_CHECK_INT(passwd_verify_dummy(NULL), -EACCES);
}

T_MAIN(T_CASE(test_hash_and_verify), T_CASE(test_password_bounds), T_CASE(test_rfc7914_vector),
       T_CASE(test_malformed), T_CASE(test_hostile_parameters), T_CASE(test_dummy))
