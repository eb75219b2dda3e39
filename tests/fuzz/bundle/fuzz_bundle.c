/*
 * fuzz_bundle: bundle_decode() on arbitrary bytes, as the Defender gets them from the
 * INSTALL_BUNDLE environment variable or a Kubernetes Secret: the input becomes one NUL-terminated
 * string (an embedded NUL ends it early, as it would in the environment). This reaches the
 * whitespace trimming, util_b64_decode(), jansson with JSON_REJECT_DUPLICATES, the member checks,
 * and pki's PEM readers, CA and chain checks on whatever gets that far.
 *
 * A custom mutator works on the decoded JSON most of the time (see below).
 *
 * Besides "no crash, no leak", it checks the contract: on failure *out is cleared and *err is a
 * sentence; on success every member is set, and bundle_encode() of the result decodes again.
 *
 * Seeds: GARRISON_FUZZ_WRITE_SEEDS=DIR build/fuzz/bundle writes a fresh set into DIR and exits
 * (a valid bundle from a new CA, valid for PKI_DAYS_MAX days, and near misses of it: each breaks
 * one rule). tests/fuzz/bundle/corpus holds one such set plus hand-made garbage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <garrison/bundle.h>
#include <garrison/log.h>
#include <garrison/pki.h>
#include <garrison/util.h>

/* A broken contract: say which check and where, then abort() so that libFuzzer keeps the input. */
#define BROKEN(why)                                                                      \
	do {                                                                             \
		fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, why); \
		abort();                                                                 \
	} while (0)
#define BROKEN_IF(cond)             \
	do {                        \
		if (cond)           \
			BROKEN(#cond); \
	} while (0)

static void check_cleared(const struct bundle *b)
{
	/* a failed decode must leave *out cleared */
	BROKEN_IF(b->ca_cert_pem || b->bundle_id || b->enroll_cert_pem || b->enroll_key_pem ||
		  b->issued);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle b, again;
	const char *err = NULL;
	char *text, *enc = NULL;
	int r;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	r = bundle_decode(text, &b, &err);
	if (r < 0) {
		check_cleared(&b);
		BROKEN_IF(err == NULL || err[0] == '\0' || (r != -EINVAL && r != -ENOMEM));
	} else {
		BROKEN_IF(r != 0 || err != NULL);
		BROKEN_IF(!b.ca_cert_pem || !b.bundle_id || !b.enroll_cert_pem || !b.enroll_key_pem ||
			  !b.issued);
		/* what was accepted must survive a round trip */
		BROKEN_IF(bundle_encode(&b, &enc) != 0 || bundle_decode(enc, &again, &err) != 0 ||
			  strcmp(again.bundle_id, b.bundle_id) != 0);
		bundle_clear(&again);
		free(enc);
	}
	bundle_clear(&b);
	bundle_clear(&b); /* clearing twice is harmless */
	free(text);
	return 0;
}

/* ---- mutator ---- */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Base64 hides the JSON from libFuzzer's byte mutations: nearly every change breaks the encoding
 * and stops at the first check. So three times out of four, mutate the decoded JSON and encode it
 * again; otherwise (and for input that is not base64) mutate the text itself. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size_t rawlen = 0, cap = max_size / 4 * 3, n, out = 0;
	unsigned char *raw = NULL, *buf;
	char *text, *enc;

	if (seed % 4 == 0 || cap == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	text = malloc(size + 1);
	if (text == NULL)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(text, data, size);
	text[size] = '\0';
	n = strcspn(text, " \t\r\n");
	text[n] = '\0';
	if (util_b64_decode(text, &raw, &rawlen) < 0 || rawlen > cap) {
		free(text);
		free(raw);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	buf = malloc(cap);
	if (buf != NULL) {
		memcpy(buf, raw, rawlen);
		n = LLVMFuzzerMutate(buf, rawlen, cap);
		enc = util_b64_encode(buf, n);
		if (enc != NULL && strlen(enc) <= max_size) {
			out = strlen(enc);
			memcpy(data, enc, out);
		}
		free(enc);
		free(buf);
	}
	free(text);
	free(raw);
	return out ? out : LLVMFuzzerMutate(data, size, max_size);
}

/* ---- seed writer (GARRISON_FUZZ_WRITE_SEEDS) ---- */

static void seed_write(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Writes the bundle JSON obj (stolen) base64-encoded, as bundle_encode() would. */
static void seed_json(const char *dir, const char *name, json_t *obj)
{
	char *json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS), *b64;

	if (json == NULL || (b64 = util_b64_encode(json, strlen(json))) == NULL)
		exit(1);
	seed_write(dir, name, b64);
	free(b64);
	free(json);
	json_decref(obj);
}

static json_t *seed_obj(const struct bundle *b)
{
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", BUNDLE_VERSION, "caCert",
			 b->ca_cert_pem, "bundleID", b->bundle_id, "enrollCert", b->enroll_cert_pem,
			 "enrollKey", b->enroll_key_pem, "issued", b->issued);
}

static void seeds_write(const char *dir)
{
	EVP_PKEY *ca_key = NULL, *other_key = NULL, *leaf_key = NULL;
	X509 *ca = NULL, *other = NULL, *expired = NULL;
	struct bundle b, b2;
	char *enc = NULL, *pem = NULL, cn[128];
	const char *err = NULL;
	json_t *o;

	if (pki_ca_new("garrison-fuzz-ca", PKI_DAYS_MAX, &ca_key, &ca) != 0 ||
	    pki_ca_new("garrison-fuzz-other-ca", PKI_DAYS_MAX, &other_key, &other) != 0 ||
	    bundle_create(ca, ca_key, PKI_DAYS_MAX, &b) != 0 ||
	    bundle_create(ca, ca_key, PKI_DAYS_MAX, &b2) != 0 || bundle_encode(&b, &enc) != 0) {
		fprintf(stderr, "cannot make a bundle\n");
		exit(1);
	}
	{
		struct bundle chk;
		if (bundle_decode(enc, &chk, &err) != 0) {
			fprintf(stderr, "the fresh bundle does not decode: %s\n", err);
			exit(1);
		}
		bundle_clear(&chk);
	}
	seed_write(dir, "valid", enc);
	{
		size_t n = strlen(enc) + 8;
		char *nl = malloc(n);
		if (nl == NULL)
			exit(1);
		snprintf(nl, n, "  %s\r\n", enc);
		seed_write(dir, "valid-whitespace", nl);
		free(nl);
	}

	o = seed_obj(&b);
	json_object_set_new(o, "v", json_integer(2));
	seed_json(dir, "near-version-2", o);
	o = seed_obj(&b);
	json_object_set_new(o, "v", json_string("1"));
	seed_json(dir, "near-version-string", o);
	o = seed_obj(&b);
	json_object_del(o, "enrollKey");
	seed_json(dir, "near-no-key", o);
	o = seed_obj(&b);
	json_object_set_new(o, "extra", json_pack("{s:[i,n,b]}", "x", 1, 1));
	seed_json(dir, "valid-unknown-member", o);
	o = seed_obj(&b);
	json_object_set_new(o, "bundleID", json_string("0123456789ABCDEF0123456789abcdef"));
	seed_json(dir, "near-id-uppercase", o);
	o = seed_obj(&b);
	json_object_set_new(o, "bundleID", json_string(b2.bundle_id));
	seed_json(dir, "near-id-other", o);
	o = seed_obj(&b);
	json_object_set_new(o, "issued", json_string("2026-02-30T25:61:61Z"));
	seed_json(dir, "near-issued-bad-date", o);
	o = seed_obj(&b);
	json_object_set_new(o, "enrollKey", json_string(b2.enroll_key_pem));
	seed_json(dir, "near-key-mismatch", o);
	o = seed_obj(&b);
	json_object_set_new(o, "caCert", json_string(b.enroll_cert_pem));
	seed_json(dir, "near-ca-is-leaf", o);
	o = seed_obj(&b);
	pki_cert_to_pem(other, &pem);
	json_object_set_new(o, "caCert", json_string(pem));
	free(pem);
	seed_json(dir, "near-other-ca", o);

	/* an enrollment certificate whose one day of validity ended yesterday */
	snprintf(cn, sizeof(cn), "%s%s", BUNDLE_CN_PREFIX, b.bundle_id);
	if (pki_key_new(&leaf_key) != 0 ||
	    pki_issue(ca, ca_key, leaf_key, cn, NULL, 0, -1, PKI_USAGE_CLIENT, &expired) != 0)
		exit(1);
	o = seed_obj(&b);
	pki_cert_to_pem(expired, &pem);
	json_object_set_new(o, "enrollCert", json_string(pem));
	free(pem);
	pki_key_to_pem(leaf_key, &pem);
	json_object_set_new(o, "enrollKey", json_string(pem));
	free(pem);
	seed_json(dir, "near-expired", o);

	{
		/* a duplicate key: jansson's encoder cannot write one, so splice the text */
		char *json, *dup, *b64;
		size_t n;

		o = seed_obj(&b);
		json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (json == NULL)
			exit(1);
		n = strlen(json);
		dup = malloc(n + 16);
		if (dup == NULL)
			exit(1);
		snprintf(dup, n + 16, "%.*s,\"v\":1}", (int)(n - 1), json);
		b64 = util_b64_encode(dup, strlen(dup));
		seed_write(dir, "near-duplicate-v", b64);
		free(b64);
		free(dup);
		free(json);
		json_decref(o);
	}

	free(enc);
	bundle_clear(&b);
	bundle_clear(&b2);
	X509_free(ca);
	X509_free(other);
	X509_free(expired);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(leaf_key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("GARRISON_FUZZ_WRITE_SEEDS");

	log_init("fuzz_bundle", LOG_LVL_ERROR);
	if (dir != NULL && dir[0] != '\0') {
		seeds_write(dir);
		exit(0);
	}
	return 0;
}
