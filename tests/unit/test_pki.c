/*
 * test_pki: the Console CA, leaf issuance, CSR signing, PEM parsing and chain verification.
 * Every negative case has a positive twin in the same test, so a check that always fails (or a
 * verifier that accepts everything) shows up.
 */
#include <garrison/pki.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "t.h"

static void free_pem(char *pem)
{
	if (pem != NULL)
		OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}

/* A leaf for a fresh key; *key_out (optional) gets the key. NULL on failure. */
static X509 *issue(X509 *ca, EVP_PKEY *ca_key, const char *cn, int days, enum pki_usage u,
		   EVP_PKEY **key_out)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;

	if (pki_key_new(&k) == 0)
		T_CHECK_INT(pki_issue(ca, ca_key, k, cn, NULL, 0, days, u, &x), 0);
	if (key_out != NULL)
		*key_out = k;
	else
		EVP_PKEY_free(k);
	return x;
}

static char *req_to_pem(X509_REQ *req)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *s = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509_REQ(b, req)) {
		n = BIO_get_mem_data(b, &data);
		s = strndup(data, (size_t)n);
	}
	BIO_free(b);
	return s;
}

static X509_REQ *pem_to_req(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return req;
}

/* A CSR built directly with OpenSSL, for key types and digests pki_csr_new() refuses. */
static char *raw_csr(EVP_PKEY *k, const EVP_MD *md)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	char *pem = NULL;

	if (req && n &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"x", -1, -1, 0) &&
	    X509_REQ_set_subject_name(req, n) && X509_REQ_set_pubkey(req, k) &&
	    X509_REQ_sign(req, k, md) > 0)
		pem = req_to_pem(req);
	X509_NAME_free(n);
	X509_REQ_free(req);
	return pem;
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

T_TEST(test_ca_new)
{
	EVP_PKEY *k = NULL;
	X509 *ca = NULL;
	char *cn = NULL, *serial = NULL;
	time_t na = 0, now = time(NULL);
	char longcn[PKI_CN_MAX + 2];

	T_CHECK_INT(pki_ca_new("Garrison Console CA", 3650, &k, &ca), 0);
	T_CHECK(ca != NULL && k != NULL);
	if (ca == NULL || k == NULL)
		goto out;
	T_CHECK_INT(X509_check_ca(ca), 1);
	T_CHECK_INT(X509_self_signed(ca, 1), 1);
	T_CHECK_INT(ext_critical(ca, NID_basic_constraints), 1);
	T_CHECK_INT(ext_critical(ca, NID_key_usage), 1);
	T_CHECK(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
	T_CHECK(X509_get0_subject_key_id(ca) != NULL);
	T_CHECK_INT(X509_get_version(ca), X509_VERSION_3);
	T_CHECK_INT(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	T_CHECK_INT(pki_key_matches_cert(k, ca), 0);
	T_CHECK_INT(pki_cert_info(ca, &cn, &serial, &na), 0);
	T_CHECK_STR(cn, "Garrison Console CA");
	T_CHECK(serial != NULL && strlen(serial) >= 16 && strlen(serial) <= 34 &&
		strspn(serial, "0123456789abcdef") == strlen(serial));
	T_CHECK(na > now + 3649L * 86400 && na <= now + 3650L * 86400 + 5);
	/* Bad arguments leave the outputs NULL. */
	EVP_PKEY *k2 = (EVP_PKEY *)1;
	X509 *c2 = (X509 *)1;
	T_CHECK_INT(pki_ca_new("", 10, &k2, &c2), -EINVAL);
	T_CHECK(k2 == NULL && c2 == NULL);
	T_CHECK_INT(pki_ca_new("tab\there", 10, &k2, &c2), -EINVAL);
	T_CHECK_INT(pki_ca_new("ok", 0, &k2, &c2), -EINVAL);
	T_CHECK_INT(pki_ca_new("ok", PKI_DAYS_MAX + 1, &k2, &c2), -EINVAL);
	memset(longcn, 'a', sizeof(longcn) - 1);
	longcn[sizeof(longcn) - 1] = '\0';
	T_CHECK_INT(pki_ca_new(longcn, 10, &k2, &c2), -EINVAL);
	longcn[PKI_CN_MAX] = '\0';
	T_CHECK_INT(pki_ca_new(longcn, 10, &k2, &c2), 0);
	X509_free(c2);
	EVP_PKEY_free(k2);
	T_CHECK(ERR_peek_error() == 0);
out:
	free(cn);
	free(serial);
	X509_free(ca);
	EVP_PKEY_free(k);
}

T_TEST(test_issue_and_verify)
{
	EVP_PKEY *cak = NULL, *lk = NULL;
	X509 *ca = NULL, *srv = NULL, *cli = NULL, *cli2 = NULL;
	char *s1 = NULL, *s2 = NULL, *cn = NULL;
	const char *why = NULL;
	time_t na = 0, now = time(NULL);

	T_CHECK_INT(pki_ca_new("CA", 3650, &cak, &ca), 0);
	srv = issue(ca, cak, "console", 365, PKI_USAGE_SERVER, &lk);
	cli = issue(ca, cak, "defender:node1", 30, PKI_USAGE_CLIENT, NULL);
	cli2 = issue(ca, cak, "defender:node2", 30, PKI_USAGE_CLIENT, NULL);
	T_CHECK(srv && cli && cli2);
	if (!srv || !cli || !cli2)
		goto out;
	T_CHECK_INT(pki_verify(ca, srv, PKI_USAGE_SERVER), 0);
	T_CHECK_INT(pki_verify(ca, cli, PKI_USAGE_CLIENT), 0);
	/* Wrong purpose: the extendedKeyUsage decides. */
	T_CHECK_INT(pki_verify_why(ca, srv, PKI_USAGE_CLIENT, &why), -EACCES);
	T_CHECK(why != NULL);
	T_CHECK_INT(pki_verify(ca, cli, PKI_USAGE_SERVER), -EACCES);
	/* The CA itself is not a leaf of either kind. */
	T_CHECK_INT(pki_verify(ca, ca, PKI_USAGE_CLIENT), -EACCES);
	T_CHECK_INT(pki_verify(ca, ca, PKI_USAGE_SERVER), -EACCES);
	/* Not even a CA that also claims clientAuth and digitalSignature. */
	X509 *evil = X509_dup(ca);
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	T_CHECK(evil && ku && eku && ASN1_BIT_STRING_set_bit(ku, 0, 1) &&
		ASN1_BIT_STRING_set_bit(ku, 5, 1) &&
		sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) &&
		X509_add1_ext_i2d(evil, NID_key_usage, ku, 1, X509V3_ADD_REPLACE) == 1 &&
		X509_add1_ext_i2d(evil, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1 &&
		X509_sign(evil, cak, EVP_sha256()) > 0);
	T_CHECK_INT(pki_verify(evil, evil, PKI_USAGE_CLIENT), -EACCES);
	/* Control: the same CA does issue valid client certificates. */
	X509 *from_evil = issue(evil, cak, "x", 1, PKI_USAGE_CLIENT, NULL);
	T_CHECK(from_evil != NULL && pki_verify(evil, from_evil, PKI_USAGE_CLIENT) == 0);
	X509_free(from_evil);
	sk_ASN1_OBJECT_free(eku);
	ASN1_BIT_STRING_free(ku);
	X509_free(evil);
	T_CHECK_INT(pki_verify(NULL, cli, PKI_USAGE_CLIENT), -EINVAL);
	T_CHECK_INT(pki_verify(ca, cli, (enum pki_usage)7), -EINVAL);

	T_CHECK(X509_get_extended_key_usage(srv) == XKU_SSL_SERVER);
	T_CHECK(X509_get_extended_key_usage(cli) == XKU_SSL_CLIENT);
	T_CHECK(X509_get_key_usage(cli) == KU_DIGITAL_SIGNATURE);
	T_CHECK_INT(ext_critical(cli, NID_basic_constraints), 1);
	T_CHECK_INT(X509_check_ca(cli), 0);
	T_CHECK_INT(pki_key_matches_cert(lk, srv), 0);
	T_CHECK_INT(pki_key_matches_cert(lk, cli), -EACCES);
	T_CHECK_INT(pki_key_matches_cert(cak, srv), -EACCES);
	/* authorityKeyIdentifier = the CA's subjectKeyIdentifier. */
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(cli);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	T_CHECK(aki != NULL && ski != NULL && ASN1_OCTET_STRING_cmp(aki, ski) == 0);
	T_CHECK(X509_get0_subject_key_id(cli) != NULL);
	T_CHECK_INT(X509_check_issued(ca, cli), X509_V_OK);
	/* notBefore is backdated; notAfter is now+days. */
	T_CHECK(X509_cmp_time(X509_get0_notBefore(cli), &(time_t){ now - 200 }) < 0);
	T_CHECK_INT(pki_cert_info(cli, &cn, &s1, &na), 0);
	T_CHECK_STR(cn, "defender:node1");
	T_CHECK(na > now + 29L * 86400 && na <= now + 30L * 86400 + 5);
	T_CHECK_INT(pki_cert_info(cli2, NULL, &s2, NULL), 0);
	T_CHECK(s1 != NULL && s2 != NULL && strcmp(s1, s2) != 0);
	T_CHECK(ERR_peek_error() == 0);
out:
	free(s1);
	free(s2);
	free(cn);
	X509_free(srv);
	X509_free(cli);
	X509_free(cli2);
	X509_free(ca);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(cak);
}

T_TEST(test_san_entries)
{
	static const char *const sans[] = { "console.example.com", "127.0.0.1", "::1",
					    "*.garrison.svc" };
	static const unsigned char lo6[16] = { [15] = 1 };
	static const unsigned char lo4[4] = { 127, 0, 0, 1 };
	EVP_PKEY *cak = NULL, *k = NULL;
	X509 *ca = NULL, *x = NULL, *bad = NULL;
	GENERAL_NAMES *gens = NULL;
	int dns = 0, ip4 = 0, ip6 = 0, wild = 0;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_issue(ca, cak, k, "console", sans, ARRAY_SIZE(sans), 30, PKI_USAGE_SERVER, &x),
		    0);
	if (x == NULL)
		goto out;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	T_CHECK(gens != NULL);
	T_CHECK_INT(gens ? sk_GENERAL_NAME_num(gens) : -1, 4);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
		const unsigned char *d = ASN1_STRING_get0_data(v);
		int n = ASN1_STRING_length(v);

		if (type == GEN_DNS && n == 19 && memcmp(d, "console.example.com", 19) == 0)
			dns++;
		else if (type == GEN_DNS && n == 14 && memcmp(d, "*.garrison.svc", 14) == 0)
			wild++;
		else if (type == GEN_IPADD && n == 4 && memcmp(d, lo4, 4) == 0)
			ip4++;
		else if (type == GEN_IPADD && n == 16 && memcmp(d, lo6, 16) == 0)
			ip6++;
	}
	T_CHECK(dns == 1 && ip4 == 1 && ip6 == 1 && wild == 1);
	/* The hostname check TLS clients use agrees. */
	T_CHECK_INT(X509_check_host(x, "console.example.com", 0, 0, NULL), 1);
	T_CHECK_INT(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	T_CHECK_INT(X509_check_host(x, "other.example.com", 0, 0, NULL), 0);
	T_CHECK_INT(pki_verify(ca, x, PKI_USAGE_SERVER), 0);

	/* Entries that are neither IP literals nor DNS names are refused. */
	static const char *const bad_sans[][1] = { { "" },	     { "two words" }, { "a,b" },
						   { "-lead.x" }, { "a..b" },	      { "x\n" },
						   { "DNS:x" },	  { "1.2.3.4/8" } };
	for (size_t i = 0; i < ARRAY_SIZE(bad_sans); i++) {
		T_CHECK_INT(pki_issue(ca, cak, k, "c", bad_sans[i], 1, 30, PKI_USAGE_SERVER, &bad),
			    -EINVAL);
		T_CHECK(bad == NULL);
	}
	const char *nul_entry[1] = { NULL };
	T_CHECK_INT(pki_issue(ca, cak, k, "c", nul_entry, 1, 30, PKI_USAGE_SERVER, &bad), -EINVAL);
	const char *many[PKI_SANS_MAX + 1];
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "n.example";
	T_CHECK_INT(pki_issue(ca, cak, k, "c", many, PKI_SANS_MAX + 1, 30, PKI_USAGE_SERVER, &bad),
		    -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "c", many, PKI_SANS_MAX, 30, PKI_USAGE_SERVER, &bad), 0);
	X509_free(bad);
	T_CHECK(ERR_peek_error() == 0);
out:
	GENERAL_NAMES_free(gens);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

T_TEST(test_foreign_ca)
{
	EVP_PKEY *ka = NULL, *kb = NULL;
	X509 *a = NULL, *b = NULL, *xa = NULL, *xb = NULL;
	const char *why = NULL;

	/* Same subject name on purpose: only the signature tells them apart. */
	T_CHECK_INT(pki_ca_new("Garrison CA", 30, &ka, &a), 0);
	T_CHECK_INT(pki_ca_new("Garrison CA", 30, &kb, &b), 0);
	xa = issue(a, ka, "defender:x", 30, PKI_USAGE_CLIENT, NULL);
	xb = issue(b, kb, "defender:x", 30, PKI_USAGE_CLIENT, NULL);
	T_CHECK(xa && xb);
	if (!xa || !xb)
		goto out;
	T_CHECK_INT(pki_verify(a, xa, PKI_USAGE_CLIENT), 0);
	T_CHECK_INT(pki_verify(b, xb, PKI_USAGE_CLIENT), 0);
	T_CHECK_INT(pki_verify_why(a, xb, PKI_USAGE_CLIENT, &why), -EACCES);
	T_CHECK(why != NULL);
	T_CHECK_INT(pki_verify(b, xa, PKI_USAGE_CLIENT), -EACCES);
	/* A CA key that does not belong to the CA certificate cannot issue. */
	EVP_PKEY *k = NULL;
	X509 *x = (X509 *)1;
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_issue(a, kb, k, "x", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK(x == NULL);
	/* A leaf cannot act as a CA. */
	T_CHECK_INT(pki_issue(xa, ka, k, "x", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	EVP_PKEY_free(k);
	T_CHECK(ERR_peek_error() == 0);
out:
	X509_free(xa);
	X509_free(xb);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
}

T_TEST(test_expired)
{
	EVP_PKEY *cak = NULL, *shortk = NULL;
	X509 *ca = NULL, *old = NULL, *fresh = NULL, *shortca = NULL, *capped = NULL;
	const char *why = NULL;
	time_t na = 0, ca_na = 0, now = time(NULL);

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	old = issue(ca, cak, "old", -1, PKI_USAGE_CLIENT, NULL);
	fresh = issue(ca, cak, "fresh", 1, PKI_USAGE_CLIENT, NULL);
	T_CHECK(old && fresh);
	if (!old || !fresh)
		goto out;
	T_CHECK_INT(pki_cert_info(old, NULL, NULL, &na), 0);
	T_CHECK(na < now);
	T_CHECK_INT(pki_verify(ca, fresh, PKI_USAGE_CLIENT), 0);
	T_CHECK_INT(pki_verify_why(ca, old, PKI_USAGE_CLIENT, &why), -EACCES);
	T_CHECK(why != NULL && strstr(why, "expired") != NULL);
	/* A leaf never outlives its CA. */
	T_CHECK_INT(pki_ca_new("short CA", 2, &shortk, &shortca), 0);
	capped = issue(shortca, shortk, "capped", 365, PKI_USAGE_CLIENT, NULL);
	T_CHECK(capped != NULL);
	if (capped != NULL) {
		T_CHECK_INT(pki_cert_info(capped, NULL, NULL, &na), 0);
		T_CHECK_INT(pki_cert_info(shortca, NULL, NULL, &ca_na), 0);
		T_CHECK(na == ca_na);
		T_CHECK_INT(pki_verify(shortca, capped, PKI_USAGE_CLIENT), 0);
	}
	T_CHECK(ERR_peek_error() == 0);
out:
	X509_free(capped);
	X509_free(shortca);
	EVP_PKEY_free(shortk);
	X509_free(old);
	X509_free(fresh);
	X509_free(ca);
	EVP_PKEY_free(cak);
}

T_TEST(test_issue_bad_args)
{
	EVP_PKEY *cak = NULL, *k = NULL, *rsa = NULL;
	X509 *ca = NULL, *x = NULL;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_key_new(&k), 0);
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	T_CHECK(rsa != NULL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 0, 30, PKI_USAGE_CLIENT, &x), 0);
	X509_free(x);
	T_CHECK_INT(pki_issue(ca, cak, rsa, "ok", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 0, 0, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 0, PKI_DAYS_MAX + 1, PKI_USAGE_CLIENT, &x),
		    -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 0, 30, (enum pki_usage)9, &x), -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "bad\x01", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 1, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK_INT(pki_issue(NULL, cak, k, "ok", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK_INT(pki_issue(ca, NULL, k, "ok", NULL, 0, 30, PKI_USAGE_CLIENT, &x), -EINVAL);
	T_CHECK(x == NULL);
	T_CHECK_INT(pki_issue(ca, cak, k, "ok", NULL, 0, 30, PKI_USAGE_CLIENT, NULL), -EINVAL);
	T_CHECK(ERR_peek_error() == 0);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(k);
	X509_free(ca);
	EVP_PKEY_free(cak);
}

T_TEST(test_csr_round_trip)
{
	EVP_PKEY *cak = NULL, *k = NULL, *other = NULL;
	X509 *ca = NULL, *x = NULL;
	char *csr = NULL, *cn = NULL;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_key_new(&other), 0);
	T_CHECK_INT(pki_csr_new(k, "I am the console", &csr), 0);
	T_CHECK(csr != NULL && strncmp(csr, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
	T_CHECK_INT(pki_csr_sign(ca, cak, csr, "defender:node7", 90, &x), 0);
	if (x == NULL)
		goto out;
	/* The Console's name wins over the one in the request. */
	T_CHECK_INT(pki_cert_info(x, &cn, NULL, NULL), 0);
	T_CHECK_STR(cn, "defender:node7");
	T_CHECK_INT(pki_key_matches_cert(k, x), 0);
	T_CHECK_INT(pki_key_matches_cert(other, x), -EACCES);
	T_CHECK_INT(pki_verify(ca, x, PKI_USAGE_CLIENT), 0);
	T_CHECK_INT(pki_verify(ca, x, PKI_USAGE_SERVER), -EACCES);
	T_CHECK(X509_get_ext_by_NID(x, NID_subject_alt_name, -1) < 0);
	/* Enrollment refuses a request for the key the Defender connected with (the bundle's). */
	X509 *x2 = (X509 *)1;
	T_CHECK_INT(pki_csr_sign_fresh(ca, cak, csr, "n", 30, k, &x2), -EACCES);
	T_CHECK(x2 == NULL);
	T_CHECK_INT(pki_csr_sign_fresh(ca, cak, csr, "n", 30, other, &x2), 0);
	T_CHECK(x2 != NULL && pki_key_matches_cert(k, x2) == 0);
	X509_free(x2);
	free(csr);
	T_CHECK_INT(pki_csr_new(k, "", &csr), -EINVAL);
	T_CHECK(csr == NULL);
	T_CHECK(ERR_peek_error() == 0);
out:
	free(cn);
	free(csr);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(other);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

T_TEST(test_csr_forged)
{
	EVP_PKEY *cak = NULL, *k = NULL, *victim = NULL;
	X509 *ca = NULL, *x = NULL;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	char *csr = NULL, *tampered = NULL, *swapped = NULL;
	int n;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_key_new(&k), 0);
	T_CHECK_INT(pki_key_new(&victim), 0);
	T_CHECK_INT(pki_csr_new(k, "x", &csr), 0);
	if (csr == NULL)
		goto out;
	/* Control: the untouched request is accepted. */
	T_CHECK_INT(pki_csr_sign(ca, cak, csr, "n", 30, &x), 0);
	X509_free(x);
	x = NULL;

	/* Flip a bit in the last byte of the signature (still valid DER). */
	req = pem_to_req(csr);
	n = req ? i2d_X509_REQ(req, &der) : -1;
	T_CHECK(n > 0);
	X509_REQ_free(req);
	req = NULL;
	if (n > 0) {
		der[n - 1] ^= 0x01;
		p = der;
		req = d2i_X509_REQ(NULL, &p, n);
		T_CHECK(req != NULL);
		tampered = req ? req_to_pem(req) : NULL;
		X509_REQ_free(req);
		req = NULL;
	}
	T_CHECK(tampered != NULL && strcmp(tampered, csr) != 0);
	T_CHECK_INT(pki_csr_sign(ca, cak, tampered, "n", 30, &x), -EACCES);
	T_CHECK(x == NULL);

	/* Someone else's public key under our signature: no proof of possession. */
	req = pem_to_req(csr);
	if (req != NULL && X509_REQ_set_pubkey(req, victim))
		swapped = req_to_pem(req);
	T_CHECK(swapped != NULL);
	T_CHECK_INT(pki_csr_sign(ca, cak, swapped, "n", 30, &x), -EACCES);
	T_CHECK(x == NULL);
	T_CHECK(ERR_peek_error() == 0);
out:
	X509_REQ_free(req);
	OPENSSL_free(der);
	free(csr);
	free(tampered);
	free(swapped);
	X509_free(ca);
	EVP_PKEY_free(victim);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

T_TEST(test_csr_wrong_key_type)
{
	EVP_PKEY *cak = NULL, *rsa, *p384, *p256 = NULL;
	X509 *ca = NULL, *x = NULL;
	char *c_rsa = NULL, *c_384 = NULL, *c_sha1 = NULL, *c_ok = NULL, *pem = NULL;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	T_CHECK_INT(pki_key_new(&p256), 0);
	T_CHECK(rsa && p384 && p256);
	if (!rsa || !p384 || !p256)
		goto out;
	c_rsa = raw_csr(rsa, EVP_sha256());
	c_384 = raw_csr(p384, EVP_sha256());
	c_sha1 = raw_csr(p256, EVP_sha1());
	c_ok = raw_csr(p256, EVP_sha256());
	T_CHECK(c_rsa && c_384 && c_sha1 && c_ok);
	/* Control: the same construction with a P-256 key and SHA-256 passes. */
	T_CHECK_INT(pki_csr_sign(ca, cak, c_ok, "n", 30, &x), 0);
	X509_free(x);
	x = NULL;
	T_CHECK_INT(pki_csr_sign(ca, cak, c_rsa, "n", 30, &x), -EINVAL);
	T_CHECK_INT(pki_csr_sign(ca, cak, c_384, "n", 30, &x), -EINVAL);
	T_CHECK_INT(pki_csr_sign(ca, cak, c_sha1, "n", 30, &x), -EINVAL);
	T_CHECK(x == NULL);
	/* The other entry points refuse those keys too. */
	T_CHECK_INT(pki_csr_new(rsa, "x", &pem), -EINVAL);
	T_CHECK_INT(pki_csr_new(p384, "x", &pem), -EINVAL);
	T_CHECK_INT(pki_key_to_pem(rsa, &pem), -EINVAL);
	T_CHECK(pem == NULL);
	T_CHECK(ERR_peek_error() == 0);
out:
	free(c_rsa);
	free(c_384);
	free(c_sha1);
	free(c_ok);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p256);
	X509_free(ca);
	EVP_PKEY_free(cak);
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

T_TEST(test_pem_garbage)
{
	EVP_PKEY *cak = NULL, *k = NULL, *rsa = NULL;
	X509 *ca = NULL, *x = NULL;
	char *cert_pem = NULL, *key_pem = NULL, *csr_pem = NULL, *tmp = NULL, *big = NULL;
	BIO *b = NULL;

	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_cert_to_pem(ca, &cert_pem), 0);
	T_CHECK_INT(pki_key_to_pem(cak, &key_pem), 0);
	T_CHECK_INT(pki_csr_new(cak, "x", &csr_pem), 0);
	if (!cert_pem || !key_pem || !csr_pem)
		goto out;
	/* Controls: the genuine PEMs parse, with whitespace around them too. */
	T_CHECK_INT(pki_cert_from_pem(cert_pem, &x), 0);
	T_CHECK(x != NULL && X509_cmp(x, ca) == 0);
	X509_free(x);
	x = NULL;
	tmp = concat("\n  ", cert_pem);
	T_CHECK_INT(pki_cert_from_pem(tmp, &x), 0);
	X509_free(x);
	x = NULL;
	free(tmp);
	T_CHECK_INT(pki_key_from_pem(key_pem, &k), 0);
	T_CHECK_INT(pki_key_matches_cert(k, ca), 0);
	EVP_PKEY_free(k);
	k = NULL;

	static const char *const junk[] = {
		"",
		"garbage",
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnRl\n",
		"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
		"-----END PRIVATE KEY-----\n",
		"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(junk); i++) {
		x = (X509 *)1;
		k = (EVP_PKEY *)1;
		T_CHECK_INT(pki_cert_from_pem(junk[i], &x), -EINVAL);
		T_CHECK(x == NULL);
		T_CHECK_INT(pki_key_from_pem(junk[i], &k), -EINVAL);
		T_CHECK(k == NULL);
		T_CHECK_INT(pki_csr_sign(ca, cak, junk[i], "n", 30, &x), -EINVAL);
		T_CHECK(x == NULL);
	}
	T_CHECK_INT(pki_cert_from_pem(NULL, &x), -EINVAL);
	/* The right PEM in the wrong place. */
	T_CHECK_INT(pki_cert_from_pem(key_pem, &x), -EINVAL);
	T_CHECK_INT(pki_cert_from_pem(csr_pem, &x), -EINVAL);
	T_CHECK_INT(pki_key_from_pem(cert_pem, &k), -EINVAL);
	T_CHECK_INT(pki_csr_sign(ca, cak, cert_pem, "n", 30, &x), -EINVAL);
	/* Exactly one block: no second certificate, no trailing or leading text. */
	tmp = concat(cert_pem, cert_pem);
	T_CHECK_INT(pki_cert_from_pem(tmp, &x), -EINVAL);
	free(tmp);
	tmp = concat(cert_pem, "trailing junk\n");
	T_CHECK_INT(pki_cert_from_pem(tmp, &x), -EINVAL);
	free(tmp);
	tmp = concat("leading junk\n", cert_pem);
	T_CHECK_INT(pki_cert_from_pem(tmp, &x), -EINVAL);
	free(tmp);
	/* Truncated in the middle of the body. */
	tmp = strndup(cert_pem, strlen(cert_pem) / 2);
	T_CHECK_INT(pki_cert_from_pem(tmp, &x), -EINVAL);
	free(tmp);
	tmp = NULL;
	T_CHECK(x == NULL);
	/* Larger than PKI_PEM_MAX: refused before parsing. */
	big = malloc(PKI_PEM_MAX + 2);
	if (big != NULL) {
		size_t n = strlen(cert_pem);
		memset(big, '\n', PKI_PEM_MAX + 1);
		memcpy(big + PKI_PEM_MAX + 1 - n, cert_pem, n);
		big[PKI_PEM_MAX + 1] = '\0';
		T_CHECK_INT(pki_cert_from_pem(big, &x), -EINVAL);
		/* One byte less fits. */
		T_CHECK_INT(pki_cert_from_pem(big + 1, &x), 0);
		X509_free(x);
		x = NULL;
	}
	/* An encrypted key fails without asking for a passphrase; an RSA key is refused. */
	b = BIO_new(BIO_s_mem());
	if (b && PEM_write_bio_PrivateKey_traditional(b, cak, EVP_aes_256_cbc(),
						      (unsigned char *)"pw", 2, NULL, NULL)) {
		char *data = NULL;
		long n = BIO_get_mem_data(b, &data);
		tmp = strndup(data, (size_t)n);
	}
	T_CHECK(tmp != NULL && strstr(tmp, "ENCRYPTED") != NULL);
	T_CHECK_INT(pki_key_from_pem(tmp, &k), -EINVAL);
	free_pem(tmp);
	tmp = NULL;
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (b && rsa && PEM_write_bio_PrivateKey(b, rsa, NULL, NULL, 0, NULL, NULL)) {
		char *data = NULL;
		long n = BIO_get_mem_data(b, &data);
		tmp = strndup(data, (size_t)n);
	}
	T_CHECK(tmp != NULL);
	T_CHECK_INT(pki_key_from_pem(tmp, &k), -EINVAL);
	T_CHECK(k == NULL);
	free_pem(tmp);
	T_CHECK(ERR_peek_error() == 0);
out:
	BIO_free(b);
	free(big);
	free(cert_pem);
	free_pem(key_pem);
	free(csr_pem);
	EVP_PKEY_free(rsa);
	X509_free(ca);
	EVP_PKEY_free(cak);
}

T_TEST(test_files)
{
	char dir[] = "/tmp/garrison-test-pki-XXXXXX", kpath[64], cpath[64], bpath[64];
	EVP_PKEY *cak = NULL, *k2 = NULL;
	X509 *ca = NULL, *c2 = NULL;
	struct stat st;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.crt", dir);
	snprintf(bpath, sizeof(bpath), "%s/big.crt", dir);
	T_CHECK_INT(pki_ca_new("CA", 30, &cak, &ca), 0);
	T_CHECK_INT(pki_key_save(kpath, cak), 0);
	T_CHECK_INT(pki_cert_save(cpath, ca), 0);
	T_CHECK(stat(kpath, &st) == 0 && (st.st_mode & 0777) == 0600);
	T_CHECK(stat(cpath, &st) == 0 && (st.st_mode & 0777) == 0644);
	T_CHECK_INT(pki_key_load(kpath, &k2), 0);
	T_CHECK_INT(pki_cert_load(cpath, &c2), 0);
	T_CHECK(c2 != NULL && X509_cmp(c2, ca) == 0);
	T_CHECK(k2 != NULL && c2 != NULL && pki_key_matches_cert(k2, c2) == 0);
	EVP_PKEY_free(k2);
	X509_free(c2);
	/* Wrong kinds, missing and oversized files (the certificate made private first, so that the
	 * key loader has no permissions to warn about). */
	T_CHECK(chmod(cpath, 0600) == 0);
	T_CHECK_INT(pki_key_load(cpath, &k2), -EINVAL);
	T_CHECK_INT(pki_cert_load(kpath, &c2), -EINVAL);
	T_CHECK_INT(pki_cert_load("/nonexistent/garrison/ca.crt", &c2), -ENOENT);
	char *big = calloc(1, PKI_PEM_MAX + 10);
	if (big != NULL) {
		memset(big, ' ', PKI_PEM_MAX + 9);
		T_CHECK_INT(util_write_file(bpath, big, PKI_PEM_MAX + 9, 0644), 0);
		T_CHECK_INT(pki_cert_load(bpath, &c2), -EFBIG);
		free(big);
	}
	T_CHECK(c2 == NULL && k2 == NULL);
	T_CHECK(ERR_peek_error() == 0);
	unlink(kpath);
	unlink(cpath);
	unlink(bpath);
	rmdir(dir);
	X509_free(ca);
	EVP_PKEY_free(cak);
}

T_MAIN(T_CASE(test_ca_new), T_CASE(test_issue_and_verify), T_CASE(test_san_entries),
       T_CASE(test_foreign_ca), T_CASE(test_expired), T_CASE(test_issue_bad_args),
       T_CASE(test_csr_round_trip), T_CASE(test_csr_forged), T_CASE(test_csr_wrong_key_type),
       T_CASE(test_pem_garbage), T_CASE(test_files))
