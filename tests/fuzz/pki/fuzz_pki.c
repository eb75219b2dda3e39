/*
 * fuzz_pki: the PEM readers of the pki module on arbitrary bytes, as one NUL-terminated string:
 * pki_cert_from_pem(), pki_key_from_pem() and pki_csr_sign() (the Console signing a Defender's
 * enrollment CSR, with a CA made once at start). Every input goes to all three, so a seed of one
 * kind also probes the others' label checks.
 *
 * What gets parsed is then used the way Garrison uses it, and the results are checked:
 *  - a certificate: pki_cert_info(), pki_verify_why() against the CA, the CA and self-signature
 *    checks bundle_decode() makes, and a PEM round trip that must give the same certificate;
 *  - a key: it must be P-256 with a named curve, not explicit parameters (pki_key_to_pem()
 *    accepts it), must not match the CA's certificate, and survives a round trip;
 *  - a CSR that is signed: its key must be a named-curve P-256 key, and the certificate must
 *    verify as a client certificate of the CA and carry the CN the Console chose, never one from
 *    the request.
 *
 * Seeds: GARRISON_FUZZ_WRITE_SEEDS=DIR build/fuzz/pki writes a CA, a leaf, a key and a CSR made
 * by this module into DIR and exits; tests/fuzz/README.md lists the other seeds and how they were
 * made with the openssl command.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <garrison/log.h>
#include <garrison/pki.h>

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

#define FUZZ_CN "fuzz-host.example"

static X509 *ca;
static EVP_PKEY *ca_key;

static void use_cert(X509 *c)
{
	char *cn = NULL, *serial = NULL, *pem = NULL;
	const char *why = NULL;
	time_t na = 0;
	X509 *back = NULL;

	if (pki_cert_info(c, &cn, &serial, &na) == 0) {
		/* both were asked for */
		BROKEN_IF(cn == NULL || serial == NULL || serial[0] == '\0');
	} else {
		BROKEN_IF(cn != NULL || serial != NULL); /* outputs are NULL on failure */
	}
	free(cn);
	free(serial);
	(void)pki_cert_info(c, NULL, NULL, &na);
	BROKEN_IF(pki_verify_why(ca, c, PKI_USAGE_CLIENT, &why) != 0 && why == NULL);
	(void)pki_verify(ca, c, PKI_USAGE_SERVER);
	(void)X509_check_ca(c);
	(void)X509_self_signed(c, 1);
	if (pki_cert_to_pem(c, &pem) == 0) {
		/* what we write we must read back identically */
		BROKEN_IF(pki_cert_from_pem(pem, &back) != 0 || X509_cmp(c, back) != 0);
		X509_free(back);
		free(pem);
	}
}

/* pki.c promises to refuse P-256 keys given with explicit curve parameters (the shape of
 * CVE-2020-0601); OpenSSL still names their group, so ask for the encoding itself. */
static void check_named_curve(EVP_PKEY *k)
{
	char enc[32] = "";
	size_t len = 0;

	/* an explicit-parameters key got through */
	(void)EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), &len);
	BROKEN_IF(strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0);
}

static void use_key(EVP_PKEY *k)
{
	char *pem = NULL;
	EVP_PKEY *back = NULL;

	check_named_curve(k);

	/* only the CA's own key may match the CA; an accepted key is P-256 and must be writable */
	BROKEN_IF(pki_key_matches_cert(k, ca) == 0);
	BROKEN_IF(pki_key_to_pem(k, &pem) != 0);
	BROKEN_IF(pki_key_from_pem(pem, &back) != 0 || EVP_PKEY_eq(k, back) != 1);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	EVP_PKEY_free(back);
}

static void use_signed(X509 *c)
{
	char *cn = NULL;

	check_named_curve(X509_get0_pubkey(c));

	/* an issued certificate is ours, whatever the request said */
	BROKEN_IF(pki_verify(ca, c, PKI_USAGE_CLIENT) != 0);
	BROKEN_IF(pki_cert_info(c, &cn, NULL, NULL) != 0 || strcmp(cn, FUZZ_CN) != 0);
	free(cn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pem;
	X509 *c = NULL;
	EVP_PKEY *k = NULL;
	int r;

	pem = malloc(size + 1);
	if (pem == NULL)
		return 0;
	memcpy(pem, data, size);
	pem[size] = '\0';

	r = pki_cert_from_pem(pem, &c);
	BROKEN_IF((r == 0) != (c != NULL));
	if (c != NULL)
		use_cert(c);
	X509_free(c);
	c = NULL;

	r = pki_key_from_pem(pem, &k);
	BROKEN_IF((r == 0) != (k != NULL));
	if (k != NULL)
		use_key(k);
	EVP_PKEY_free(k);

	r = pki_csr_sign(ca, ca_key, pem, FUZZ_CN, 30, &c);
	BROKEN_IF((r == 0) != (c != NULL));
	BROKEN_IF(r < 0 && r != -EINVAL && r != -EACCES && r != -ENOMEM);
	if (c != NULL)
		use_signed(c);
	X509_free(c);

	free(pem);
	return 0;
}

/* ---- seed writer (GARRISON_FUZZ_WRITE_SEEDS) ---- */

static void seed_write(const char *dir, const char *name, char *text)
{
	char path[4096];
	FILE *f;

	if (text == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	free(text);
}

static void seeds_write(const char *dir)
{
	static const char *const sans[] = { "fuzz-host.example", "127.0.0.1", "::1" };
	EVP_PKEY *k = NULL;
	X509 *leaf = NULL;
	char *pem = NULL;

	if (pki_key_new(&k) != 0 || pki_issue(ca, ca_key, k, "garrison-fuzz-leaf", sans, 3, 30,
					      PKI_USAGE_SERVER, &leaf) != 0)
		exit(1);
	pki_cert_to_pem(ca, &pem);
	seed_write(dir, "cert-ca.pem", pem);
	pki_cert_to_pem(leaf, &pem);
	seed_write(dir, "cert-leaf-server.pem", pem);
	pki_key_to_pem(k, &pem);
	seed_write(dir, "key-p256-pkcs8.pem", pem);
	pki_csr_new(k, "anything", &pem);
	seed_write(dir, "csr-p256.pem", pem);
	X509_free(leaf);
	EVP_PKEY_free(k);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("GARRISON_FUZZ_WRITE_SEEDS");

	log_init("fuzz_pki", LOG_LVL_ERROR);
	if (pki_ca_new("garrison-fuzz-ca", 3650, &ca_key, &ca) != 0) {
		fprintf(stderr, "fuzz_pki: cannot make the CA\n");
		exit(1);
	}
	if (dir != NULL && dir[0] != '\0') {
		seeds_write(dir);
		exit(0);
	}
	return 0;
}
