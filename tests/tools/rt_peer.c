/*
 * rt_peer: a scripted Defender for Console tests of the runtime messages (docs/protocol.md,
 * "Runtime"). It enrolls with the install bundle in $INSTALL_BUNDLE (a fresh key and CSR for
 * HOSTNAME), reconnects with the identity it got, says hello, and after the welcome sends each
 * line of FILE (one JSON message per line; "" or no FILE: none). It prints every message the
 * Console sends, one JSON object per line on stdout, and exits after SECONDS.
 *   usage: rt_peer HOST:PORT HOSTNAME SECONDS [FILE]
 * Exit status: 0 when it was welcomed, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <garrison/bundle.h>
#include <garrison/pki.h>
#include <garrison/proto.h>
#include <garrison/util.h>

struct out {
	struct out *next;
	size_t len;
	unsigned char buf[];
};

struct peer {
	const char *name;
	struct bundle b;
	EVP_PKEY *key;
	char *cert_pem;     /* the identity, once enrolled */
	int enrolling, welcomed, done;
	char **lines;
	size_t nlines;
	struct out *head, *tail;
	unsigned char *rx;
	size_t rx_len;
	struct lws *wsi;
	struct lws_context *ctx;
	lws_sorted_usec_list_t tick;
};

/* lws_service() waits for events, not for its timeout: a timer wakes the loop to see the time. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct peer *p = lws_container_of(sul, struct peer, tick);

	lws_sul_schedule(p->ctx, 0, &p->tick, tick_cb, LWS_US_PER_SEC / 5);
}

static void queue(struct peer *p, const char *s)
{
	size_t n = strlen(s);
	struct out *o = malloc(sizeof(*o) + LWS_PRE + n);

	if (o == NULL)
		return;
	o->next = NULL;
	o->len = n;
	memcpy(o->buf + LWS_PRE, s, n);
	if (p->tail)
		p->tail->next = o;
	else
		p->head = o;
	p->tail = o;
	lws_callback_on_writable(p->wsi);
}

static void queue_json(struct peer *p, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	json_decref(msg);
	if (s)
		queue(p, s);
	free(s);
}

static void on_msg(struct peer *p, const char *data, size_t len)
{
	json_t *m = json_loadb(data, len, 0, NULL);
	const char *type = json_string_value(json_object_get(m, "type"));

	printf("%.*s\n", (int)len, data);
	fflush(stdout);
	if (type && p->enrolling && strcmp(type, PROTO_ENROLLED) == 0) {
		const char *c = json_string_value(json_object_get(m, "cert"));
		p->cert_pem = c ? strdup(c) : NULL;
		p->done = 1;
	} else if (type && strcmp(type, PROTO_WELCOME) == 0 && !p->welcomed) {
		p->welcomed = 1;
		for (size_t i = 0; i < p->nlines; i++)
			queue(p, p->lines[i]);
	}
	json_decref(m);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct peer *p = lws_context_user(lws_get_context(wsi));
	char *csr = NULL;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "rt_peer: cannot connect: %s\n", in ? (const char *)in : "?");
		p->done = 1;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		p->wsi = wsi;
		if (p->enrolling) {
			if (pki_csr_new(p->key, p->name, &csr) < 0) {
				p->done = 1;
				break;
			}
			queue_json(p, json_pack("{s:s,s:s,s:s}", "type", PROTO_ENROLL, "hostname",
						p->name, "csr", csr));
			free(csr);
		} else {
			queue_json(p, json_pack("{s:s,s:s,s:s,s:s}", "type", PROTO_HELLO, "hostname",
						p->name, "version", "0.0.0-rt_peer", "defenderType",
						"docker", "cluster", "test"));
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		size_t have = lws_is_first_fragment(wsi) ? 0 : p->rx_len;
		unsigned char *nb = realloc(p->rx, have + len + 1);
		if (nb == NULL)
			return -1;
		p->rx = nb;
		memcpy(p->rx + have, in, len);
		p->rx_len = have + len;
		if (lws_is_final_fragment(wsi)) {
			on_msg(p, (const char *)p->rx, p->rx_len);
			p->rx_len = 0;
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct out *o = p->head;
		if (o == NULL)
			break;
		p->head = o->next;
		if (p->head == NULL)
			p->tail = NULL;
		if (lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_TEXT) < (int)o->len) {
			free(o);
			return -1;
		}
		free(o);
		if (p->head)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		fprintf(stderr, "rt_peer: connection closed\n");
		p->done = 1;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protos[] = {
	{ PROTO_NAME, cb, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static SSL_CTX *ssl_ctx(struct peer *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	int ok = 0;

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (pki_cert_from_pem(p->b.ca_cert_pem, &ca) < 0 ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1)
		goto out;
	if (pki_cert_from_pem(p->enrolling ? p->b.enroll_cert_pem : p->cert_pem, &cert) < 0)
		goto out;
	if (p->enrolling && pki_key_from_pem(p->b.enroll_key_pem, &key) < 0)
		goto out;
	if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, p->enrolling ? key : p->key) != 1)
		goto out;
	ok = 1;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* One connection until done or the deadline (ms). */
static void session(struct peer *p, const char *host, int port, int64_t deadline)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct lws_context *ctx;
	SSL_CTX *ssl = ssl_ctx(p);

	if (ssl == NULL) {
		fprintf(stderr, "rt_peer: bad credentials\n");
		return;
	}
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.provided_client_ssl_ctx = ssl;
	info.user = p;
	ctx = lws_create_context(&info);
	if (ctx == NULL) {
		SSL_CTX_free(ssl);
		return;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = host;
	ci.port = port;
	ci.path = "/";
	ci.host = host;
	ci.origin = host;
	ci.protocol = PROTO_NAME;
	ci.ssl_connection = LCCSCF_USE_SSL;
	p->done = 0;
	p->ctx = ctx;
	if (lws_client_connect_via_info(&ci) == NULL)
		p->done = 1;
	lws_sul_schedule(ctx, 0, &p->tick, tick_cb, LWS_US_PER_SEC / 5);
	while (!p->done && util_now_ms() < deadline)
		if (lws_service(ctx, 0) < 0)
			break;
	lws_sul_cancel(&p->tick);
	lws_context_destroy(ctx);
	SSL_CTX_free(ssl);
	while (p->head) {
		struct out *o = p->head;
		p->head = o->next;
		free(o);
	}
	p->tail = NULL;
}

int main(int argc, char **argv)
{
	struct peer p = { 0 };
	const char *berr = NULL, *b64 = getenv("INSTALL_BUNDLE");
	static char line[PROTO_MAX_MSG];
	char host[128];
	const char *colon;
	int port, rc = 1;
	int64_t deadline;
	FILE *f = NULL;

	if (argc < 4 || (colon = strrchr(argv[1], ':')) == NULL ||
	    (size_t)(colon - argv[1]) >= sizeof(host) || b64 == NULL) {
		fprintf(stderr, "usage: INSTALL_BUNDLE=... rt_peer HOST:PORT HOSTNAME SECONDS [FILE]\n");
		return 2;
	}
	memcpy(host, argv[1], (size_t)(colon - argv[1]));
	host[colon - argv[1]] = '\0';
	port = (int)strtol(colon + 1, NULL, 10);
	p.name = argv[2];
	deadline = util_now_ms() + strtol(argv[3], NULL, 10) * 1000;
	if (bundle_decode(b64, &p.b, &berr) < 0) {
		fprintf(stderr, "rt_peer: bad bundle: %s\n", berr ? berr : "?");
		return 2;
	}
	if (argc > 4 && argv[4][0] && (f = fopen(argv[4], "r")) == NULL) {
		perror(argv[4]);
		return 2;
	}
	while (f && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		char **nl;
		line[n] = '\0';
		if (n == 0)
			continue;
		nl = realloc(p.lines, (p.nlines + 1) * sizeof(*nl));
		if (nl == NULL)
			return 2;
		p.lines = nl;
		p.lines[p.nlines++] = strdup(line);
	}
	if (f)
		fclose(f);
	lws_set_log_level(LLL_ERR, NULL);
	if (pki_key_new(&p.key) < 0)
		return 2;
	p.enrolling = 1;
	session(&p, host, port, deadline);
	if (p.cert_pem == NULL) {
		fprintf(stderr, "rt_peer: not enrolled\n");
		goto out;
	}
	p.enrolling = 0;
	session(&p, host, port, deadline);
	rc = p.welcomed ? 0 : 1;
out:
	for (size_t i = 0; i < p.nlines; i++)
		free(p.lines[i]);
	free(p.lines);
	free(p.rx);
	free(p.cert_pem);
	EVP_PKEY_free(p.key);
	bundle_clear(&p.b);
	return rc;
}
