/*
 * bundle: encoding, strict decoding and creation of Defender install bundles.
 *
 * bundle_decode() treats its input as hostile: it bounds the size before decoding anything, checks
 * every member's type and shape, and only accepts a bundle whose pieces agree with each other (the
 * enrollment certificate chains to the CA, names the bundle, and matches the key). Errors are
 * static sentences so that a caller can log them without leaking the bundle's secret.
 */
#include <garrison/bundle.h>

#include <garrison/pki.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define BUNDLE_ISSUED_LEN 20 /* "2026-11-27T03:26:57Z" */

static void bundle_free_secret(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void bundle_clear(struct bundle *b)
{
	if (b == NULL)
		return;
	free(b->ca_cert_pem);
	free(b->bundle_id);
	free(b->enroll_cert_pem);
	bundle_free_secret(b->enroll_key_pem);
	free(b->issued);
	memset(b, 0, sizeof(*b));
}

static int bundle_id_ok(const char *id)
{
	size_t n = strnlen(id, BUNDLE_ID_MAX + 1);

	if (n < BUNDLE_ID_MIN || n > BUNDLE_ID_MAX)
		return 0;
	return strspn(id, "0123456789abcdef") == n;
}

const char *bundle_cn_to_id(const char *cn)
{
	size_t plen = strlen(BUNDLE_CN_PREFIX);

	if (cn == NULL || strncmp(cn, BUNDLE_CN_PREFIX, plen) != 0 || !bundle_id_ok(cn + plen))
		return NULL;
	return cn + plen;
}

/* Exactly "YYYY-MM-DDTHH:MM:SSZ", a real UTC date and time. */
static int bundle_issued_ok(const char *s)
{
	struct tm tm;
	const char *end;

	if (strnlen(s, BUNDLE_ISSUED_LEN + 1) != BUNDLE_ISSUED_LEN)
		return 0;
	for (int i = 0; i < BUNDLE_ISSUED_LEN; i++) {
		char c = s[i], want = "0000-00-00T00:00:00Z"[i];
		if (want == '0' ? (c < '0' || c > '9') : c != want)
			return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end != NULL && *end == '\0';
}

int bundle_encode(const struct bundle *b, char **b64_out)
{
	json_t *obj = NULL;
	char *text = NULL;
	int r = -EINVAL;

	if (b64_out == NULL)
		return -EINVAL;
	*b64_out = NULL;
	if (b == NULL || b->ca_cert_pem == NULL || b->bundle_id == NULL || !bundle_id_ok(b->bundle_id) ||
	    b->enroll_cert_pem == NULL || b->enroll_key_pem == NULL || b->issued == NULL)
		return -EINVAL;
	obj = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", BUNDLE_VERSION, "caCert",
			b->ca_cert_pem, "bundleID", b->bundle_id, "enrollCert", b->enroll_cert_pem,
			"enrollKey", b->enroll_key_pem, "issued", b->issued);
	if (obj == NULL)
		goto fail; /* json_pack also refuses strings that are not UTF-8 */
	r = -ENOMEM;
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		goto fail;
	*b64_out = util_b64_encode(text, strlen(text));
	if (*b64_out == NULL)
		goto fail;
	r = 0;
fail:
	bundle_free_secret(text);
	json_decref(obj);
	return r;
}

/* A string member: sets *out to a malloc()ed copy. */
static int bundle_get_str(json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || memchr(s, '\0', n) != NULL)
		return -EINVAL;
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

/* bundle_decode() once out is known to be valid. */
static int bundle_decode_into(const char *b64, struct bundle *out, const char **err)
{
	struct {
		const char *key;
		char **dst;
		const char *err;
	} fields[] = {
		{ "caCert", &out->ca_cert_pem, "member caCert missing or not a string" },
		{ "bundleID", &out->bundle_id, "member bundleID missing or not a string" },
		{ "enrollCert", &out->enroll_cert_pem, "member enrollCert missing or not a string" },
		{ "enrollKey", &out->enroll_key_pem, "member enrollKey missing or not a string" },
		{ "issued", &out->issued, "member issued missing or not a string" },
	};
	const char *why = NULL, *start, *end, *cn_id;
	unsigned char *raw = NULL;
	char *text = NULL, *cn = NULL;
	size_t rawlen = 0, n;
	json_t *obj = NULL, *v;
	X509 *ca = NULL, *enroll = NULL;
	EVP_PKEY *key = NULL;
	int r = -EINVAL, is_ca;

	memset(out, 0, sizeof(*out));
	why = "no bundle given";
	if (b64 == NULL)
		goto fail;
	why = "bundle larger than 64 KiB";
	n = strnlen(b64, BUNDLE_MAX + 1);
	if (n > BUNDLE_MAX)
		goto fail;
	start = b64;
	end = b64 + n;
	while (start < end && (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n'))
		start++;
	while (end > start &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	why = "bundle is empty";
	if (start == end)
		goto fail;
	r = -ENOMEM;
	why = "out of memory";
	text = strndup(start, (size_t)(end - start));
	if (text == NULL)
		goto fail;
	r = -EINVAL;
	why = "bundle is not valid base64";
	if (util_b64_decode(text, &raw, &rawlen) < 0)
		goto fail;
	why = "bundle is not valid JSON";
	obj = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	if (obj == NULL)
		goto fail;
	why = "bundle is not a JSON object";
	if (!json_is_object(obj))
		goto fail;
	v = json_object_get(obj, "v");
	why = "member v missing or not an integer";
	if (!json_is_integer(v))
		goto fail;
	why = "unsupported bundle version (this Defender reads version 1)";
	if (json_integer_value(v) != BUNDLE_VERSION)
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		why = fields[i].err;
		r = bundle_get_str(obj, fields[i].key, fields[i].dst);
		if (r < 0)
			goto fail;
	}
	r = -EINVAL;
	why = "bundleID is not 16 to 48 lowercase hex digits";
	if (!bundle_id_ok(out->bundle_id))
		goto fail;
	why = "issued is not an RFC 3339 UTC time like 2026-11-27T03:26:57Z";
	if (!bundle_issued_ok(out->issued))
		goto fail;
	why = "caCert is not a PEM certificate";
	if (pki_cert_from_pem(out->ca_cert_pem, &ca) < 0)
		goto fail;
	why = "caCert is not a self-signed CA certificate";
	ERR_set_mark();
	is_ca = X509_check_ca(ca) == 1 && X509_self_signed(ca, 1) == 1;
	ERR_pop_to_mark();
	if (!is_ca)
		goto fail;
	why = "enrollCert is not a PEM certificate";
	if (pki_cert_from_pem(out->enroll_cert_pem, &enroll) < 0)
		goto fail;
	why = "enrollKey is not a PEM EC P-256 private key";
	if (pki_key_from_pem(out->enroll_key_pem, &key) < 0)
		goto fail;
	why = "enrollCert has expired: create a new install bundle on the Console";
	if (X509_cmp_current_time(X509_get0_notAfter(enroll)) <= 0)
		goto fail;
	why = "enrollCert is not a client certificate issued by caCert";
	if (pki_verify(ca, enroll, PKI_USAGE_CLIENT) < 0)
		goto fail;
	why = "enrollCert's common name does not name this bundle";
	if (pki_cert_info(enroll, &cn, NULL, NULL) < 0)
		goto fail;
	cn_id = bundle_cn_to_id(cn);
	if (cn_id == NULL || strcmp(cn_id, out->bundle_id) != 0)
		goto fail;
	why = "enrollKey does not match enrollCert";
	if (pki_key_matches_cert(key, enroll) < 0)
		goto fail;
	r = 0;
	why = NULL;
fail:
	if (r < 0)
		bundle_clear(out);
	if (err != NULL)
		*err = why;
	free(cn);
	EVP_PKEY_free(key);
	X509_free(enroll);
	X509_free(ca);
	json_decref(obj);
	if (raw != NULL)
		OPENSSL_cleanse(raw, rawlen);
	free(raw);
	bundle_free_secret(text);
	return r;
}

int bundle_decode(const char *b64, struct bundle *out, const char **err)
{
	if (out == NULL) {
		if (err != NULL)
			*err = "no output given";
		return -EINVAL;
	}
	return bundle_decode_into(b64, out, err);
}

int bundle_create(X509 *ca, EVP_PKEY *ca_key, int days, struct bundle *out)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char cn[sizeof(BUNDLE_CN_PREFIX) + BUNDLE_ID_MAX], issued[32];
	int r = -EINVAL;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (ca == NULL || ca_key == NULL || days < 1 || days > PKI_DAYS_MAX)
		return -EINVAL;
	r = -ENOMEM;
	out->bundle_id = util_random_hex(16);
	if (out->bundle_id == NULL)
		goto fail;
	r = snprintf(cn, sizeof(cn), "%s%s", BUNDLE_CN_PREFIX, out->bundle_id);
	if (r < 0 || (size_t)r >= sizeof(cn)) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = pki_key_new(&key)) < 0 ||
	    (r = pki_issue(ca, ca_key, key, cn, NULL, 0, days, PKI_USAGE_CLIENT, &cert)) < 0 ||
	    (r = pki_cert_to_pem(ca, &out->ca_cert_pem)) < 0 ||
	    (r = pki_cert_to_pem(cert, &out->enroll_cert_pem)) < 0 ||
	    (r = pki_key_to_pem(key, &out->enroll_key_pem)) < 0)
		goto fail;
	util_time_rfc3339(time(NULL), issued, sizeof(issued));
	r = -ENOMEM;
	out->issued = strdup(issued);
	if (out->issued == NULL)
		goto fail;
	r = 0;
fail:
	if (r < 0)
		bundle_clear(out);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}
