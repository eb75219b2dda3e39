/*
 * identity: the Console's own identity, created on first start and reused afterwards. The CA
 * (key and certificate) and the server certificate live as PEM files in the data directory (keys
 * mode 0600), so a restart keeps every certificate it ever issued valid. The server certificate is
 * re-issued when the requested subject alternative names change. The admin user is created once.
 */
#include "console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <garrison/bundle.h>
#include <garrison/log.h>
#include <garrison/passwd.h>
#include <garrison/pki.h>
#include <garrison/util.h>

#define CA_DAYS 3650
#define SERVER_DAYS 825
#define BUNDLE_DAYS 3650

static int load_pem_pair(const char *cert_path, const char *key_path, X509 **cert, EVP_PKEY **key)
{
	char *pem = NULL;
	int r;

	*cert = NULL;
	*key = NULL;
	r = util_read_file(cert_path, 1 << 20, &pem, NULL);
	if (r < 0)
		return r;
	r = pki_cert_from_pem(pem, cert);
	free(pem);
	if (r < 0)
		return r;
	r = util_read_file(key_path, 1 << 20, &pem, NULL);
	if (r < 0)
		goto fail;
	r = pki_key_from_pem(pem, key);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	if (r < 0)
		goto fail;
	return 0;
fail:
	X509_free(*cert);
	*cert = NULL;
	return r;
}

static int save_pem_pair(const char *cert_path, const char *key_path, X509 *cert, EVP_PKEY *key)
{
	char *pem = NULL;
	int r;

	r = pki_cert_to_pem(cert, &pem);
	if (r < 0)
		return r;
	r = util_write_file(cert_path, pem, strlen(pem), 0644);
	free(pem);
	if (r < 0)
		return r;
	r = pki_key_to_pem(key, &pem);
	if (r < 0)
		return r;
	r = util_write_file(key_path, pem, strlen(pem), 0600);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	return r;
}

/* The SAN list as one comparable string, to notice a change between starts. */
static void sans_key(const struct console *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->nsans && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "", c->sans[i]);
}

static int server_cert_init(struct console *c)
{
	char want[4096], *have = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r;

	sans_key(c, want, sizeof(want));
	if (c->store->ops->meta_get(c->store, "server_sans", &have) == 0 &&
	    strcmp(have, want) == 0 && access(c->cert_path, R_OK) == 0 &&
	    access(c->key_path, R_OK) == 0) {
		r = load_pem_pair(c->cert_path, c->key_path, &cert, &key);
		if (r == 0 && pki_verify(c->ca_cert, cert, PKI_USAGE_SERVER) == 0) {
			X509_free(cert);
			EVP_PKEY_free(key);
			free(have);
			return 0;
		}
		X509_free(cert);
		EVP_PKEY_free(key);
		cert = NULL;
		key = NULL;
	}
	free(have);
	log_info("issuing the Console server certificate for: %s", want);
	r = pki_key_new(&key);
	if (r < 0)
		goto fail;
	r = pki_issue(c->ca_cert, c->ca_key, key, c->nsans ? c->sans[0] : "garrison-console",
		      c->sans, c->nsans, SERVER_DAYS, PKI_USAGE_SERVER, &cert);
	if (r < 0)
		goto fail;
	r = save_pem_pair(c->cert_path, c->key_path, cert, key);
	if (r < 0)
		goto fail;
	r = c->store->ops->meta_set(c->store, "server_sans", want);
fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

static int admin_init(struct console *c)
{
	const char *user = getenv("GARRISON_ADMIN_USER");
	const char *pw = getenv("GARRISON_ADMIN_PASSWORD");
	char *hash = NULL, *gen = NULL, path[600];
	int r;

	if (user == NULL || user[0] == '\0')
		user = "admin";
	if (c->store->ops->user_get(c->store, user, &hash, NULL) == 0) {
		free(hash);
		return 0;
	}
	if (pw == NULL || pw[0] == '\0') {
		gen = util_random_hex(12);
		if (gen == NULL)
			return -ENOMEM;
		pw = gen;
	}
	r = passwd_hash(pw, &hash);
	if (r < 0)
		goto out;
	r = c->store->ops->user_put(c->store, user, hash, "admin");
	if (r < 0)
		goto out;
	if (gen != NULL) {
		snprintf(path, sizeof(path), "%s/initial-admin-password", c->data_dir);
		r = util_write_file(path, gen, strlen(gen), 0600);
		if (r < 0)
			goto out;
		/* Printed once, on purpose: the operator needs it to log in the first time. */
		fprintf(stdout, "Initial admin login: user %s, password %s (also in %s)\n", user, gen,
			path);
		fflush(stdout);
	}
	log_info("created the admin user %s", user);
out:
	free(hash);
	if (gen) {
		OPENSSL_cleanse(gen, strlen(gen));
		free(gen);
	}
	return r;
}

int console_bundle_current(struct console *c, char **id, char **b64)
{
	struct bundle b = { 0 };
	int r;

	if (c->store->ops->bundle_current(c->store, id, b64) == 0)
		return 0;
	r = bundle_create(c->ca_cert, c->ca_key, BUNDLE_DAYS, &b);
	if (r < 0)
		return r;
	r = bundle_encode(&b, b64);
	if (r < 0)
		goto out;
	r = c->store->ops->bundle_put(c->store, b.bundle_id, *b64);
	if (r < 0) {
		free(*b64);
		*b64 = NULL;
		goto out;
	}
	*id = strdup(b.bundle_id);
	if (*id == NULL) {
		free(*b64);
		*b64 = NULL;
		r = -ENOMEM;
	}
	log_info("created install bundle %s", b.bundle_id);
out:
	bundle_clear(&b);
	return r;
}

int console_identity_init(struct console *c)
{
	char ca_key_path[600];
	int r;

	snprintf(c->ca_path, sizeof(c->ca_path), "%s/ca.pem", c->data_dir);
	snprintf(ca_key_path, sizeof(ca_key_path), "%s/ca-key.pem", c->data_dir);
	snprintf(c->cert_path, sizeof(c->cert_path), "%s/console-cert.pem", c->data_dir);
	snprintf(c->key_path, sizeof(c->key_path), "%s/console-key.pem", c->data_dir);

	if (access(c->ca_path, F_OK) == 0) {
		r = load_pem_pair(c->ca_path, ca_key_path, &c->ca_cert, &c->ca_key);
		if (r < 0) {
			log_error("cannot load the Console CA from %s: %s", c->data_dir, strerror(-r));
			return r;
		}
	} else {
		log_info("creating the Console CA in %s", c->data_dir);
		r = pki_ca_new("Garrison Console CA", CA_DAYS, &c->ca_key, &c->ca_cert);
		if (r < 0)
			return r;
		r = save_pem_pair(c->ca_path, ca_key_path, c->ca_cert, c->ca_key);
		if (r < 0)
			return r;
	}
	r = server_cert_init(c);
	if (r < 0) {
		log_error("cannot create the Console server certificate: %s", strerror(-r));
		return r;
	}
	return admin_init(c);
}
