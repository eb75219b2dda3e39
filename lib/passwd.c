/*
 * passwd: scrypt password hashes through OpenSSL's EVP_KDF "SCRYPT".
 *
 * The parser of the encoded form is strict (exact field order, decimal numbers without leading
 * zeros, standard base64) and checks every bound before the KDF runs; derived keys and decoded
 * hashes are cleansed before they are freed.
 */
#include <garrison/passwd.h>

#include <garrison/util.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#define PASSWD_PREFIX "$scrypt$"
#define PASSWD_SALT_LEN 16
#define PASSWD_HASH_LEN 32
/* Lengths accepted from an encoded string. */
#define PASSWD_SALT_MIN 8
#define PASSWD_SALT_MAX 64
#define PASSWD_HASH_MIN 16
#define PASSWD_HASH_MAX 64

struct passwd_params {
	unsigned ln, r, p;
	unsigned char salt[PASSWD_SALT_MAX];
	size_t saltlen;
	unsigned char hash[PASSWD_HASH_MAX];
	size_t hashlen;
};

static int passwd_params_ok(unsigned ln, unsigned r, unsigned p)
{
	uint64_t n;

	if (ln < 1 || ln > PASSWD_LN_MAX || r < 1 || r > PASSWD_R_MAX || p < 1 || p > PASSWD_P_MAX)
		return 0;
	n = (uint64_t)1 << ln;
	return 128 * (uint64_t)r * n <= PASSWD_MEM_MAX && n * r * p <= PASSWD_WORK_MAX;
}

static int passwd_len_ok(const char *password, size_t *len)
{
	size_t n;

	if (password == NULL)
		return 0;
	n = strnlen(password, PASSWD_MAX + 1);
	if (n == 0 || n > PASSWD_MAX)
		return 0;
	*len = n;
	return 1;
}

/* scrypt(password, salt, 2^ln, r, p) into out. Parameters already checked. */
static int passwd_derive(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
			 unsigned ln, unsigned r, unsigned p, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	uint64_t n = (uint64_t)1 << ln;
	/* OpenSSL counts 128*r*(N+2) + 128*r*p bytes; the slack covers the terms beyond 128*r*N. */
	uint64_t maxmem = PASSWD_MEM_MAX + (1u << 20);
	uint32_t r32 = r, p32 = p;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, pwlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int r_ = -ENOMEM;

	ERR_set_mark();
	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx != NULL && EVP_KDF_derive(ctx, out, outlen, params) == 1)
		r_ = 0;
	ERR_pop_to_mark();
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r_;
}

/* A decimal in 1..max, no sign, no leading zero, after `prefix`; advances *s past it. */
static int passwd_parse_uint(const char **s, const char *prefix, unsigned max, unsigned *out)
{
	size_t plen = strlen(prefix);
	const char *p = *s;
	unsigned v = 0;
	int digits = 0;

	if (strncmp(p, prefix, plen) != 0)
		return -EINVAL;
	p += plen;
	if (*p == '0')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (++digits > 3)
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
		p++;
	}
	if (digits == 0 || v > max)
		return -EINVAL;
	*out = v;
	*s = p;
	return 0;
}

/* Decodes base64 text [s, s+len) into out (at most max bytes, at least min). */
static int passwd_b64(const char *s, size_t len, unsigned char *out, size_t min, size_t max,
		      size_t *outlen)
{
	char text[PASSWD_ENCODED_MAX + 1];
	unsigned char *raw = NULL;
	size_t n = 0;
	int r;

	if (len == 0 || len > PASSWD_ENCODED_MAX)
		return -EINVAL;
	memcpy(text, s, len);
	text[len] = '\0';
	r = util_b64_decode(text, &raw, &n);
	if (r < 0)
		return -EINVAL;
	if (n < min || n > max) {
		OPENSSL_cleanse(raw, n);
		free(raw);
		return -EINVAL;
	}
	memcpy(out, raw, n);
	OPENSSL_cleanse(raw, n);
	free(raw);
	*outlen = n;
	return 0;
}

static int passwd_parse(const char *enc, struct passwd_params *pp)
{
	const char *s = enc, *dollar;
	size_t n;

	if (enc == NULL)
		return -EINVAL;
	n = strnlen(enc, PASSWD_ENCODED_MAX + 1);
	if (n > PASSWD_ENCODED_MAX || strncmp(s, PASSWD_PREFIX, strlen(PASSWD_PREFIX)) != 0)
		return -EINVAL;
	s += strlen(PASSWD_PREFIX);
	if (passwd_parse_uint(&s, "ln=", PASSWD_LN_MAX, &pp->ln) < 0 ||
	    passwd_parse_uint(&s, ",r=", PASSWD_R_MAX, &pp->r) < 0 ||
	    passwd_parse_uint(&s, ",p=", PASSWD_P_MAX, &pp->p) < 0 || *s != '$')
		return -EINVAL;
	if (!passwd_params_ok(pp->ln, pp->r, pp->p))
		return -EINVAL;
	s++;
	dollar = strchr(s, '$');
	if (dollar == NULL)
		return -EINVAL;
	/* The hash runs to the end: a further '$' makes it invalid base64. */
	if (passwd_b64(s, (size_t)(dollar - s), pp->salt, PASSWD_SALT_MIN, PASSWD_SALT_MAX,
		       &pp->saltlen) < 0 ||
	    passwd_b64(dollar + 1, strlen(dollar + 1), pp->hash, PASSWD_HASH_MIN, PASSWD_HASH_MAX,
		       &pp->hashlen) < 0)
		return -EINVAL;
	return 0;
}

int passwd_hash_with(const char *password, unsigned ln, unsigned r, unsigned p, char **encoded)
{
	unsigned char salt[PASSWD_SALT_LEN], hash[PASSWD_HASH_LEN];
	char *salt64 = NULL, *hash64 = NULL, *out = NULL;
	size_t pwlen = 0, outlen;
	int ret;

	if (encoded == NULL)
		return -EINVAL;
	*encoded = NULL;
	if (!passwd_len_ok(password, &pwlen) || !passwd_params_ok(ln, r, p))
		return -EINVAL;
	ret = util_random(salt, sizeof(salt));
	if (ret < 0)
		return ret;
	ret = passwd_derive(password, pwlen, salt, sizeof(salt), ln, r, p, hash, sizeof(hash));
	if (ret < 0)
		goto fail;
	ret = -ENOMEM;
	salt64 = util_b64_encode(salt, sizeof(salt));
	hash64 = util_b64_encode(hash, sizeof(hash));
	if (salt64 == NULL || hash64 == NULL)
		goto fail;
	outlen = strlen(PASSWD_PREFIX) + 32 + strlen(salt64) + strlen(hash64);
	out = malloc(outlen);
	if (out == NULL)
		goto fail;
	ret = snprintf(out, outlen, PASSWD_PREFIX "ln=%u,r=%u,p=%u$%s$%s", ln, r, p, salt64, hash64);
	if (ret < 0 || (size_t)ret >= outlen) {
		ret = -ENOMEM;
		goto fail;
	}
	*encoded = out;
	out = NULL;
	ret = 0;
fail:
	OPENSSL_cleanse(hash, sizeof(hash));
	if (hash64 != NULL)
		OPENSSL_cleanse(hash64, strlen(hash64));
	free(hash64);
	free(salt64);
	free(out);
	return ret;
}

int passwd_hash(const char *password, char **encoded)
{
	return passwd_hash_with(password, PASSWD_LN, PASSWD_R, PASSWD_P, encoded);
}

int passwd_verify(const char *password, const char *encoded)
{
	struct passwd_params pp;
	unsigned char derived[PASSWD_HASH_MAX];
	size_t pwlen = 0;
	int r;

	r = passwd_parse(encoded, &pp);
	if (r < 0)
		goto fail;
	r = -EACCES;
	if (!passwd_len_ok(password, &pwlen))
		goto fail;
	r = passwd_derive(password, pwlen, pp.salt, pp.saltlen, pp.ln, pp.r, pp.p, derived,
			  pp.hashlen);
	if (r < 0)
		goto fail;
	r = util_ct_equal(derived, pp.hash, pp.hashlen) ? 0 : -EACCES;
fail:
	OPENSSL_cleanse(derived, sizeof(derived));
	OPENSSL_cleanse(&pp, sizeof(pp));
	return r;
}

int passwd_verify_dummy(const char *password)
{
	static const unsigned char salt[PASSWD_SALT_LEN] = { 0 };
	unsigned char out[PASSWD_HASH_LEN];
	size_t pwlen = 0;

	if (passwd_len_ok(password, &pwlen))
		(void)passwd_derive(password, pwlen, salt, sizeof(salt), PASSWD_LN, PASSWD_R,
				    PASSWD_P, out, sizeof(out));
	OPENSSL_cleanse(out, sizeof(out));
	return -EACCES;
}

int passwd_needs_rehash(const char *encoded)
{
	struct passwd_params pp;
	int r = passwd_parse(encoded, &pp);

	if (r == 0)
		r = pp.ln != PASSWD_LN || pp.r != PASSWD_R || pp.p != PASSWD_P ||
		    pp.saltlen != PASSWD_SALT_LEN || pp.hashlen != PASSWD_HASH_LEN;
	OPENSSL_cleanse(&pp, sizeof(pp));
	return r;
}
