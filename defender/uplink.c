/*
 * uplink: the Defender end of the Defender channel (libwebsockets client, WSS with a client
 * certificate). Each attempt builds its own lws context with an OpenSSL client context that trusts
 * only the Console CA from the install bundle and presents either
 *  - the bundle's enrollment certificate, when the Defender has no identity of its own yet: it
 *    sends a CSR for a key generated here and keeps the certificate the Console returns, or
 *  - its own identity (data_dir/identity-*.pem): it says hello and sends heartbeats.
 * A Console that stops answering (no message for 3 heartbeat intervals) is dropped. Between
 * attempts it waits a jittered exponential backoff (1 s doubling to 30 s, each wait drawn from
 * [half, full]), reset after a session that got as far as "welcome".
 * Runtime (docs/protocol.md "Runtime", docs/runtime.md "Wiring"): after "welcome" it sends the
 * runtime engine's status, profiles and audits (from the oldest unacknowledged, at most
 * PROTO_RT_AUDITS_INFLIGHT messages unacknowledged), status every heartbeat; runtime-policy,
 * runtime-relearn and runtime-audits-ack go to the engine. The engine wakes the loop
 * (uplink_wake) when it has spooled audits or new profiles.
 */
#include "defender.h"
#include "scanner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <garrison/log.h>
#include <garrison/pki.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#include "inventory.h"
#include "rtengine.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define QUEUE_MAX 4096

struct uplink_msg {
	struct uplink_msg *next;
	char *text;
};

enum attempt_result {
	ATTEMPT_FAILED,    /* could not connect or TLS failed */
	ATTEMPT_ENROLLED,  /* got an identity: reconnect at once */
	ATTEMPT_SESSION,   /* was welcomed, then lost the connection */
	ATTEMPT_REFUSED,   /* the Console refused us */
};

struct session {
	struct defender *d;
	struct lws_context *ctx;
	struct lws *wsi;
	int enrolling;
	EVP_PKEY *enroll_key;       /* key whose CSR we sent */
	int done;
	enum attempt_result result;
	int welcomed;
	int heartbeat_sec;
	int64_t last_rx_ms, next_hb_ms;
	long long seq;
	unsigned char *rx;
	size_t rx_len;
	char *pending;              /* one outgoing message */
	int rt_status_due;          /* runtime-status to send */
	int64_t next_status_ms;
	lws_sorted_usec_list_t tick;
};

static int identity_present(struct defender *d)
{
	char *ca = NULL;
	int same;

	if (access(d->id_key, R_OK) != 0 || access(d->id_cert, R_OK) != 0)
		return 0;
	/* An identity from another Console (the bundle's CA changed) is not ours any more. */
	if (util_read_file(d->id_ca, PKI_PEM_MAX, &ca, NULL) < 0)
		return 0;
	same = strcmp(ca, d->bundle.ca_cert_pem) == 0;
	free(ca);
	if (!same)
		log_warn("uplink: the stored identity belongs to another Console CA; enrolling again");
	return same;
}

static SSL_CTX *client_ssl_ctx(struct defender *d, int enrolling)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	X509_STORE *st;
	int ok = 0;

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	st = SSL_CTX_get_cert_store(ctx);
	if (pki_cert_from_pem(d->bundle.ca_cert_pem, &ca) < 0 || X509_STORE_add_cert(st, ca) != 1)
		goto out;
	if (enrolling) {
		if (pki_cert_from_pem(d->bundle.enroll_cert_pem, &cert) < 0 ||
		    pki_key_from_pem(d->bundle.enroll_key_pem, &key) < 0)
			goto out;
	} else {
		if (pki_cert_load(d->id_cert, &cert) < 0 || pki_key_load(d->id_key, &key) < 0)
			goto out;
	}
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto out;
	ok = 1;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	if (!ok) {
		log_error("uplink: cannot set up TLS with the %s credentials",
			  enrolling ? "install bundle" : "stored identity");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void q_clear_locked(struct defender *d)
{
	while (d->q_head) {
		struct uplink_msg *m = d->q_head;
		d->q_head = m->next;
		free(m->text);
		free(m);
	}
	d->q_tail = NULL;
	d->q_len = 0;
}

void uplink_send(struct defender *d, json_t *msg)
{
	struct uplink_msg *m;
	char *text = json_dumps(msg, JSON_COMPACT);

	json_decref(msg);
	if (text == NULL)
		return;
	pthread_mutex_lock(&d->q_mu);
	if (!d->q_live) {
		free(text);
		goto out;
	}
	if (d->q_len >= QUEUE_MAX) {
		/* The Console is slower than the changes: drop, and resync once it catches up. */
		d->q_overflow = 1;
		free(text);
		goto out;
	}
	m = malloc(sizeof(*m));
	if (m == NULL) {
		d->q_overflow = 1;
		free(text);
		goto out;
	}
	m->next = NULL;
	m->text = text;
	if (d->q_tail)
		d->q_tail->next = m;
	else
		d->q_head = m;
	d->q_tail = m;
	d->q_len++;
	if (d->q_ctx)
		lws_cancel_service(d->q_ctx);
out:
	pthread_mutex_unlock(&d->q_mu);
}

/* Takes the oldest queued message (malloc()ed text), or NULL. */
static char *q_pop(struct defender *d)
{
	struct uplink_msg *m;
	char *t = NULL;

	pthread_mutex_lock(&d->q_mu);
	m = d->q_head;
	if (m) {
		d->q_head = m->next;
		if (d->q_head == NULL)
			d->q_tail = NULL;
		d->q_len--;
		t = m->text;
		free(m);
	}
	pthread_mutex_unlock(&d->q_mu);
	return t;
}

static int q_nonempty(struct defender *d)
{
	int r;

	pthread_mutex_lock(&d->q_mu);
	r = d->q_head != NULL;
	pthread_mutex_unlock(&d->q_mu);
	return r;
}

static void q_set_live(struct defender *d, struct lws_context *ctx, int live)
{
	pthread_mutex_lock(&d->q_mu);
	q_clear_locked(d);
	d->q_live = live;
	d->q_ctx = live ? ctx : NULL;
	d->q_overflow = 0;
	pthread_mutex_unlock(&d->q_mu);
}

void uplink_wake(void *arg)
{
	struct defender *d = arg;

	pthread_mutex_lock(&d->q_mu);
	if (d->q_live && d->q_ctx)
		lws_cancel_service(d->q_ctx);
	pthread_mutex_unlock(&d->q_mu);
}

/* The next runtime message to send (status, then profiles, then audits), as text, or NULL. */
static char *rt_next(struct session *s)
{
	struct rtengine *rt = s->d->rt;
	json_t *m = NULL;
	char *text;

	if (rt == NULL || !s->welcomed)
		return NULL;
	if (s->rt_status_due) {
		s->rt_status_due = 0;
		m = rtengine_status_json(rt);
	}
	if (m == NULL)
		m = rtengine_profiles_json(rt, 0);
	if (m == NULL)
		m = rtengine_audits_next(rt);
	if (m == NULL)
		return NULL;
	text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return text;
}

/* 1 when a runtime message is waiting (profiles excepted: the engine wakes the loop for them). */
static int rt_more(struct session *s)
{
	return s->d->rt && s->welcomed && (s->rt_status_due || rtengine_audits_ready(s->d->rt));
}

/* A runtime message from the Console (session welcomed). */
static void on_rt_message(struct session *s, const char *type, json_t *msg)
{
	struct rtengine *rt = s->d->rt;
	char err[600];

	if (rt == NULL)
		return; /* GARRISON_RUNTIME=off */
	if (strcmp(type, PROTO_RT_POLICY) == 0) {
		if (rtengine_set_policy(rt, msg, err, sizeof(err)) < 0)
			log_warn("uplink: the Console's runtime policy was refused: %s", err);
		s->rt_status_due = 1; /* tell the Console at once what is in force */
		lws_callback_on_writable(s->wsi);
	} else if (strcmp(type, PROTO_RT_RELEARN) == 0) {
		if (rtengine_relearn(rt, msg) < 0)
			log_warn("uplink: a runtime-relearn names neither all nor profiles; ignored");
	} else if (strcmp(type, PROTO_RT_AUDITS_ACK) == 0) {
		json_t *seq = json_object_get(msg, "seq");
		if (!json_is_integer(seq) || json_integer_value(seq) <= 0 ||
		    rtengine_audits_ack(rt, (uint64_t)json_integer_value(seq)) == -EINVAL)
			log_warn("uplink: a runtime-audits-ack for audits not sent; ignored");
		lws_callback_on_writable(s->wsi);
	}
}

static void queue_json(struct session *s, json_t *msg)
{
	char *txt = json_dumps(msg, JSON_COMPACT);

	json_decref(msg);
	if (txt == NULL)
		return;
	free(s->pending);
	s->pending = txt;
	lws_callback_on_writable(s->wsi);
}

static void send_enroll(struct session *s)
{
	char *csr = NULL;

	if (pki_key_new(&s->enroll_key) < 0 || pki_csr_new(s->enroll_key, s->d->hostname, &csr) < 0) {
		log_error("uplink: cannot create a key and CSR");
		s->done = 1;
		return;
	}
	queue_json(s, json_pack("{s:s,s:s,s:s}", "type", PROTO_ENROLL, "hostname", s->d->hostname,
				"csr", csr));
	free(csr);
}

static void send_hello(struct session *s)
{
	struct defender *d = s->d;

	queue_json(s, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O}", "type", PROTO_HELLO,
				"hostname", d->hostname, "version", GARRISON_VERSION, "defenderType",
				d->type, "cluster", d->cluster.name, "clusterSource", d->cluster.source,
				"cloudMetadata", d->cluster.cloud_metadata, "systemInfo",
				d->system_info));
}

static void on_enrolled(struct session *s, json_t *msg)
{
	struct defender *d = s->d;
	const char *pem = json_string_value(json_object_get(msg, "cert"));
	X509 *cert = NULL, *ca = NULL;
	const char *why = NULL;

	if (pem == NULL || pki_cert_from_pem(pem, &cert) < 0 ||
	    pki_cert_from_pem(d->bundle.ca_cert_pem, &ca) < 0 ||
	    pki_verify_why(ca, cert, PKI_USAGE_CLIENT, &why) < 0 ||
	    pki_key_matches_cert(s->enroll_key, cert) < 0) {
		log_error("uplink: the Console sent an unusable certificate (%s)",
			  why ? why : "does not parse or match our key");
		goto out;
	}
	if (pki_key_save(d->id_key, s->enroll_key) < 0 || pki_cert_save(d->id_cert, cert) < 0 ||
	    util_write_file(d->id_ca, d->bundle.ca_cert_pem, strlen(d->bundle.ca_cert_pem), 0644) < 0) {
		log_error("uplink: cannot store the identity in %s", d->data_dir);
		goto out;
	}
	log_info("uplink: enrolled; identity stored in %s", d->data_dir);
	s->result = ATTEMPT_ENROLLED;
out:
	X509_free(cert);
	X509_free(ca);
	s->done = 1;
}

static void on_message(struct session *s, const char *data, size_t len)
{
	json_t *msg = json_loadb(data, len, 0, NULL);
	const char *type = json_string_value(json_object_get(msg, "type"));

	s->last_rx_ms = util_now_ms();
	if (type == NULL) {
		log_warn("uplink: malformed message from the Console; ignored");
	} else if (s->enrolling && strcmp(type, PROTO_ENROLLED) == 0) {
		on_enrolled(s, msg);
	} else if (strcmp(type, PROTO_WELCOME) == 0) {
		json_int_t hb = json_integer_value(json_object_get(msg, "heartbeatSec"));
		s->heartbeat_sec = hb >= 1 && hb <= 300 ? (int)hb : 10;
		s->welcomed = 1;
		s->result = ATTEMPT_SESSION;
		s->next_hb_ms = util_now_ms() + s->heartbeat_sec * 1000;
		q_set_live(s->d, s->ctx, 1);
		if (s->d->rt) {
			/* Audits again from the oldest unacknowledged; status and profiles first. */
			rtengine_session_begin(s->d->rt);
			s->rt_status_due = 1;
			s->next_status_ms = util_now_ms() + s->heartbeat_sec * 1000;
		}
		if (s->d->inv)
			inventory_resync(s->d->inv);
		if (s->d->scan)
			scanner_resync(s->d->scan);
		log_info("uplink: connected to the Console (cluster %s, heartbeat %d s)",
			 s->d->cluster.name, s->heartbeat_sec);
		if (s->wsi)
			lws_callback_on_writable(s->wsi);
	} else if (s->welcomed && s->wsi && strncmp(type, "runtime-", 8) == 0) {
		on_rt_message(s, type, msg);
	}
	json_decref(msg);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct session *s = lws_container_of(sul, struct session, tick);
	int64_t now = util_now_ms();

	if (s->d->stop) {
		s->done = 1;
		return;
	}
	if (s->welcomed && s->wsi) {
		if (now - s->last_rx_ms > 3LL * s->heartbeat_sec * 1000) {
			log_warn("uplink: the Console has been silent for %d s; reconnecting",
				 3 * s->heartbeat_sec);
			s->done = 1;
			return;
		}
		pthread_mutex_lock(&s->d->q_mu);
		int overflow = s->d->q_overflow;
		if (overflow) {
			q_clear_locked(s->d);
			s->d->q_overflow = 0;
		}
		pthread_mutex_unlock(&s->d->q_mu);
		if (overflow && s->d->inv) {
			log_warn("uplink: more changes than the Console took; resyncing the inventory");
			inventory_resync(s->d->inv);
		}
		if (overflow && s->d->scan)
			scanner_resync(s->d->scan);
		if (now >= s->next_hb_ms) {
			queue_json(s, json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT, "seq",
						(json_int_t)++s->seq));
			s->next_hb_ms = now + s->heartbeat_sec * 1000;
		}
		if (s->d->rt && now >= s->next_status_ms) {
			s->rt_status_due = 1;
			s->next_status_ms = now + s->heartbeat_sec * 1000;
		}
		/* A safety net for a missed wake-up (audits, profiles): a writable callback that
		 * finds nothing to send costs two mutex round trips. */
		if (s->d->rt)
			lws_callback_on_writable(s->wsi);
	}
	lws_sul_schedule(s->ctx, 0, &s->tick, tick_cb, LWS_US_PER_SEC / 2);
}

static int uplink_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			   size_t len)
{
	struct session *s = lws_context_user(lws_get_context(wsi));

	if (s == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		log_warn("uplink: cannot connect to wss://%s:%d: %.*s", s->d->ws_host, s->d->ws_port,
			 in ? (int)len : 7, in ? (const char *)in : "unknown");
		s->wsi = NULL;
		s->done = 1;
		break;
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		if (!len && user != NULL) {
			X509_STORE_CTX *xs = user;
			log_error("uplink: the Console's certificate is not trusted: %s (depth %d); is "
				  "INSTALL_BUNDLE from this Console, and is %s among its --san names?",
				  X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)),
				  X509_STORE_CTX_get_error_depth(xs), s->d->ws_host);
		}
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->last_rx_ms = util_now_ms();
		if (s->enrolling)
			send_enroll(s);
		else
			send_hello(s);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		size_t have = lws_is_first_fragment(wsi) ? 0 : s->rx_len;
		unsigned char *nb;

		if (have + len > PROTO_MAX_MSG) {
			log_warn("uplink: oversized message from the Console; reconnecting");
			return -1;
		}
		nb = realloc(s->rx, have + len + 1);
		if (nb == NULL)
			return -1;
		s->rx = nb;
		memcpy(s->rx + have, in, len);
		s->rx_len = have + len;
		if (lws_is_final_fragment(wsi)) {
			on_message(s, (const char *)s->rx, s->rx_len);
			s->rx_len = 0;
			if (s->done)
				return -1;
		}
		break;
	}
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* Inventory messages, or the runtime engine's wake-up (audits, profiles). */
		if (s->welcomed && s->wsi && (q_nonempty(s->d) || s->d->rt))
			lws_callback_on_writable(s->wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		char *text = s->pending;
		size_t n;
		unsigned char *buf;
		int w;

		if (text)
			s->pending = NULL;
		else if (s->welcomed && (text = rt_next(s)) == NULL)
			text = q_pop(s->d);
		if (text == NULL)
			break;
		n = strlen(text);
		buf = malloc(LWS_PRE + n);
		if (buf == NULL) {
			free(text);
			return -1;
		}
		memcpy(buf + LWS_PRE, text, n);
		w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		free(text);
		if (w < (int)n)
			return -1;
		if (s->pending || (s->welcomed && (q_nonempty(s->d) || rt_more(s))))
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			unsigned code = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
			log_warn("uplink: the Console closed the connection (%u): %.*s", code,
				 (int)(len - 2 > 200 ? 200 : len - 2), (const char *)in + 2);
			if (code == LWS_CLOSE_STATUS_POLICY_VIOLATION && s->result != ATTEMPT_ENROLLED)
				s->result = ATTEMPT_REFUSED;
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		s->wsi = NULL;
		s->done = 1;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols uplink_protocols[] = {
	{ PROTO_NAME, uplink_callback, 0, 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_debug("lws: %.*s", (int)n, line);
}

static enum attempt_result attempt(struct defender *d)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct session s;
	SSL_CTX *ssl;

	memset(&s, 0, sizeof(s));
	s.d = d;
	s.heartbeat_sec = 10;
	s.result = ATTEMPT_FAILED;
	s.enrolling = !identity_present(d);
	ssl = client_ssl_ctx(d, s.enrolling);
	if (ssl == NULL)
		return ATTEMPT_FAILED;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = uplink_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.provided_client_ssl_ctx = ssl;
	info.user = &s;
	info.connect_timeout_secs = 10;
	info.timeout_secs = 15;
	s.ctx = lws_create_context(&info);
	if (s.ctx == NULL) {
		SSL_CTX_free(ssl);
		return ATTEMPT_FAILED;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = s.ctx;
	ci.address = d->ws_host;
	ci.port = d->ws_port;
	ci.path = "/";
	ci.host = d->ws_host;
	ci.origin = d->ws_host;
	ci.protocol = PROTO_NAME;
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.pwsi = &s.wsi;
	log_debug("uplink: connecting to wss://%s:%d (%s)", d->ws_host, d->ws_port,
		  s.enrolling ? "enrolling" : "identity");
	if (lws_client_connect_via_info(&ci) == NULL)
		s.done = 1;
	lws_sul_schedule(s.ctx, 0, &s.tick, tick_cb, LWS_US_PER_SEC / 2);
	while (!s.done && !d->stop)
		if (lws_service(s.ctx, 0) < 0)
			break;
	q_set_live(d, NULL, 0);
	lws_sul_cancel(&s.tick);
	lws_context_destroy(s.ctx);
	SSL_CTX_free(ssl);
	EVP_PKEY_free(s.enroll_key);
	free(s.rx);
	free(s.pending);
	return s.result;
}

static void sleep_ms(struct defender *d, int64_t ms)
{
	int64_t end = util_now_ms() + ms;

	while (!d->stop && util_now_ms() < end)
		usleep(100 * 1000);
}

int uplink_run(struct defender *d)
{
	int64_t backoff = BACKOFF_MIN_MS;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	while (!d->stop) {
		enum attempt_result r = attempt(d);
		unsigned rnd = 0;
		int64_t wait;

		if (d->stop)
			break;
		if (r == ATTEMPT_ENROLLED)
			continue;
		if (r == ATTEMPT_SESSION)
			backoff = BACKOFF_MIN_MS;
		if (r == ATTEMPT_REFUSED)
			backoff = BACKOFF_MAX_MS;
		util_random(&rnd, sizeof(rnd));
		wait = backoff / 2 + (int64_t)(rnd % (unsigned)(backoff / 2 + 1));
		log_info("uplink: reconnecting in %.1f s", (double)wait / 1000.0);
		sleep_ms(d, wait);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return 0;
}
