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

static void basic_digest(const char *cred, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;

	pthread_mutex_lock(&basic_mu);
	if (!basic_salt_set) {
		util_random(basic_salt, sizeof(basic_salt));
		basic_salt_set = 1;
	}
	pthread_mutex_unlock(&basic_mu);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, basic_salt, sizeof(basic_salt));
	EVP_DigestUpdate(md, cred, len);
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
}

/* ---- the password worker -------------------------------------------------------------------
 * scrypt takes a sizeable fraction of a second by design; running it on the API loop would stall
 * every other request. A job carries the request to one worker thread and comes back to the loop
 * through event_base_once(). If the client goes away meanwhile, the connection's close callback
 * marks the job cancelled and the completion only frees it. The queue is bounded: past
 * PW_QUEUE_MAX pending checks, requests get 503 at once. */
#define PW_QUEUE_MAX 256

struct pw_job {
	struct pw_job *next;
	struct api_req *r;
	char user[128];
	char *password;
	size_t pwlen;
	unsigned char digest[SHA256_DIGEST_LENGTH]; /* Basic: the cache key */
	int basic;      /* 1: Basic credentials, then run the handler; 0: POST authenticate */
	int result;
	int cancelled;
};

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pw_job *head, *tail;
	size_t n;
	int stop, running;
	struct event_base *base;
} pw = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void pw_job_free(struct pw_job *j)
{
	if (j->password) {
		OPENSSL_cleanse(j->password, j->pwlen);
		free(j->password);
	}
	free(j);
}

static void pw_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct pw_job *j = arg;

	(void)evcon;
	j->cancelled = 1;
}

static void pw_done(evutil_socket_t fd, short what, void *arg)
{
	struct pw_job *j = arg;
	struct api_req *r = j->r;
	char *token = NULL;

	(void)fd;
	(void)what;
	if (j->cancelled) {
		api_req_free(r);
		pw_job_free(j);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), NULL, NULL);
	if (j->result < 0) {
		log_warn("api: failed login for user \"%.64s\"", j->user);
		if (j->basic)
			api_unauthorized(r);
		else
			api_error(r, 401, "invalid credentials");
	} else if (j->basic) {
		time_t now = time(NULL);
		pthread_mutex_lock(&basic_mu);
		int slot = (int)(j->digest[0] % BASIC_CACHE_SLOTS);
		memcpy(basic_cache[slot].digest, j->digest, sizeof(j->digest));
		basic_cache[slot].expires = now + BASIC_CACHE_TTL;
		pthread_mutex_unlock(&basic_mu);
		snprintf(r->user, sizeof(r->user), "%s", j->user);
		r->handler(r);
		if (r->deferred)
			r = NULL;
	} else if (auth_token_new(r->c, j->user, &token) < 0) {
		api_error(r, 500, "cannot create a token");
	} else {
		api_reply_json(r, 200, json_pack("{s:s}", "token", token));
		free(token);
	}
	api_req_free(r);
	pw_job_free(j);
}

static void *pw_main(void *arg)
{
	static const struct timeval now = { 0, 0 };

	(void)arg;
	pthread_mutex_lock(&pw.mu);
	for (;;) {
		struct pw_job *j;

		while (pw.head == NULL && !pw.stop)
			pthread_cond_wait(&pw.cv, &pw.mu);
		if (pw.stop)
			break;
		j = pw.head;
		pw.head = j->next;
		if (pw.head == NULL)
			pw.tail = NULL;
		pw.n--;
		pthread_mutex_unlock(&pw.mu);
		j->result = auth_check_password(j->r->c, j->user, j->password);
		if (event_base_once(pw.base, -1, EV_TIMEOUT, pw_done, j, &now) < 0)
			log_error("api: cannot complete a login");
		pthread_mutex_lock(&pw.mu);
	}
	pthread_mutex_unlock(&pw.mu);
	return NULL;
}

int auth_worker_start(struct event_base *base)
{
	pw.base = base;
	pw.stop = 0;
	if (pthread_create(&pw.thread, NULL, pw_main, NULL) != 0)
		return -EAGAIN;
	pw.running = 1;
	return 0;
}

void auth_worker_stop(void)
{
	if (!pw.running)
		return;
	pthread_mutex_lock(&pw.mu);
	pw.stop = 1;
	pthread_cond_signal(&pw.cv);
	pthread_mutex_unlock(&pw.mu);
	pthread_join(pw.thread, NULL);
	pw.running = 0;
	while (pw.head) {
		struct pw_job *j = pw.head;
		pw.head = j->next;
		api_req_free(j->r);
		pw_job_free(j);
	}
	pw.tail = NULL;
	pw.n = 0;
}

/* Queues a password check for r. 0 (r is owned by the worker now) or -EBUSY / -ENOMEM. */
static int pw_submit(struct api_req *r, const char *user, const char *password, size_t pwlen,
		     const unsigned char *digest)
{
	struct pw_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	j->password = malloc(pwlen + 1);
	if (j->password == NULL) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->password, password, pwlen);
	j->password[pwlen] = '\0';
	j->pwlen = pwlen;
	snprintf(j->user, sizeof(j->user), "%s", user);
	j->r = r;
	j->basic = digest != NULL;
	if (digest)
		memcpy(j->digest, digest, sizeof(j->digest));
	pthread_mutex_lock(&pw.mu);
	if (pw.n >= PW_QUEUE_MAX || !pw.running) {
		pthread_mutex_unlock(&pw.mu);
		pw_job_free(j);
		return -EBUSY;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), pw_on_close, j);
	if (pw.tail)
		pw.tail->next = j;
	else
		pw.head = j;
	pw.tail = j;
	pw.n++;
	pthread_cond_signal(&pw.cv);
	pthread_mutex_unlock(&pw.mu);
	return 0;
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
	if (colon == NULL || strlen((char *)raw) != len || colon - (char *)raw >= 120) {
		OPENSSL_cleanse(raw, len);
		free(raw);
		return -EACCES;
	}
	basic_digest((char *)raw, len, d);
	pthread_mutex_lock(&basic_mu);
	for (int i = 0; i < BASIC_CACHE_SLOTS; i++)
		if (basic_cache[i].expires > now &&
		    CRYPTO_memcmp(basic_cache[i].digest, d, sizeof(d)) == 0)
			hit = 1;
	pthread_mutex_unlock(&basic_mu);
	*colon = '\0';
	if (hit) {
		snprintf(r->user, sizeof(r->user), "%s", (char *)raw);
		rc = 0;
	} else {
		rc = pw_submit(r, (char *)raw, colon + 1, strlen(colon + 1), d);
		if (rc == 0)
			rc = AUTH_DEFERRED;
		else
			rc = -EACCES;
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
	const char *user, *pw_;
	int rc;

	if (api_body_json(r, &body) < 0)
		return;
	user = json_string_value(json_object_get(body, "username"));
	pw_ = json_string_value(json_object_get(body, "password"));
	if (user == NULL || pw_ == NULL) {
		api_error(r, 400, "username and password are required strings");
		goto out;
	}
	if (strlen(user) >= 120) {
		api_error(r, 401, "invalid credentials");
		goto out;
	}
	rc = pw_submit(r, user, pw_, strlen(pw_), NULL);
	if (rc == -EBUSY)
		api_error(r, 503, "too many logins in progress; try again");
	else if (rc < 0)
		api_error(r, 500, "cannot check the credentials");
	else
		r->deferred = 1;
out:
	json_decref(body);
}
