/*
 * test_bundle: install bundles survive a round trip, and every way a bundle can be malformed or
 * inconsistent is refused with a reason and no output. Mutations start from a valid bundle, and
 * the unmutated bundle is decoded in the same test, so each refusal is caused by its mutation.
 */
#include <garrison/bundle.h>
#include <garrison/pki.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "t.h"

static EVP_PKEY *ca_key, *ca2_key;
static X509 *ca, *ca2;

static void teardown(void);

/* Two CAs with the same subject name, shared by the tests, freed at exit. */
static int setup(void)
{
	if (ca != NULL)
		return 0;
	atexit(teardown);
	if (pki_ca_new("Garrison CA", 365, &ca_key, &ca) < 0 ||
	    pki_ca_new("Garrison CA", 365, &ca2_key, &ca2) < 0)
		return -1;
	return 0;
}

static void teardown(void)
{
	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
}

static int cleared(const struct bundle *b)
{
	return !b->ca_cert_pem && !b->bundle_id && !b->enroll_cert_pem && !b->enroll_key_pem &&
	       !b->issued;
}

/* The JSON object of a valid bundle, to mutate. */
static json_t *bundle_json(const struct bundle *b)
{
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", 1, "caCert", b->ca_cert_pem,
			 "bundleID", b->bundle_id, "enrollCert", b->enroll_cert_pem, "enrollKey",
			 b->enroll_key_pem, "issued", b->issued);
}

static char *b64_of(const char *text)
{
	return util_b64_encode(text, strlen(text));
}

/* base64 of obj's JSON text; obj is released. */
static char *b64_json(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	char *s = text ? b64_of(text) : NULL;

	free(text);
	json_decref(obj);
	return s;
}

/* Decodes s, expecting refusal; returns the reason (or "(accepted)"). Frees s. */
static const char *refused(char *s)
{
	struct bundle out;
	const char *err = NULL;
	int r;

	memset(&out, 0xff, sizeof(out)); /* garbage the decoder must overwrite */
	r = bundle_decode(s, &out, &err);
	free(s);
	if (r == 0) {
		bundle_clear(&out);
		return "(accepted)";
	}
	T_CHECK_INT(r, -EINVAL);
	T_CHECK(cleared(&out));
	T_CHECK(err != NULL);
	return err ? err : "(no reason)";
}

T_TEST(test_round_trip)
{
	struct bundle b = { 0 }, d = { 0 };
	char *enc = NULL, *padded = NULL;
	const char *err = "unset";
	EVP_PKEY *k = NULL;
	X509 *c = NULL;

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	T_CHECK(b.bundle_id != NULL && strlen(b.bundle_id) == 32);
	T_CHECK_INT(bundle_encode(&b, &enc), 0);
	T_CHECK(enc != NULL && strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789+/=") == strlen(enc));
	T_CHECK_INT(bundle_decode(enc, &d, &err), 0);
	T_CHECK(err == NULL);
	T_CHECK_STR(d.bundle_id, b.bundle_id);
	T_CHECK_STR(d.ca_cert_pem, b.ca_cert_pem);
	T_CHECK_STR(d.enroll_cert_pem, b.enroll_cert_pem);
	T_CHECK_STR(d.enroll_key_pem, b.enroll_key_pem);
	T_CHECK_STR(d.issued, b.issued);
	/* What the Defender will do with it: a client identity under the Console CA. */
	T_CHECK_INT(pki_cert_from_pem(d.enroll_cert_pem, &c), 0);
	T_CHECK_INT(pki_key_from_pem(d.enroll_key_pem, &k), 0);
	T_CHECK_INT(pki_verify(ca, c, PKI_USAGE_CLIENT), 0);
	T_CHECK_INT(pki_key_matches_cert(k, c), 0);
	bundle_clear(&d);
	T_CHECK(cleared(&d));
	/* Surrounding whitespace (a newline from a Secret) is tolerated. */
	if (enc != NULL) {
		size_t n = strlen(enc);
		padded = malloc(n + 5);
		if (padded != NULL) {
			memcpy(padded, " \n", 2);
			memcpy(padded + 2, enc, n);
			memcpy(padded + 2 + n, "\r\n", 3);
			T_CHECK_INT(bundle_decode(padded, &d, &err), 0);
			bundle_clear(&d);
		}
	}
	bundle_clear(&b);
	bundle_clear(&b);
	bundle_clear(NULL);
	T_CHECK(ERR_peek_error() == 0);
	free(padded);
	free(enc);
	X509_free(c);
	EVP_PKEY_free(k);
}

T_TEST(test_bad_base64)
{
	struct bundle b = { 0 };
	char *enc = NULL;

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	T_CHECK_INT(bundle_encode(&b, &enc), 0);
	if (enc == NULL)
		goto out;
	T_CHECK_STR(refused(strdup("")), "bundle is empty");
	T_CHECK_STR(refused(strdup(" \n")), "bundle is empty");
	T_CHECK_STR(refused(strdup("!!!!")), "bundle is not valid base64");
	T_CHECK_STR(refused(strdup("abc")), "bundle is not valid base64");
	T_CHECK_STR(refused(strdup("ab=c")), "bundle is not valid base64");
	/* One bad character in the middle of a valid bundle. */
	char *bad = strdup(enc);
	if (bad != NULL)
		bad[strlen(bad) / 2] = '*';
	T_CHECK_STR(refused(bad), "bundle is not valid base64");
	/* Truncated: no longer a multiple of four, or cut JSON. */
	T_CHECK_STR(refused(strndup(enc, strlen(enc) - 1)), "bundle is not valid base64");
	T_CHECK_STR(refused(strndup(enc, strlen(enc) / 8 * 4)), "bundle is not valid JSON");
	/* Whitespace inside is not surrounding whitespace. */
	char *split = malloc(strlen(enc) + 2);
	if (split != NULL) {
		memcpy(split, enc, 8);
		split[8] = '\n';
		memcpy(split + 9, enc + 8, strlen(enc) - 7);
	}
	T_CHECK_STR(refused(split), "bundle is not valid base64");
	T_CHECK_STR(refused(NULL), "no bundle given");
	struct bundle out;
	const char *err = NULL;
	T_CHECK_INT(bundle_decode(enc, NULL, &err), -EINVAL);
	T_CHECK(err != NULL);
	T_CHECK_INT(bundle_decode(NULL, &out, NULL), -EINVAL);
out:
	free(enc);
	bundle_clear(&b);
}

T_TEST(test_not_json)
{
	T_CHECK_STR(refused(b64_of("hello, world")), "bundle is not valid JSON");
	T_CHECK_STR(refused(b64_of("{\"v\":1,")), "bundle is not valid JSON");
	T_CHECK_STR(refused(b64_of("{\"v\":1} trailing")), "bundle is not valid JSON");
	T_CHECK_STR(refused(b64_of("{\"v\":1,\"v\":1}")), "bundle is not valid JSON");
	T_CHECK_STR(refused(b64_of("[1,2,3]")), "bundle is not a JSON object");
	/* jansson decodes only an object or an array at the top level. */
	T_CHECK_STR(refused(b64_of("\"a string\"")), "bundle is not valid JSON");
	T_CHECK_STR(refused(b64_of("{}")), "member v missing or not an integer");
	/* Binary garbage, including NUL bytes. */
	static const unsigned char bin[] = { 0x7b, 0x00, 0xff, 0xfe, 0x22, 0x76, 0x22, 0x3a, 0x31 };
	T_CHECK_STR(refused(util_b64_encode(bin, sizeof(bin))), "bundle is not valid JSON");
}

T_TEST(test_wrong_types_and_missing)
{
	static const char *const members[] = { "caCert", "bundleID", "enrollCert", "enrollKey",
					       "issued" };
	struct bundle b = { 0 };
	char want[128];

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	if (b.bundle_id == NULL)
		return;
	/* Control: the same construction unmutated is accepted. */
	T_CHECK_STR(refused(b64_json(bundle_json(&b))), "(accepted)");

	json_t *o = bundle_json(&b);
	json_object_set_new(o, "v", json_string("1"));
	T_CHECK_STR(refused(b64_json(o)), "member v missing or not an integer");
	o = bundle_json(&b);
	json_object_set_new(o, "v", json_real(1.0));
	T_CHECK_STR(refused(b64_json(o)), "member v missing or not an integer");
	o = bundle_json(&b);
	json_object_set_new(o, "v", json_integer(2));
	T_CHECK(strstr(refused(b64_json(o)), "unsupported bundle version") != NULL);
	o = bundle_json(&b);
	json_object_del(o, "v");
	T_CHECK_STR(refused(b64_json(o)), "member v missing or not an integer");

	for (size_t i = 0; i < ARRAY_SIZE(members); i++) {
		snprintf(want, sizeof(want), "member %s missing or not a string", members[i]);
		o = bundle_json(&b);
		json_object_del(o, members[i]);
		T_CHECK_STR(refused(b64_json(o)), want);
		o = bundle_json(&b);
		json_object_set_new(o, members[i], json_integer(5));
		T_CHECK_STR(refused(b64_json(o)), want);
		o = bundle_json(&b);
		json_object_set_new(o, members[i], json_null());
		T_CHECK_STR(refused(b64_json(o)), want);
		o = bundle_json(&b);
		json_object_set_new(o, members[i], json_pack("[s]", "x"));
		T_CHECK_STR(refused(b64_json(o)), want);
		o = bundle_json(&b);
		json_object_set_new(o, members[i], json_string(""));
		T_CHECK_STR(refused(b64_json(o)), want);
	}
	/* Unknown members are ignored (additions within version 1). */
	o = bundle_json(&b);
	json_object_set_new(o, "comment", json_string("extra"));
	T_CHECK_STR(refused(b64_json(o)), "(accepted)");
	/* Shapes of the string members. */
	o = bundle_json(&b);
	json_object_set_new(o, "bundleID", json_string("NOT-HEX"));
	T_CHECK(strstr(refused(b64_json(o)), "bundleID is not") != NULL);
	o = bundle_json(&b);
	json_object_set_new(o, "issued", json_string("yesterday"));
	T_CHECK(strstr(refused(b64_json(o)), "issued is not") != NULL);
	o = bundle_json(&b);
	json_object_set_new(o, "issued", json_string("2026-13-45T03:26:57Z"));
	T_CHECK(strstr(refused(b64_json(o)), "issued is not") != NULL);
	o = bundle_json(&b);
	json_object_set_new(o, "caCert", json_string("-----BEGIN CERTIFICATE-----\nAAAA\n"
						     "-----END CERTIFICATE-----\n"));
	T_CHECK_STR(refused(b64_json(o)), "caCert is not a PEM certificate");
	o = bundle_json(&b);
	json_object_set_new(o, "enrollCert", json_string(b.enroll_key_pem));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert is not a PEM certificate");
	o = bundle_json(&b);
	json_object_set_new(o, "enrollKey", json_string(b.enroll_cert_pem));
	T_CHECK_STR(refused(b64_json(o)), "enrollKey is not a PEM EC P-256 private key");
	/* The enrollment certificate where the CA belongs. */
	o = bundle_json(&b);
	json_object_set_new(o, "caCert", json_string(b.enroll_cert_pem));
	T_CHECK_STR(refused(b64_json(o)), "caCert is not a self-signed CA certificate");
	bundle_clear(&b);
}

T_TEST(test_foreign_ca)
{
	struct bundle b = { 0 };
	char *pem = NULL;

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca2, ca2_key, 7, &b), 0);
	T_CHECK_INT(pki_cert_to_pem(ca, &pem), 0);
	if (b.bundle_id == NULL || pem == NULL)
		goto out;
	T_CHECK_STR(refused(b64_json(bundle_json(&b))), "(accepted)");
	/* Enrollment certificate from CA 2 presented with CA 1 (same subject name). */
	json_t *o = bundle_json(&b);
	json_object_set_new(o, "caCert", json_string(pem));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert is not a client certificate issued by caCert");
out:
	free(pem);
	bundle_clear(&b);
}

T_TEST(test_server_cert_as_enroll)
{
	struct bundle b = { 0 };
	EVP_PKEY *k = NULL;
	X509 *srv = NULL;
	char *cert_pem = NULL, *key_pem = NULL, cn[80];

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	if (b.bundle_id == NULL)
		return;
	snprintf(cn, sizeof(cn), "%s%s", BUNDLE_CN_PREFIX, b.bundle_id);
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_issue(ca, ca_key, k, cn, NULL, 0, 7, PKI_USAGE_SERVER, &srv), 0);
	T_CHECK_INT(pki_cert_to_pem(srv, &cert_pem), 0);
	T_CHECK_INT(pki_key_to_pem(k, &key_pem), 0);
	json_t *o = bundle_json(&b);
	json_object_set_new(o, "enrollCert", json_string(cert_pem));
	json_object_set_new(o, "enrollKey", json_string(key_pem));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert is not a client certificate issued by caCert");
	free(cert_pem);
	free(key_pem);
	X509_free(srv);
	EVP_PKEY_free(k);
	bundle_clear(&b);
}

T_TEST(test_key_mismatch)
{
	struct bundle b = { 0 }, other = { 0 };

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &other), 0);
	if (b.bundle_id == NULL || other.bundle_id == NULL)
		goto out;
	json_t *o = bundle_json(&b);
	json_object_set_new(o, "enrollKey", json_string(other.enroll_key_pem));
	T_CHECK_STR(refused(b64_json(o)), "enrollKey does not match enrollCert");
	/* The CA's own key is no substitute either. */
	char *cakey = NULL;
	T_CHECK_INT(pki_key_to_pem(ca_key, &cakey), 0);
	o = bundle_json(&b);
	json_object_set_new(o, "enrollKey", json_string(cakey ? cakey : ""));
	T_CHECK_STR(refused(b64_json(o)), "enrollKey does not match enrollCert");
	free(cakey);
out:
	bundle_clear(&b);
	bundle_clear(&other);
}

T_TEST(test_cn_mismatch)
{
	struct bundle b = { 0 }, other = { 0 };

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &other), 0);
	if (b.bundle_id == NULL || other.bundle_id == NULL)
		goto out;
	/* A valid certificate for another bundle: the IDs must agree. */
	json_t *o = bundle_json(&b);
	json_object_set_new(o, "bundleID", json_string(other.bundle_id));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert's common name does not name this bundle");
	/* A prefix of the right ID is not the right ID. */
	char prefix[BUNDLE_ID_MIN + 1];
	memcpy(prefix, b.bundle_id, BUNDLE_ID_MIN);
	prefix[BUNDLE_ID_MIN] = '\0';
	o = bundle_json(&b);
	json_object_set_new(o, "bundleID", json_string(prefix));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert's common name does not name this bundle");
	/* A client certificate from the right CA without the enrollment prefix. */
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *cert_pem = NULL, *key_pem = NULL;
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_issue(ca, ca_key, k, b.bundle_id, NULL, 0, 7, PKI_USAGE_CLIENT, &x), 0);
	T_CHECK_INT(pki_cert_to_pem(x, &cert_pem), 0);
	T_CHECK_INT(pki_key_to_pem(k, &key_pem), 0);
	o = bundle_json(&b);
	json_object_set_new(o, "enrollCert", json_string(cert_pem ? cert_pem : ""));
	json_object_set_new(o, "enrollKey", json_string(key_pem ? key_pem : ""));
	T_CHECK_STR(refused(b64_json(o)), "enrollCert's common name does not name this bundle");
	free(cert_pem);
	free(key_pem);
	X509_free(x);
	EVP_PKEY_free(k);
	T_CHECK(bundle_cn_to_id("garrison-enroll:0123456789abcdef") != NULL);
	T_CHECK(bundle_cn_to_id("garrison-enroll:0123456789abcdeF") == NULL);
	T_CHECK(bundle_cn_to_id("garrison-enroll:") == NULL);
	T_CHECK(bundle_cn_to_id("defender:0123456789abcdef") == NULL);
	T_CHECK(bundle_cn_to_id(NULL) == NULL);
out:
	bundle_clear(&b);
	bundle_clear(&other);
}

T_TEST(test_expired_enroll_cert)
{
	struct bundle b = { 0 };
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *cert_pem = NULL, *key_pem = NULL, cn[80];

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	if (b.bundle_id == NULL)
		return;
	snprintf(cn, sizeof(cn), "%s%s", BUNDLE_CN_PREFIX, b.bundle_id);
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_issue(ca, ca_key, k, cn, NULL, 0, -1, PKI_USAGE_CLIENT, &x), 0);
	T_CHECK_INT(pki_cert_to_pem(x, &cert_pem), 0);
	T_CHECK_INT(pki_key_to_pem(k, &key_pem), 0);
	json_t *o = bundle_json(&b);
	json_object_set_new(o, "enrollCert", json_string(cert_pem ? cert_pem : ""));
	json_object_set_new(o, "enrollKey", json_string(key_pem ? key_pem : ""));
	T_CHECK(strstr(refused(b64_json(o)), "enrollCert has expired") != NULL);
	free(cert_pem);
	free(key_pem);
	X509_free(x);
	EVP_PKEY_free(k);
	bundle_clear(&b);
}

T_TEST(test_oversized)
{
	struct bundle b = { 0 };
	char *big = malloc(BUNDLE_MAX + 2);

	T_CHECK_INT(setup(), 0);
	T_CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, 'A', BUNDLE_MAX + 1);
	big[BUNDLE_MAX + 1] = '\0';
	T_CHECK_STR(refused(strdup(big)), "bundle larger than 64 KiB");
	/* At the limit the size check passes and the content decides. */
	big[BUNDLE_MAX] = '\0';
	T_CHECK_STR(refused(strdup(big)), "bundle is not valid JSON");
	free(big);
	/* A valid bundle padded past the limit with an ignored member. */
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	if (b.bundle_id == NULL)
		return;
	char *pad = malloc(BUNDLE_MAX);
	if (pad != NULL) {
		memset(pad, 'x', BUNDLE_MAX - 1);
		pad[BUNDLE_MAX - 1] = '\0';
		json_t *o = bundle_json(&b);
		json_object_set_new(o, "pad", json_string(pad));
		T_CHECK_STR(refused(b64_json(o)), "bundle larger than 64 KiB");
		/* The same with a small pad is fine. */
		pad[100] = '\0';
		o = bundle_json(&b);
		json_object_set_new(o, "pad", json_string(pad));
		T_CHECK_STR(refused(b64_json(o)), "(accepted)");
		free(pad);
	}
	bundle_clear(&b);
}

T_TEST(test_create_and_encode_args)
{
	struct bundle b = { 0 };
	char *enc = (char *)1;

	T_CHECK_INT(setup(), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 0, &b), -EINVAL);
	T_CHECK(cleared(&b));
	T_CHECK_INT(bundle_create(ca, ca2_key, 7, &b), -EINVAL);
	T_CHECK(cleared(&b));
	T_CHECK_INT(bundle_create(NULL, ca_key, 7, &b), -EINVAL);
	T_CHECK_INT(bundle_encode(&b, &enc), -EINVAL);
	T_CHECK(enc == NULL);
	T_CHECK_INT(bundle_encode(NULL, &enc), -EINVAL);
	/* Two bundles never share an ID or a key. */
	struct bundle b2 = { 0 };
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b), 0);
	T_CHECK_INT(bundle_create(ca, ca_key, 7, &b2), 0);
	T_CHECK(b.bundle_id && b2.bundle_id && strcmp(b.bundle_id, b2.bundle_id) != 0);
	T_CHECK(b.enroll_key_pem && b2.enroll_key_pem &&
		strcmp(b.enroll_key_pem, b2.enroll_key_pem) != 0);
	T_CHECK(ERR_peek_error() == 0);
	bundle_clear(&b);
	bundle_clear(&b2);
}

T_MAIN(T_CASE(test_round_trip), T_CASE(test_bad_base64), T_CASE(test_not_json),
       T_CASE(test_wrong_types_and_missing), T_CASE(test_foreign_ca),
       T_CASE(test_server_cert_as_enroll), T_CASE(test_key_mismatch), T_CASE(test_cn_mismatch),
       T_CASE(test_expired_enroll_cert), T_CASE(test_oversized),
       T_CASE(test_create_and_encode_args))
