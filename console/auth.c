/*
 * auth: who is calling the API. Passwords are checked against the slow salted hash in the store;
 * bearer tokens are random 256-bit values of which only the SHA-256 is stored, so a stolen
 * database holds no usable token. HTTP Basic is accepted too; a successful Basic credential is
 * remembered (as a salted digest, for a minute) so that scripts using Basic do not pay scrypt's
 * cost on every request.
 */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <garrison/log.h>
#include <garrison/passwd.h>
#include <garrison/util.h>

#define BASIC_CACHE_SLOTS 64
#define BASIC_CACHE_TTL 60

struct basic_slot {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	time_t expires;
};

static struct basic_slot basic_cache[BASIC_CACHE_SLOTS];
static unsigned char basic_salt[32];
static int basic_salt_set;
static pthread_mutex_t basic_mu = PTHREAD_MUTEX_INITIALIZER;

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";

	SHA256(data, len, d);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

int auth_check_password(struct console *c, const char *user, const char *password)
{
	char *hash = NULL;
	int r;

	if (strlen(user) > 120 || strlen(password) > 1024)
		return -EACCES;
	r = c->store->ops->user_get(c->store, user, &hash, NULL);
	if (r < 0) {
		/* Spend the same time as a real check so user names cannot be probed by timing. */
		passwd_verify_dummy(password);
		return -EACCES;
	}
	r = passwd_verify(password, hash);
	free(hash);
	return r == 0 ? 0 : -EACCES;
}

int auth_token_new(struct console *c, const char *user, char **token)
{
	char h[65];
	int r;

	*token = util_random_hex(32);
	if (*token == NULL)
		return -ENOMEM;
	sha256_hex(*token, strlen(*token), h);
	r = c->store->ops->session_put(c->store, h, user, time(NULL) + AUTH_TOKEN_TTL);
	if (r < 0) {
		free(*token);
		*token = NULL;
	}
	return r;
}

static int auth_bearer(struct api_req *r, const char *token)
{
	char h[65], *user = NULL;
	time_t expires = 0;
	size_t n = strlen(token);

	if (n == 0 || n > 256)
		return -EACCES;
	sha256_hex(token, n, h);
	if (r->c->store->ops->session_get(r->c->store, h, &user, &expires) < 0)
		return -EACCES;
	if (expires < time(NULL)) {
		free(user);
		return -EACCES;
	}
	snprintf(r->user, sizeof(r->user), "%s", user);
	free(user);
	return 0;
}

static void basic_digest(const char *cred, unsigned char out[SHA256_DIGEST_LENGTH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;

	if (!basic_salt_set) {
		util_random(basic_salt, sizeof(basic_salt));
		basic_salt_set = 1;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, basic_salt, sizeof(basic_salt));
	EVP_DigestUpdate(md, cred, strlen(cred));
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}

static int auth_basic(struct api_req *r, const char *b64)
{
	unsigned char *raw = NULL, d[SHA256_DIGEST_LENGTH];
	size_t len = 0;
	char *colon;
	time_t now = time(NULL);
	int hit = 0, rc;

	if (strlen(b64) > 2048 || util_b64_decode(b64, &raw, &len) < 0)
		return -EACCES;
	colon = memchr(raw, ':', len);
	if (colon == NULL || strlen((char *)raw) != len) {
		free(raw);
		return -EACCES;
	}
	pthread_mutex_lock(&basic_mu);
	basic_digest((char *)raw, d);
	for (int i = 0; i < BASIC_CACHE_SLOTS; i++)
		if (basic_cache[i].expires > now &&
		    CRYPTO_memcmp(basic_cache[i].digest, d, sizeof(d)) == 0)
			hit = 1;
	pthread_mutex_unlock(&basic_mu);
	*colon = '\0';
	rc = hit ? 0 : auth_check_password(r->c, (char *)raw, colon + 1);
	if (rc == 0) {
		snprintf(r->user, sizeof(r->user), "%s", (char *)raw);
		if (!hit) {
			pthread_mutex_lock(&basic_mu);
			int slot = (int)(d[0] % BASIC_CACHE_SLOTS);
			memcpy(basic_cache[slot].digest, d, sizeof(d));
			basic_cache[slot].expires = now + BASIC_CACHE_TTL;
			pthread_mutex_unlock(&basic_mu);
		}
	}
	OPENSSL_cleanse(raw, len);
	free(raw);
	return rc;
}

int auth_request(struct api_req *r)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");

	if (h == NULL)
		return -EACCES;
	if (strncasecmp(h, "Bearer ", 7) == 0)
		return auth_bearer(r, h + 7);
	if (strncasecmp(h, "Basic ", 6) == 0)
		return auth_basic(r, h + 6);
	return -EACCES;
}

void api_authenticate(struct api_req *r)
{
	json_t *body = NULL;
	const char *user, *pw;
	char *token = NULL;

	if (api_body_json(r, &body) < 0)
		return;
	user = json_string_value(json_object_get(body, "username"));
	pw = json_string_value(json_object_get(body, "password"));
	if (user == NULL || pw == NULL) {
		api_error(r, 400, "username and password are required strings");
		goto out;
	}
	if (auth_check_password(r->c, user, pw) < 0) {
		log_warn("api: failed login for user \"%.64s\"", user);
		api_error(r, 401, "invalid credentials");
		goto out;
	}
	if (auth_token_new(r->c, user, &token) < 0) {
		api_error(r, 500, "cannot create a token");
		goto out;
	}
	api_reply_json(r, 200, json_pack("{s:s}", "token", token));
out:
	free(token);
	json_decref(body);
}
