/*
 * pki: certificates for the Console/Defender channel, built with OpenSSL 3's X509 and EVP APIs.
 *
 * Guarantees: every key this module creates or accepts is EC P-256; every certificate it issues has
 * a fresh random 128-bit serial, explicit basicConstraints/keyUsage, a key identifier pair, and
 * (for leaves) an extendedKeyUsage that pki_verify() insists on. Extensions are built as ASN.1
 * structures, never through OpenSSL's config-string parser, so a name given by a caller cannot
 * inject extra extension syntax. PEM input is bounded and must be exactly one block.
 */
#include <garrison/pki.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define PKI_SERIAL_BYTES 16
#define PKI_BACKDATE_SECS 300
#define PKI_DNS_MAX 253

/* keyUsage bit numbers (RFC 5280 4.2.1.3). */
#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_KEY_CERT_SIGN 5
#define KU_BIT_CRL_SIGN 6

/* Logs, at debug level, the newest OpenSSL error queued (if any) with what we were doing. The
 * callers pop their error mark afterwards, so the queue is left clean. */
static void pki_log_ssl(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e == 0) {
		log_debug("pki: %s", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	log_debug("pki: %s: %s", what, buf);
}

/* Never a passphrase: an encrypted PEM fails to load instead of prompting on the terminal. */
static int pki_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int pki_cn_ok(const char *cn)
{
	size_t n;

	if (cn == NULL)
		return 0;
	n = strnlen(cn, PKI_CN_MAX + 1);
	if (n == 0 || n > PKI_CN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (cn[i] < 0x20 || cn[i] > 0x7e)
			return 0;
	return 1;
}

static int pki_key_is_p256(const EVP_PKEY *k)
{
	char name[64], enc[32];
	size_t len = 0;
	int ok;

	if (k == NULL || !EVP_PKEY_is_a(k, "EC"))
		return 0;
	ERR_set_mark();
	/* OpenSSL 3 reports the group name even for keys given with explicit curve parameters, which
	 * certificates must not carry (RFC 5480): require the named-curve encoding as well. */
	ok = EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) &&
	     (OBJ_sn2nid(name) == NID_X9_62_prime256v1 ||
	      EC_curve_nist2nid(name) == NID_X9_62_prime256v1) &&
	     EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), &len) &&
	     strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) == 0;
	ERR_pop_to_mark();
	return ok;
}

/* A DNS name for a dNSName SAN: labels of letters, digits and '-', optional leading "*.". */
static int pki_dns_ok(const char *s)
{
	size_t n = strnlen(s, PKI_DNS_MAX + 1), label = 0;

	if (n == 0 || n > PKI_DNS_MAX)
		return 0;
	if (n > 2 && s[0] == '*' && s[1] == '.')
		s += 2, n -= 2;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* Length of an IP literal's binary form in ip (4 or 16), or 0 when s is not an IP literal. */
static int pki_ip_literal(const char *s, unsigned char ip[16])
{
	if (inet_pton(AF_INET, s, ip) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, ip) == 1)
		return 16;
	return 0;
}

static const char *pki_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* 0 when pem is 1..PKI_PEM_MAX bytes holding exactly one PEM block labelled `label`, with only
 * whitespace around it; *start and *len get the block without the leading whitespace (OpenSSL's
 * reader wants "-----BEGIN" at the start of a line). -EINVAL otherwise. */
static int pki_pem_check(const char *pem, const char *label, const char **start, size_t *len)
{
	char begin[64], end[64];
	const char *p, *e;
	size_t n;
	int bl, el;

	if (pem == NULL)
		return -EINVAL;
	n = strnlen(pem, PKI_PEM_MAX + 1);
	if (n == 0 || n > PKI_PEM_MAX)
		return -EINVAL;
	bl = snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	el = snprintf(end, sizeof(end), "-----END %s-----", label);
	if (bl < 0 || (size_t)bl >= sizeof(begin) || el < 0 || (size_t)el >= sizeof(end))
		return -EINVAL;
	p = pki_skip_ws(pem);
	if (strncmp(p, begin, (size_t)bl) != 0)
		return -EINVAL;
	e = strstr(p + bl, end);
	if (e == NULL || *pki_skip_ws(e + el) != '\0')
		return -EINVAL;
	*start = p;
	*len = n - (size_t)(p - pem);
	return 0;
}

/* Copies a memory BIO's contents into a malloc()ed NUL-terminated string. */
static int pki_bio_to_str(BIO *b, char **out)
{
	char *data = NULL, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || data == NULL)
		return -ENOMEM;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return -ENOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
	return 0;
}

static X509_NAME *pki_name_cn(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return NULL;
	if (!X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static int pki_add_ext(X509 *x, int nid, void *value, int critical)
{
	return X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_REPLACE) == 1 ? 0 : -ENOMEM;
}

static int pki_add_basic_constraints(X509 *x, int ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int r = -ENOMEM;

	if (bc == NULL)
		return -ENOMEM;
	if (ca) {
		bc->ca = 0xff;
		/* pathlen:0: the Console CA signs leaves only, never another CA. */
		bc->pathlen = ASN1_INTEGER_new();
		if (bc->pathlen == NULL || !ASN1_INTEGER_set(bc->pathlen, 0))
			goto fail;
	}
	r = pki_add_ext(x, NID_basic_constraints, bc, 1);
fail:
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static int pki_add_key_usage(X509 *x, const int *bits, size_t nbits)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int r = -ENOMEM;

	if (ku == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nbits; i++)
		if (!ASN1_BIT_STRING_set_bit(ku, bits[i], 1))
			goto fail;
	r = pki_add_ext(x, NID_key_usage, ku, 1);
fail:
	ASN1_BIT_STRING_free(ku);
	return r;
}

static int pki_add_eku(X509 *x, enum pki_usage usage)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	/* OBJ_nid2obj returns a static object: the stack does not own it. */
	ASN1_OBJECT *obj = OBJ_nid2obj(usage == PKI_USAGE_SERVER ? NID_server_auth : NID_client_auth);
	int r = -ENOMEM;

	if (eku == NULL || obj == NULL || !sk_ASN1_OBJECT_push(eku, obj))
		goto fail;
	r = pki_add_ext(x, NID_ext_key_usage, eku, 0);
fail:
	sk_ASN1_OBJECT_free(eku);
	return r;
}

/* subjectKeyIdentifier: SHA-256 of the subjectPublicKey bits truncated to 160 bits (RFC 7093
 * method 1), set after the public key. */
static int pki_add_ski(X509 *x)
{
	const ASN1_BIT_STRING *pk = X509_get0_pubkey_bitstr(x);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *os = NULL;
	int r = -ENOMEM;

	if (pk == NULL || !EVP_Digest(ASN1_STRING_get0_data(pk), (size_t)ASN1_STRING_length(pk), md,
				      &mdlen, EVP_sha256(), NULL) || mdlen < 20)
		return -ENOMEM;
	os = ASN1_OCTET_STRING_new();
	if (os == NULL || !ASN1_OCTET_STRING_set(os, md, 20))
		goto fail;
	r = pki_add_ext(x, NID_subject_key_identifier, os, 0);
fail:
	ASN1_OCTET_STRING_free(os);
	return r;
}

/* authorityKeyIdentifier: the issuer's subjectKeyIdentifier. */
static int pki_add_aki(X509 *x, X509 *issuer)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid;
	int r = -ENOMEM;

	if (ski == NULL)
		return -EINVAL;
	akid = AUTHORITY_KEYID_new();
	if (akid == NULL)
		return -ENOMEM;
	akid->keyid = ASN1_OCTET_STRING_dup(ski);
	if (akid->keyid == NULL)
		goto fail;
	r = pki_add_ext(x, NID_authority_key_identifier, akid, 0);
fail:
	AUTHORITY_KEYID_free(akid);
	return r;
}

/* subjectAltName from entries already checked by pki_sans_ok(). */
static int pki_add_sans(X509 *x, const char *const *sans, size_t nsans)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = NULL;
	ASN1_STRING *v = NULL;
	int r = -ENOMEM;

	if (gens == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nsans; i++) {
		unsigned char ip[16];
		int iplen = pki_ip_literal(sans[i], ip);

		g = GENERAL_NAME_new();
		if (g == NULL)
			goto fail;
		if (iplen > 0) {
			v = ASN1_OCTET_STRING_new();
			if (v == NULL || !ASN1_OCTET_STRING_set(v, ip, iplen))
				goto fail;
			GENERAL_NAME_set0_value(g, GEN_IPADD, v);
		} else {
			v = ASN1_IA5STRING_new();
			if (v == NULL || !ASN1_STRING_set(v, sans[i], -1))
				goto fail;
			GENERAL_NAME_set0_value(g, GEN_DNS, v);
		}
		v = NULL;
		if (!sk_GENERAL_NAME_push(gens, g))
			goto fail;
		g = NULL;
	}
	r = pki_add_ext(x, NID_subject_alt_name, gens, 0);
fail:
	ASN1_STRING_free(v);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return r;
}

static int pki_sans_ok(const char *const *sans, size_t nsans)
{
	if (nsans > PKI_SANS_MAX || (nsans > 0 && sans == NULL))
		return 0;
	for (size_t i = 0; i < nsans; i++) {
		unsigned char ip[16];

		if (sans[i] == NULL)
			return 0;
		if (strnlen(sans[i], PKI_DNS_MAX + 1) > PKI_DNS_MAX)
			return 0;
		if (pki_ip_literal(sans[i], ip) == 0 && !pki_dns_ok(sans[i]))
			return 0;
	}
	return 1;
}

static int pki_days_ok(int days)
{
	return days != 0 && days >= -PKI_DAYS_MAX && days <= PKI_DAYS_MAX;
}

/* A new unsigned v3 certificate: random serial, subject CN cn, issuer = issuer's subject (or the
 * subject itself when issuer is NULL), validity, public key. */
static int pki_cert_start(X509 *issuer, EVP_PKEY *pubkey, const char *cn, int days, X509 **out)
{
	unsigned char raw[PKI_SERIAL_BYTES];
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	int r = -ENOMEM;

	if (x == NULL)
		return -ENOMEM;
	if (util_random(raw, sizeof(raw)) < 0) {
		r = -EIO;
		goto fail;
	}
	raw[sizeof(raw) - 1] |= 1; /* never zero, which strict verification refuses */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	name = pki_name_cn(cn);
	if (bn == NULL || name == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(x, pubkey))
		goto fail;
	if (days > 0) {
		/* Backdated a little so that a peer whose clock is slightly behind accepts it. */
		if (!X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_SECS) ||
		    !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
			goto fail;
	} else {
		/* Tests only: one day of validity that ended -days days ago. */
		if (!X509_time_adj_ex(X509_getm_notBefore(x), days - 1, 0, NULL) ||
		    !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
			goto fail;
	}
	/* A leaf never outlives its CA. */
	if (issuer != NULL &&
	    ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(issuer)))
		goto fail;
	BN_free(bn);
	X509_NAME_free(name);
	*out = x;
	return 0;
fail:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int pki_key_new(EVP_PKEY **out)
{
	EVP_PKEY *k;

	if (out == NULL)
		return -EINVAL;
	ERR_set_mark();
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		pki_log_ssl("P-256 key generation failed");
	ERR_pop_to_mark();
	*out = k;
	return k ? 0 : -ENOMEM;
}

int pki_ca_new(const char *cn, int days, EVP_PKEY **key_out, X509 **cert_out)
{
	static const int ku[] = { KU_BIT_KEY_CERT_SIGN, KU_BIT_CRL_SIGN };
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int r;

	if (key_out != NULL)
		*key_out = NULL;
	if (cert_out != NULL)
		*cert_out = NULL;
	if (key_out == NULL || cert_out == NULL || !pki_cn_ok(cn) || days < 1 || days > PKI_DAYS_MAX)
		return -EINVAL;
	ERR_set_mark();
	r = pki_key_new(&key);
	if (r < 0)
		goto fail;
	r = pki_cert_start(NULL, key, cn, days, &x);
	if (r < 0)
		goto fail;
	if ((r = pki_add_basic_constraints(x, 1)) < 0 ||
	    (r = pki_add_key_usage(x, ku, ARRAY_SIZE(ku))) < 0 || (r = pki_add_ski(x)) < 0)
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		r = -ENOMEM;
		goto fail;
	}
	ERR_pop_to_mark();
	*key_out = key;
	*cert_out = x;
	return 0;
fail:
	pki_log_ssl("cannot create CA");
	ERR_pop_to_mark();
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

int pki_issue(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pubkey, const char *cn,
	      const char *const *sans, size_t nsans, int days, enum pki_usage usage, X509 **out)
{
	static const int ku[] = { KU_BIT_DIGITAL_SIGNATURE };
	X509 *x = NULL;
	int r = -EINVAL;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (ca == NULL || !pki_key_is_p256(ca_key) || !pki_key_is_p256(pubkey) || !pki_cn_ok(cn) ||
	    !pki_sans_ok(sans, nsans) || !pki_days_ok(days) ||
	    (usage != PKI_USAGE_SERVER && usage != PKI_USAGE_CLIENT))
		return -EINVAL;
	ERR_set_mark();
	if (X509_check_ca(ca) != 1 || X509_check_private_key(ca, ca_key) != 1) {
		r = -EINVAL;
		goto fail;
	}
	r = pki_cert_start(ca, pubkey, cn, days, &x);
	if (r < 0)
		goto fail;
	if ((r = pki_add_basic_constraints(x, 0)) < 0 ||
	    (r = pki_add_key_usage(x, ku, ARRAY_SIZE(ku))) < 0 || (r = pki_add_eku(x, usage)) < 0 ||
	    (r = pki_add_ski(x)) < 0 || (r = pki_add_aki(x, ca)) < 0 ||
	    (nsans > 0 && (r = pki_add_sans(x, sans, nsans)) < 0))
		goto fail;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		r = -ENOMEM;
		goto fail;
	}
	ERR_pop_to_mark();
	*out = x;
	return 0;
fail:
	pki_log_ssl("cannot issue certificate");
	ERR_pop_to_mark();
	X509_free(x);
	return r;
}

int pki_csr_new(EVP_PKEY *key, const char *cn, char **csr_pem)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	BIO *b = NULL;
	int r = -ENOMEM;

	if (csr_pem == NULL)
		return -EINVAL;
	*csr_pem = NULL;
	if (!pki_key_is_p256(key) || !pki_cn_ok(cn))
		return -EINVAL;
	ERR_set_mark();
	req = X509_REQ_new();
	name = pki_name_cn(cn);
	b = BIO_new(BIO_s_mem());
	if (req == NULL || name == NULL || b == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    !PEM_write_bio_X509_REQ(b, req))
		goto fail;
	r = pki_bio_to_str(b, csr_pem);
fail:
	if (r < 0)
		pki_log_ssl("cannot create CSR");
	ERR_pop_to_mark();
	BIO_free(b);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return r;
}

int pki_csr_sign(X509 *ca, EVP_PKEY *ca_key, const char *csr_pem, const char *cn, int days,
		 X509 **out)
{
	return pki_csr_sign_fresh(ca, ca_key, csr_pem, cn, days, NULL, out);
}

int pki_csr_sign_fresh(X509 *ca, EVP_PKEY *ca_key, const char *csr_pem, const char *cn, int days,
		       EVP_PKEY *old_key, X509 **out)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	BIO *b = NULL;
	const char *start;
	size_t len;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (pki_pem_check(csr_pem, "CERTIFICATE REQUEST", &start, &len) < 0)
		return -EINVAL;
	ERR_set_mark();
	r = -ENOMEM;
	b = BIO_new_mem_buf(start, (int)len);
	if (b == NULL)
		goto fail;
	r = -EINVAL;
	req = PEM_read_bio_X509_REQ(b, NULL, pki_no_passphrase, NULL);
	if (req == NULL)
		goto fail;
	pk = X509_REQ_get0_pubkey(req);
	if (!pki_key_is_p256(pk) || X509_REQ_get_signature_nid(req) != NID_ecdsa_with_SHA256)
		goto fail;
	/* Proof of possession: the request is signed by the key it asks a certificate for. */
	if (X509_REQ_verify(req, pk) != 1) {
		r = -EACCES;
		goto fail;
	}
	if (old_key != NULL && EVP_PKEY_eq(pk, old_key) == 1) {
		r = -EACCES;
		goto fail;
	}
	r = pki_issue(ca, ca_key, pk, cn, NULL, 0, days, PKI_USAGE_CLIENT, out);
fail:
	if (r < 0)
		pki_log_ssl("CSR refused");
	ERR_pop_to_mark();
	X509_REQ_free(req);
	BIO_free(b);
	return r;
}

int pki_key_to_pem(EVP_PKEY *k, char **pem)
{
	BIO *b;
	int r = -ENOMEM;

	if (pem == NULL)
		return -EINVAL;
	*pem = NULL;
	if (!pki_key_is_p256(k))
		return -EINVAL;
	ERR_set_mark();
	/* The memory BIO's buffer is cleansed when freed (BUF_MEM_free). */
	b = BIO_new(BIO_s_mem());
	if (b != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		r = pki_bio_to_str(b, pem);
	if (r < 0)
		pki_log_ssl("cannot write key PEM");
	ERR_pop_to_mark();
	BIO_free(b);
	return r;
}

int pki_key_from_pem(const char *pem, EVP_PKEY **k)
{
	EVP_PKEY *key = NULL;
	BIO *b;
	const char *start;
	size_t len;
	int r = -EINVAL;

	if (k == NULL)
		return -EINVAL;
	*k = NULL;
	if (pki_pem_check(pem, "PRIVATE KEY", &start, &len) < 0 &&
	    pki_pem_check(pem, "EC PRIVATE KEY", &start, &len) < 0)
		return -EINVAL;
	ERR_set_mark();
	b = BIO_new_mem_buf(start, (int)len);
	if (b == NULL)
		r = -ENOMEM;
	else
		key = PEM_read_bio_PrivateKey(b, NULL, pki_no_passphrase, NULL);
	if (key != NULL && pki_key_is_p256(key))
		r = 0;
	if (r < 0)
		pki_log_ssl("cannot read key PEM");
	ERR_pop_to_mark();
	BIO_free(b);
	if (r < 0) {
		EVP_PKEY_free(key);
		return r;
	}
	*k = key;
	return 0;
}

int pki_cert_to_pem(X509 *c, char **pem)
{
	BIO *b;
	int r = -ENOMEM;

	if (pem == NULL)
		return -EINVAL;
	*pem = NULL;
	if (c == NULL)
		return -EINVAL;
	ERR_set_mark();
	b = BIO_new(BIO_s_mem());
	if (b != NULL && PEM_write_bio_X509(b, c))
		r = pki_bio_to_str(b, pem);
	if (r < 0)
		pki_log_ssl("cannot write certificate PEM");
	ERR_pop_to_mark();
	BIO_free(b);
	return r;
}

int pki_cert_from_pem(const char *pem, X509 **c)
{
	X509 *x = NULL;
	BIO *b;
	const char *start;
	size_t len;
	int r = -EINVAL;

	if (c == NULL)
		return -EINVAL;
	*c = NULL;
	if (pki_pem_check(pem, "CERTIFICATE", &start, &len) < 0)
		return -EINVAL;
	ERR_set_mark();
	b = BIO_new_mem_buf(start, (int)len);
	if (b == NULL)
		r = -ENOMEM;
	else
		x = PEM_read_bio_X509(b, NULL, pki_no_passphrase, NULL);
	if (x != NULL)
		r = 0;
	else
		pki_log_ssl("cannot read certificate PEM");
	ERR_pop_to_mark();
	BIO_free(b);
	*c = x;
	return r;
}

int pki_cert_info(X509 *c, char **cn, char **serial_hex, time_t *not_after)
{
	unsigned char *utf8 = NULL;
	char *cn_s = NULL, *ser_s = NULL, *hex = NULL;
	BIGNUM *bn = NULL;
	struct tm tm;
	time_t na = 0;
	int r = -EINVAL;

	if (cn != NULL)
		*cn = NULL;
	if (serial_hex != NULL)
		*serial_hex = NULL;
	if (c == NULL)
		return -EINVAL;
	ERR_set_mark();
	if (cn != NULL) {
		X509_NAME *name = X509_get_subject_name(c);
		int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
		int n;

		if (i < 0)
			goto fail;
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
		if (n < 0 || memchr(utf8, '\0', (size_t)n) != NULL)
			goto fail;
		r = -ENOMEM;
		cn_s = malloc((size_t)n + 1);
		if (cn_s == NULL)
			goto fail;
		memcpy(cn_s, utf8, (size_t)n);
		cn_s[n] = '\0';
		r = -EINVAL;
	}
	if (serial_hex != NULL) {
		r = -ENOMEM;
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
		hex = bn ? BN_bn2hex(bn) : NULL;
		ser_s = hex ? strdup(hex) : NULL;
		if (ser_s == NULL)
			goto fail;
		for (char *p = ser_s; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		r = -EINVAL;
	}
	if (not_after != NULL) {
		if (!ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm))
			goto fail;
		na = timegm(&tm);
	}
	ERR_pop_to_mark();
	OPENSSL_free(utf8);
	OPENSSL_free(hex);
	BN_free(bn);
	if (cn != NULL)
		*cn = cn_s;
	if (serial_hex != NULL)
		*serial_hex = ser_s;
	if (not_after != NULL)
		*not_after = na;
	return 0;
fail:
	pki_log_ssl("cannot read certificate fields");
	ERR_pop_to_mark();
	OPENSSL_free(utf8);
	OPENSSL_free(hex);
	BN_free(bn);
	free(cn_s);
	free(ser_s);
	return r;
}

int pki_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
	int ok;

	if (key == NULL || cert == NULL)
		return -EINVAL;
	ERR_set_mark();
	ok = X509_check_private_key(cert, key);
	ERR_pop_to_mark();
	return ok == 1 ? 0 : -EACCES;
}

int pki_verify_why(X509 *ca, X509 *cert, enum pki_usage usage, const char **why)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	uint32_t need;
	int r = -ENOMEM;
	const char *reason = "out of memory";

	if (why != NULL)
		*why = NULL;
	if (ca == NULL || cert == NULL || (usage != PKI_USAGE_SERVER && usage != PKI_USAGE_CLIENT)) {
		if (why != NULL)
			*why = "invalid arguments";
		return -EINVAL;
	}
	need = usage == PKI_USAGE_SERVER ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
	ERR_set_mark();
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, cert, NULL))
		goto fail;
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	/* Only a leaf signed directly by the CA: no intermediates. */
	X509_STORE_CTX_set_depth(ctx, 0);
	if (!X509_STORE_CTX_set_purpose(ctx, usage == PKI_USAGE_SERVER ? X509_PURPOSE_SSL_SERVER
								       : X509_PURPOSE_SSL_CLIENT))
		goto fail;
	r = -EACCES;
	if (X509_verify_cert(ctx) != 1) {
		reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
		goto fail;
	}
	/* The purpose check lets a certificate without extendedKeyUsage through; we do not. */
	if (X509_check_ca(cert) != 0) {
		reason = "certificate is a CA, not a leaf";
		goto fail;
	}
	if (!(X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(cert) & need)) {
		reason = usage == PKI_USAGE_SERVER ? "extendedKeyUsage lacks serverAuth"
						   : "extendedKeyUsage lacks clientAuth";
		goto fail;
	}
	r = 0;
	reason = NULL;
fail:
	if (r < 0)
		log_debug("pki: certificate does not verify: %s", reason);
	ERR_pop_to_mark();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	if (why != NULL)
		*why = reason;
	return r;
}

int pki_verify(X509 *ca, X509 *cert, enum pki_usage usage)
{
	return pki_verify_why(ca, cert, usage, NULL);
}

int pki_key_save(const char *path, EVP_PKEY *k)
{
	char *pem = NULL;
	int r;

	if (path == NULL)
		return -EINVAL;
	r = pki_key_to_pem(k, &pem);
	if (r < 0)
		return r;
	r = util_write_file(path, pem, strlen(pem), 0600);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	if (r < 0)
		log_error("pki: cannot write key %s: %s", path, strerror(-r));
	return r;
}

int pki_key_load(const char *path, EVP_PKEY **k)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (k == NULL)
		return -EINVAL;
	*k = NULL;
	if (path == NULL)
		return -EINVAL;
	r = util_read_file(path, PKI_PEM_MAX, &buf, &len);
	if (r < 0)
		return r;
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("pki: key file %s is readable by group or others (mode %03o)", path,
			 (unsigned)(st.st_mode & 0777));
	r = strlen(buf) == len ? pki_key_from_pem(buf, k) : -EINVAL;
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

int pki_cert_save(const char *path, X509 *c)
{
	char *pem = NULL;
	int r;

	if (path == NULL)
		return -EINVAL;
	r = pki_cert_to_pem(c, &pem);
	if (r < 0)
		return r;
	r = util_write_file(path, pem, strlen(pem), 0644);
	free(pem);
	if (r < 0)
		log_error("pki: cannot write certificate %s: %s", path, strerror(-r));
	return r;
}

int pki_cert_load(const char *path, X509 **c)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (c == NULL)
		return -EINVAL;
	*c = NULL;
	if (path == NULL)
		return -EINVAL;
	r = util_read_file(path, PKI_PEM_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = strlen(buf) == len ? pki_cert_from_pem(buf, c) : -EINVAL;
	free(buf);
	return r;
}
