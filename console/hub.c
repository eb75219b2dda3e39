/*
 * hub: the Console end of the Defender channel. libwebsockets serves WSS with a client certificate
 * required and checked against the Console CA; on ESTABLISHED the certificate decides what the peer
 * may do:
 *  - CN "garrison-enroll:<bundleID>" (the install bundle's certificate): only "enroll", and only
 *    while that bundle is known and not revoked. The Console signs the Defender's CSR and sends the
 *    certificate back; the Defender then reconnects with it.
 *  - any other CN: a Defender identity. Its serial must be one the Console issued, for that CN,
 *    and not revoked. The first message must be "hello" for the same hostname.
 * One live connection per hostname: a newer one replaces the older. The hub runs on its own thread;
 * the only entry points from other threads are hub_kick(), hub_broadcast(), hub_send_to() and
 * hub_connected(), which go through a mutex and lws_cancel_service(). Every peer input is
 * bounded (PROTO_MAX_MSG) and validated.
 *
 * Runtime defense (docs/runtime-console.md): every welcome is followed by the runtime-policy;
 * runtime-audits batches are validated whole, stored in one transaction and only then
 * acknowledged; runtime-profiles replace the host's profiles; runtime-status is kept in the
 * store (the first after hello, then when its policy part changes or a minute has passed, so
 * heartbeat-rate statuses cost no write each). A malformed runtime message is logged and
 * ignored, never acknowledged.
 */
#include "hub.h"
#include "runtime.h"
#include "scans.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <garrison/log.h>
#include <garrison/pki.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#define DEFENDER_CERT_DAYS 365
#define HUB_BUCKETS 16384

enum conn_kind { CONN_NONE, CONN_ENROLL, CONN_DEFENDER };

struct outmsg {
	struct outmsg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the message */
};

struct hub_conn {
	struct lws *wsi;
	enum conn_kind kind;
	char cn[PROTO_HOSTNAME_MAX + 32];
	char serial[80];
	time_t not_after;
	char peer[64];
	int hello_done;       /* registered in the table under cn */
	int closing;          /* close at the next writeable callback */
	const char *close_reason;
	int64_t last_seen_ms;
	unsigned char *rx;    /* message being assembled */
	size_t rx_len;
	struct outmsg *out_head, *out_tail;
	/* A snapshot that comes in several parts is assembled here before it replaces the store. */
	json_t *snap_host, *snap_containers, *snap_images;
	json_t *rt_status_policy; /* the policy part of the last runtime-status stored */
	int64_t rt_status_ms;     /* when it was stored (0: never on this connection) */
	char snap_id[64];
	json_int_t snap_next;
	struct hub_conn *next_hash; /* table chain (hello_done only) */
	struct hub_conn *next_all, *prev_all;
};

struct hub {
	struct console *c;
	struct lws_context *ctx;
	pthread_t thread;
	volatile int stop;
	lws_sorted_usec_list_t sweep;
	unsigned long sweeps;
	struct hub_conn *table[HUB_BUCKETS];
	struct hub_conn *all;
	pthread_mutex_t mu;   /* guards kicks and nconnected */
	char **kicks;
	size_t nkicks;
	long nconnected;
	struct hub_send *sends, **sends_tail; /* guarded by mu: messages from other threads */
};

/* A message another thread asked the hub to send: to one Defender, or to all (host NULL). */
struct hub_send {
	struct hub_send *next;
	char *host;
	char *text;
	size_t len;
};

#define HUB_RT_STATUS_EVERY_MS 60000
#define HUB_RT_PROFILES_MAX 4096

static struct hub *the_hub; /* the lws protocol callback reaches the hub through this */

static unsigned hash_name(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % HUB_BUCKETS;
}

static struct hub_conn *table_find(struct hub *h, const char *name)
{
	for (struct hub_conn *c = h->table[hash_name(name)]; c; c = c->next_hash)
		if (strcmp(c->cn, name) == 0)
			return c;
	return NULL;
}

static void table_remove(struct hub *h, struct hub_conn *conn)
{
	struct hub_conn **pp = &h->table[hash_name(conn->cn)];

	for (; *pp; pp = &(*pp)->next_hash) {
		if (*pp == conn) {
			*pp = conn->next_hash;
			conn->next_hash = NULL;
			return;
		}
	}
}

static int send_text(struct hub_conn *conn, const char *s, size_t n)
{
	struct outmsg *m = malloc(sizeof(*m) + LWS_PRE + n);

	if (m == NULL)
		return -ENOMEM;
	m->next = NULL;
	m->len = n;
	memcpy(m->buf + LWS_PRE, s, n);
	if (conn->out_tail)
		conn->out_tail->next = m;
	else
		conn->out_head = m;
	conn->out_tail = m;
	lws_callback_on_writable(conn->wsi);
	return 0;
}

static int send_json(struct hub_conn *conn, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n;
	struct outmsg *m;

	json_decref(msg);
	if (s == NULL)
		return -ENOMEM;
	n = strlen(s);
	m = malloc(sizeof(*m) + LWS_PRE + n);
	if (m == NULL) {
		free(s);
		return -ENOMEM;
	}
	m->next = NULL;
	m->len = n;
	memcpy(m->buf + LWS_PRE, s, n);
	free(s);
	if (conn->out_tail)
		conn->out_tail->next = m;
	else
		conn->out_head = m;
	conn->out_tail = m;
	lws_callback_on_writable(conn->wsi);
	return 0;
}

static void refuse_later(struct hub_conn *conn, const char *reason)
{
	conn->closing = 1;
	conn->close_reason = reason;
	lws_callback_on_writable(conn->wsi);
	/* A hung peer may never make the socket writable: drop it anyway after 5 s. */
	lws_set_timeout(conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
}

/* Reads CN, serial and expiry of the peer's certificate. 0 or -EACCES. */
static int peer_identity(struct lws *wsi, struct hub_conn *conn)
{
	SSL *ssl = lws_get_ssl(wsi);
	X509 *peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	char *cn = NULL, *serial = NULL;
	int r = -EACCES;

	if (peer == NULL)
		return -EACCES;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	if (pki_cert_info(peer, &cn, &serial, &conn->not_after) < 0 || cn == NULL || serial == NULL)
		goto out;
	if (strlen(cn) >= sizeof(conn->cn) || strlen(serial) >= sizeof(conn->serial))
		goto out;
	memcpy(conn->cn, cn, strlen(cn) + 1);
	memcpy(conn->serial, serial, strlen(serial) + 1);
	r = 0;
out:
	free(cn);
	free(serial);
	X509_free(peer);
	return r;
}

/* Decides what an authenticated TLS peer may do. 0, or a refusal reason. */
static const char *conn_admit(struct hub *h, struct hub_conn *conn)
{
	struct store *s = h->c->store;
	char *host = NULL;
	int revoked = 0;

	if (strncmp(conn->cn, PROTO_ENROLL_CN_PREFIX, strlen(PROTO_ENROLL_CN_PREFIX)) == 0) {
		const char *id = conn->cn + strlen(PROTO_ENROLL_CN_PREFIX);
		if (s->ops->bundle_state(s, id, &revoked) < 0 || revoked)
			return PROTO_REFUSED_BUNDLE;
		conn->kind = CONN_ENROLL;
		return NULL;
	}
	if (s->ops->cert_get(s, conn->serial, &host, &revoked) < 0)
		return PROTO_REFUSED_UNKNOWN;
	if (strcmp(host, conn->cn) != 0) {
		free(host);
		return PROTO_REFUSED_UNKNOWN;
	}
	free(host);
	if (revoked)
		return PROTO_REFUSED_REVOKED;
	conn->kind = CONN_DEFENDER;
	return NULL;
}

#define msg_str(msg, key, max) proto_msg_text(msg, key, max, 0)

static void on_enroll(struct hub *h, struct hub_conn *conn, json_t *msg)
{
	const char *host = msg_str(msg, "hostname", PROTO_HOSTNAME_MAX);
	const char *csr = proto_msg_text(msg, "csr", 8192, 1);
	struct store *s = h->c->store;
	X509 *cert = NULL, *peer;
	SSL *ssl;
	char *pem = NULL, *serial = NULL;
	time_t not_after = 0;

	if (!proto_valid_hostname(host) || csr == NULL) {
		log_warn("hub: enrollment from %s refused: bad hostname or CSR", conn->peer);
		refuse_later(conn, "bad enrollment request");
		return;
	}
	/* The enrollment key is shared by every holder of the bundle: never certify it. */
	ssl = lws_get_ssl(conn->wsi);
	peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (peer == NULL) {
		refuse_later(conn, "certificate required");
		return;
	}
	if (pki_csr_sign_fresh(h->c->ca_cert, h->c->ca_key, csr, host, DEFENDER_CERT_DAYS,
			       X509_get0_pubkey(peer), &cert) < 0 ||
	    pki_cert_info(cert, NULL, &serial, &not_after) < 0 || pki_cert_to_pem(cert, &pem) < 0) {
		log_warn("hub: enrollment of %s from %s refused: invalid CSR", host, conn->peer);
		refuse_later(conn, "invalid CSR");
		goto out;
	}
	if (s->ops->cert_put(s, serial, host, not_after) < 0) {
		refuse_later(conn, "internal error");
		goto out;
	}
	log_info("hub: enrolled Defender %s from %s with %s (certificate %s)", host, conn->peer,
		 conn->cn, serial);
	send_json(conn, json_pack("{s:s,s:s}", "type", PROTO_ENROLLED, "cert", pem));
out:
	X509_free(cert);
	free(pem);
	free(serial);
}

static void set_connected_count(struct hub *h, long delta)
{
	pthread_mutex_lock(&h->mu);
	h->nconnected += delta;
	pthread_mutex_unlock(&h->mu);
}

static void on_hello(struct hub *h, struct hub_conn *conn, json_t *msg)
{
	static const char *const cloud_strs[] = { "provider", "accountID", "region", "resourceID",
		"name", "type", "image", "vmID", "resourceURL", "awsExecutionEnv", NULL };
	static const char *const cloud_objs[] = { "gcp", "azure", NULL };
	static const char *const sys_strs[] = { "kernelVersion", "osDistro", "osVersion", NULL };
	static const char *const sys_nums[] = { "cpuCount", "memoryGB", "totalDiskSpaceGB",
		"freeDiskSpaceGB", NULL };
	const char *host = msg_str(msg, "hostname", PROTO_HOSTNAME_MAX);
	const char *type = msg_str(msg, "defenderType", 32);
	struct store_defender d = { 0 };
	struct hub_conn *old;
	time_t now = time(NULL);

	if (host == NULL || strcmp(host, conn->cn) != 0) {
		log_warn("hub: %s (certificate for %s) said hello as %s: refused", conn->peer, conn->cn,
			 host ? host : "(invalid)");
		refuse_later(conn, "hostname does not match the certificate");
		return;
	}
	old = table_find(h, conn->cn);
	if (old != NULL && old != conn) {
		log_info("hub: %s reconnected from %s; closing its older connection", conn->cn,
			 conn->peer);
		table_remove(h, old);
		old->hello_done = 0;
		set_connected_count(h, -1);
		refuse_later(old, "replaced by a newer connection");
	}
	if (type == NULL || type[0] == '\0')
		type = "docker";
	d.hostname = conn->cn;
	d.version = (char *)msg_str(msg, "version", 64);
	d.type = (char *)type;
	d.category = strcmp(type, "serverLinux") == 0 ? "host" : "container";
	d.cluster = (char *)msg_str(msg, "cluster", 253);
	d.cluster_source = (char *)msg_str(msg, "clusterSource", 32);
	d.cloud_metadata = proto_pick(json_object_get(msg, "cloudMetadata"), cloud_strs, NULL, cloud_objs);
	d.system_info = proto_pick(json_object_get(msg, "systemInfo"), sys_strs, sys_nums, NULL);
	d.cert_serial = conn->serial;
	d.cert_expiration = conn->not_after;
	d.last_modified = now;
	d.first_seen = now;
	d.connected = 1;
	d.remote_addr = conn->peer;
	if (h->c->store->ops->defender_put(h->c->store, &d) < 0) {
		refuse_later(conn, "internal error");
		goto out;
	}
	if (!conn->hello_done) {
		conn->hello_done = 1;
		conn->next_hash = h->table[hash_name(conn->cn)];
		h->table[hash_name(conn->cn)] = conn;
		set_connected_count(h, 1);
	}
	log_info("hub: Defender %s connected from %s (cluster %s via %s)", conn->cn, conn->peer,
		 d.cluster ? d.cluster : "?", d.cluster_source ? d.cluster_source : "?");
	send_json(conn, json_pack("{s:s,s:i,s:s}", "type", PROTO_WELCOME, "heartbeatSec",
				  h->c->heartbeat_sec, "consoleVersion", GARRISON_VERSION));
	/* The Defender enforces what it is sent now; a newer policy follows through hub_broadcast. */
	json_t *pol = console_runtime_policy_message(h->c);
	if (pol == NULL)
		log_warn("hub: cannot build the runtime policy for %s", conn->cn);
	else
		send_json(conn, pol);
	json_decref(conn->rt_status_policy);
	conn->rt_status_policy = NULL;
	conn->rt_status_ms = 0;
out:
	json_decref(d.cloud_metadata);
	json_decref(d.system_info);
}

/* A document from a Defender: an object with a printable string "id" of at most 256 bytes. */
static const char *doc_id(json_t *doc)
{
	if (!json_is_object(doc))
		return NULL;
	return msg_str(doc, "id", 256);
}

static int docs_valid(json_t *arr, size_t max)
{
	size_t i;
	json_t *d;

	if (!json_is_array(arr) || json_array_size(arr) > max)
		return 0;
	json_array_foreach(arr, i, d)
		if (doc_id(d) == NULL)
			return 0;
	return 1;
}

static void snap_reset(struct hub_conn *conn)
{
	json_decref(conn->snap_host);
	json_decref(conn->snap_containers);
	json_decref(conn->snap_images);
	conn->snap_host = conn->snap_containers = conn->snap_images = NULL;
	conn->snap_id[0] = '\0';
	conn->snap_next = 0;
}

/* Inventory from a Defender (docs/inventory.md): a full snapshot replaces everything stored for
 * the host, so a resync after any restart leaves neither duplicates nor stale containers. */
static void on_inventory(struct hub *h, struct hub_conn *conn, const char *type, json_t *msg)
{
	struct store *s = h->c->store;
	const char *id;
	int r = 0;

	if (strcmp(type, PROTO_INVENTORY) == 0) {
		json_t *host = json_object_get(msg, "host");
		json_t *cs = json_object_get(msg, "containers"), *is = json_object_get(msg, "images");
		json_int_t part = json_integer_value(json_object_get(msg, "part"));
		json_int_t parts = json_integer_value(json_object_get(msg, "parts"));
		const char *sid = msg_str(msg, "snapshotID", sizeof(conn->snap_id) - 1);

		if (cs == NULL)
			cs = json_array();
		else
			json_incref(cs);
		if (is == NULL)
			is = json_array();
		else
			json_incref(is);
		if (!docs_valid(cs, PROTO_MAX_DOCS) || !docs_valid(is, PROTO_MAX_DOCS) ||
		    (host && !json_is_object(host)) || parts < 0 || parts > PROTO_MAX_DOCS ||
		    (parts > 0 && (sid == NULL || part < 1 || part > parts))) {
			log_warn("hub: %s sent a malformed inventory; ignored", conn->cn);
			goto inv_out;
		}
		if (parts <= 1) {
			snap_reset(conn);
			if (!json_is_object(host)) {
				log_warn("hub: %s sent an inventory without its host; ignored", conn->cn);
				goto inv_out;
			}
			r = s->ops->inv_replace_host(s, conn->cn, host, cs, is);
			log_debug("hub: %s inventory: %zu containers, %zu images", conn->cn,
				  json_array_size(cs), json_array_size(is));
			goto inv_out;
		}
		if (part == 1) {
			snap_reset(conn);
			memcpy(conn->snap_id, sid, strlen(sid) + 1);
			conn->snap_host = json_incref(host);
			conn->snap_containers = json_array();
			conn->snap_images = json_array();
			conn->snap_next = 1;
		}
		if (conn->snap_next != part || strcmp(conn->snap_id, sid) != 0 ||
		    !json_is_object(conn->snap_host)) {
			log_warn("hub: %s sent inventory part %lld of %lld out of order; waiting for a new "
				 "snapshot", conn->cn, (long long)part, (long long)parts);
			snap_reset(conn);
			goto inv_out;
		}
		json_array_extend(conn->snap_containers, cs);
		json_array_extend(conn->snap_images, is);
		conn->snap_next++;
		if (json_array_size(conn->snap_containers) > PROTO_MAX_DOCS ||
		    json_array_size(conn->snap_images) > PROTO_MAX_DOCS) {
			log_warn("hub: %s sent an inventory over %d records; ignored", conn->cn,
				 PROTO_MAX_DOCS);
			snap_reset(conn);
			goto inv_out;
		}
		if (part == parts) {
			r = s->ops->inv_replace_host(s, conn->cn, conn->snap_host, conn->snap_containers,
						     conn->snap_images);
			log_debug("hub: %s inventory (%lld parts): %zu containers, %zu images", conn->cn,
				  (long long)parts, json_array_size(conn->snap_containers),
				  json_array_size(conn->snap_images));
			snap_reset(conn);
		}
inv_out:
		json_decref(cs);
		json_decref(is);
	} else if (strcmp(type, PROTO_CONTAINER) == 0 || strcmp(type, PROTO_IMAGE) == 0) {
		json_t *doc = json_object_get(msg, type);
		if ((id = doc_id(doc)) == NULL) {
			log_warn("hub: %s sent a malformed %s; ignored", conn->cn, type);
			return;
		}
		r = s->ops->inv_put(s, type, conn->cn, id, doc);
	} else if (strcmp(type, PROTO_CONTAINER_REMOVED) == 0 ||
		   strcmp(type, PROTO_IMAGE_REMOVED) == 0) {
		if ((id = msg_str(msg, "id", 256)) == NULL) {
			log_warn("hub: %s sent a malformed %s; ignored", conn->cn, type);
			return;
		}
		r = s->ops->inv_delete(s, type[0] == 'c' ? "container" : "image", conn->cn, id);
	} else if (strcmp(type, PROTO_DOCKER_STATUS) == 0) {
		r = s->ops->inv_put(s, "status", conn->cn, "docker", msg);
	}
	if (r < 0)
		log_warn("hub: cannot store the %s from %s", type, conn->cn);
}

/* Scan records from a Defender (docs/scanning.md): stored with their vulnerabilities. */
static void on_scan(struct hub *h, struct hub_conn *conn, const char *type, json_t *msg)
{
	const char *kind = msg_str(msg, "kind", 32), *id = msg_str(msg, "id", 256);
	char err[256] = "";
	int r;

	if (strcmp(type, PROTO_SCAN_REMOVED) == 0) {
		scans_defender_removed(h->c, conn->cn, kind, id);
		return;
	}
	r = scans_defender_record(h->c, conn->cn, kind, id, json_object_get(msg, "record"), err,
				  sizeof(err));
	if (r < 0)
		log_warn("hub: %s sent a scan that was not stored: %s", conn->cn,
			 err[0] ? err : strerror(-r));
}

/* runtime-audits: the whole batch is validated, then stored in one transaction, then acked. */
static void on_rt_audits(struct hub *h, struct hub_conn *conn, json_t *msg)
{
	struct store *s = h->c->store;
	struct console_runtime_batch b;
	char err[300];
	size_t added = 0;
	int r;

	r = console_runtime_batch_parse(conn->cn, json_object_get(msg, "records"), &b, err,
					sizeof(err));
	if (r < 0) {
		log_warn("hub: %s sent runtime-audits that were not stored: %s", conn->cn,
			 r == -EINVAL ? err : strerror(-r));
		return;
	}
	if (b.n == 0)
		goto out;
	r = s->ops->rt_audits_add(s, conn->cn, b.v, b.n, &added);
	if (r < 0) {
		log_warn("hub: cannot store %zu runtime audits from %s: %s (not acknowledged)", b.n,
			 conn->cn, strerror(-r));
		goto out;
	}
	log_debug("hub: %s: %zu runtime audits, %zu new, up to seq %llu", conn->cn, b.n, added,
		  (unsigned long long)b.max_seq);
	send_json(conn, json_pack("{s:s,s:I}", "type", PROTO_RT_AUDITS_ACK, "seq",
				  (json_int_t)b.max_seq));
out:
	console_runtime_batch_free(&b);
}

static void on_rt_profiles(struct hub *h, struct hub_conn *conn, json_t *msg)
{
	json_t *profs = json_object_get(msg, "profiles"), *p;
	size_t i;
	int r;

	if (!json_is_array(profs) || json_array_size(profs) > HUB_RT_PROFILES_MAX) {
		log_warn("hub: %s sent runtime-profiles without a profiles array of at most %d; ignored",
			 conn->cn, HUB_RT_PROFILES_MAX);
		return;
	}
	json_array_foreach(profs, i, p) {
		if (msg_str(p, "_id", 256) == NULL) {
			log_warn("hub: %s sent runtime-profiles[%zu] without a string _id; ignored",
				 conn->cn, i);
			return;
		}
	}
	r = h->c->store->ops->rt_profiles_replace(h->c->store, conn->cn, profs);
	if (r < 0)
		log_warn("hub: cannot store the runtime profiles of %s: %s", conn->cn, strerror(-r));
}

static void on_rt_status(struct hub *h, struct hub_conn *conn, json_t *msg)
{
	static const char *const keys[] = { "sensor", "enforcement", "spool", "policy", "models",
					    NULL };
	json_t *doc = json_object(), *pol;
	int64_t now = util_now_ms();
	int r;

	if (doc == NULL)
		return;
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(msg, keys[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_object(v) && !json_is_array(v)) {
			log_warn("hub: %s sent a runtime-status whose %s is not an object; ignored",
				 conn->cn, keys[i]);
			json_decref(doc);
			return;
		}
		json_object_set(doc, keys[i], v);
	}
	pol = json_object_get(doc, "policy");
	if (conn->rt_status_ms != 0 && now - conn->rt_status_ms < HUB_RT_STATUS_EVERY_MS &&
	    (pol == conn->rt_status_policy || json_equal(pol, conn->rt_status_policy))) {
		json_decref(doc);
		return;
	}
	json_object_set_new(doc, "updated", json_integer((json_int_t)(now / 1000)));
	r = h->c->store->ops->rt_status_put(h->c->store, conn->cn, doc);
	if (r < 0) {
		log_warn("hub: cannot store the runtime status of %s: %s", conn->cn, strerror(-r));
	} else {
		json_decref(conn->rt_status_policy);
		conn->rt_status_policy = pol ? json_incref(pol) : NULL;
		conn->rt_status_ms = now;
	}
	json_decref(doc);
}

static void on_message(struct hub *h, struct hub_conn *conn, const char *data, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = json_string_value(json_object_get(msg, "type"));

	conn->last_seen_ms = util_now_ms();
	if (!json_is_object(msg) || type == NULL) {
		log_warn("hub: %s (%s) sent a malformed message: %s", conn->peer, conn->cn,
			 msg ? "not an object with a type" : jerr.text);
		refuse_later(conn, "malformed message");
		goto out;
	}
	if (conn->kind == CONN_ENROLL) {
		if (strcmp(type, PROTO_ENROLL) == 0)
			on_enroll(h, conn, msg);
		else
			refuse_later(conn, "enrollment connections may only enroll");
		goto out;
	}
	if (strcmp(type, PROTO_HELLO) == 0) {
		on_hello(h, conn, msg);
	} else if (!conn->hello_done) {
		refuse_later(conn, "hello expected first");
	} else if (strncmp(type, "inventory", 9) == 0 || strncmp(type, "container", 9) == 0 ||
		   strncmp(type, "image", 5) == 0 || strcmp(type, "docker-status") == 0) {
		on_inventory(h, conn, type, msg);
	} else if (strcmp(type, PROTO_SCAN) == 0 || strcmp(type, PROTO_SCAN_REMOVED) == 0) {
		on_scan(h, conn, type, msg);
	} else if (strcmp(type, PROTO_RT_AUDITS) == 0) {
		on_rt_audits(h, conn, msg);
	} else if (strcmp(type, PROTO_RT_PROFILES) == 0) {
		on_rt_profiles(h, conn, msg);
	} else if (strcmp(type, PROTO_RT_STATUS) == 0) {
		on_rt_status(h, conn, msg);
	} else if (strcmp(type, PROTO_HEARTBEAT) == 0) {
		json_t *seq = json_object_get(msg, "seq");
		send_json(conn, json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT_ACK, "seq",
					  json_is_integer(seq) ? json_integer_value(seq) : 0));
	} else {
		log_debug("hub: %s sent an unknown message type %.32s; ignored", conn->cn, type);
	}
out:
	json_decref(msg);
}

static void conn_release(struct hub *h, struct hub_conn *conn)
{
	struct outmsg *m = conn->out_head;

	while (m) {
		struct outmsg *n = m->next;
		free(m);
		m = n;
	}
	conn->out_head = conn->out_tail = NULL;
	free(conn->rx);
	conn->rx = NULL;
	snap_reset(conn);
	json_decref(conn->rt_status_policy);
	conn->rt_status_policy = NULL;
	if (conn->hello_done) {
		table_remove(h, conn);
		conn->hello_done = 0;
		set_connected_count(h, -1);
		h->c->store->ops->defender_set_connected(h->c->store, conn->cn, 0, time(NULL));
		log_info("hub: Defender %s disconnected", conn->cn);
	}
	if (conn->prev_all)
		conn->prev_all->next_all = conn->next_all;
	else if (h->all == conn)
		h->all = conn->next_all;
	if (conn->next_all)
		conn->next_all->prev_all = conn->prev_all;
	conn->next_all = conn->prev_all = NULL;
}

static void process_kicks(struct hub *h)
{
	char **kicks;
	size_t n;

	pthread_mutex_lock(&h->mu);
	kicks = h->kicks;
	n = h->nkicks;
	h->kicks = NULL;
	h->nkicks = 0;
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		struct hub_conn *conn = table_find(h, kicks[i]);
		if (conn) {
			table_remove(h, conn);
			conn->hello_done = 0;
			set_connected_count(h, -1);
			refuse_later(conn, PROTO_REFUSED_REVOKED);
		}
		free(kicks[i]);
	}
	free(kicks);
}

/* Messages other threads queued: to one Defender, or to every live one. */
static void process_sends(struct hub *h)
{
	struct hub_send *q, *n;

	pthread_mutex_lock(&h->mu);
	q = h->sends;
	h->sends = NULL;
	h->sends_tail = &h->sends;
	pthread_mutex_unlock(&h->mu);
	for (; q; q = n) {
		n = q->next;
		if (q->host != NULL) {
			struct hub_conn *conn = table_find(h, q->host);
			if (conn && !conn->closing)
				send_text(conn, q->text, q->len);
		} else {
			for (struct hub_conn *c = h->all; c; c = c->next_all)
				if (c->hello_done && !c->closing)
					send_text(c, q->text, q->len);
		}
		free(q->host);
		free(q->text);
		free(q);
	}
}

/* Once a second: Defenders whose heartbeats stopped are disconnected. */
static void sweep_cb(lws_sorted_usec_list_t *sul)
{
	struct hub *h = lws_container_of(sul, struct hub, sweep);
	int64_t now = util_now_ms(), dead = (int64_t)h->c->dead_after_sec * 1000;

	for (struct hub_conn *c = h->all; c; c = c->next_all) {
		if (c->closing || now - c->last_seen_ms <= dead)
			continue;
		log_warn("hub: %s (%s) silent for %d s: disconnecting", c->cn[0] ? c->cn : "peer",
			 c->peer, h->c->dead_after_sec);
		if (c->hello_done) {
			table_remove(h, c);
			c->hello_done = 0;
			set_connected_count(h, -1);
			h->c->store->ops->defender_set_connected(h->c->store, c->cn, 0, time(NULL));
			log_info("hub: Defender %s disconnected (heartbeat timeout)", c->cn);
		}
		refuse_later(c, "heartbeat timeout");
	}
	/* Hourly: the retention of runtime audits (a short transaction on the store). */
	if (++h->sweeps % 3600 == 0)
		console_runtime_prune(h->c);
	lws_sul_schedule(h->ctx, 0, &h->sweep, sweep_cb, LWS_US_PER_SEC);
}

static int hub_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct hub *h = the_hub;
	struct hub_conn *conn = user;
	const char *why;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (h) {
			process_kicks(h);
			process_sends(h);
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(conn, 0, sizeof(*conn));
		conn->wsi = wsi;
		conn->last_seen_ms = util_now_ms();
		lws_get_peer_simple(wsi, conn->peer, sizeof(conn->peer));
		if (peer_identity(wsi, conn) < 0) {
			log_warn("hub: %s refused: no valid client certificate", conn->peer);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					 (unsigned char *)"certificate required", 20);
			return -1;
		}
		why = conn_admit(h, conn);
		if (why != NULL) {
			log_warn("hub: %s (certificate %s, serial %s) refused: %s", conn->peer, conn->cn,
				 conn->serial, why);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why,
					 strlen(why));
			return -1;
		}
		/* Only admitted peers are listed (the sweep and CLOSED rely on it). */
		conn->next_all = h->all;
		if (h->all)
			h->all->prev_all = conn;
		h->all = conn;
		break;
	case LWS_CALLBACK_RECEIVE: {
		size_t have = lws_is_first_fragment(wsi) ? 0 : conn->rx_len;
		unsigned char *nb;

		if (conn->closing)
			break;
		if (have + len > PROTO_MAX_MSG) {
			log_warn("hub: %s (%s) sent a message over %d bytes", conn->peer, conn->cn,
				 PROTO_MAX_MSG);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
			return -1;
		}
		nb = realloc(conn->rx, have + len + 1);
		if (nb == NULL)
			return -1;
		conn->rx = nb;
		memcpy(conn->rx + have, in, len);
		conn->rx_len = have + len;
		if (!lws_is_final_fragment(wsi))
			break;
		if (lws_frame_is_binary(wsi)) {
			refuse_later(conn, "text messages only");
			break;
		}
		on_message(h, conn, (const char *)conn->rx, conn->rx_len);
		conn->rx_len = 0;
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct outmsg *m = conn->out_head;

		if (m != NULL) {
			conn->out_head = m->next;
			if (conn->out_head == NULL)
				conn->out_tail = NULL;
			if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) {
				free(m);
				return -1;
			}
			free(m);
			if (conn->out_head || conn->closing)
				lws_callback_on_writable(wsi);
			break;
		}
		if (conn->closing) {
			const char *r = conn->close_reason ? conn->close_reason : "closing";
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)r,
					 strlen(r));
			return -1;
		}
		break;
	}
	case LWS_CALLBACK_CLOSED:
		conn_release(h, conn);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols hub_protocols[] = {
	{ PROTO_NAME, hub_callback, sizeof(struct hub_conn), 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warn("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

static void *hub_thread(void *arg)
{
	struct hub *h = arg;

	while (!h->stop)
		if (lws_service(h->ctx, 0) < 0)
			break;
	return NULL;
}

int hub_start(struct console *c)
{
	struct lws_context_creation_info info;
	struct hub *h = calloc(1, sizeof(*h));
	char host[128];
	const char *colon = strrchr(c->defender_addr, ':');
	size_t hn;

	if (h == NULL)
		return -ENOMEM;
	if (colon == NULL || (hn = (size_t)(colon - c->defender_addr)) >= sizeof(host)) {
		free(h);
		log_error("hub: bad --defender-addr %s", c->defender_addr);
		return -EINVAL;
	}
	memcpy(host, c->defender_addr, hn);
	host[hn] = '\0';
	h->c = c;
	h->sends_tail = &h->sends;
	pthread_mutex_init(&h->mu, NULL);
	the_hub = h;
	lws_set_log_level(LLL_ERR, lws_log_emit);

	memset(&info, 0, sizeof(info));
	info.port = c->defender_port;
	info.iface = (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) ?
			     NULL : host;
	info.protocols = hub_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	info.ssl_cert_filepath = c->cert_path;
	info.ssl_private_key_filepath = c->key_path;
	info.ssl_ca_filepath = c->ca_path;
	info.timeout_secs = 15;
	info.ka_time = 0;
	info.user = h;
	h->ctx = lws_create_context(&info);
	if (h->ctx == NULL) {
		log_error("hub: cannot listen on %s", c->defender_addr);
		the_hub = NULL;
		pthread_mutex_destroy(&h->mu);
		free(h);
		return -EIO;
	}
	lws_sul_schedule(h->ctx, 0, &h->sweep, sweep_cb, LWS_US_PER_SEC);
	c->hub = h;
	if (pthread_create(&h->thread, NULL, hub_thread, h) != 0) {
		lws_context_destroy(h->ctx);
		c->hub = NULL;
		the_hub = NULL;
		free(h);
		return -EAGAIN;
	}
	log_info("hub: Defender channel listening on wss://%s", c->defender_addr);
	return 0;
}

void hub_stop(struct console *c)
{
	struct hub *h = c->hub;

	if (h == NULL)
		return;
	h->stop = 1;
	lws_cancel_service(h->ctx);
	pthread_join(h->thread, NULL);
	lws_sul_cancel(&h->sweep);
	lws_context_destroy(h->ctx);
	for (size_t i = 0; i < h->nkicks; i++)
		free(h->kicks[i]);
	free(h->kicks);
	while (h->sends) {
		struct hub_send *n = h->sends->next;
		free(h->sends->host);
		free(h->sends->text);
		free(h->sends);
		h->sends = n;
	}
	pthread_mutex_destroy(&h->mu);
	the_hub = NULL;
	free(h);
	c->hub = NULL;
}

void hub_kick(struct console *c, const char *hostname)
{
	struct hub *h = c->hub;
	char **nk, *dup;

	if (h == NULL || (dup = strdup(hostname)) == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	nk = realloc(h->kicks, (h->nkicks + 1) * sizeof(*nk));
	if (nk) {
		h->kicks = nk;
		h->kicks[h->nkicks++] = dup;
	} else {
		free(dup);
	}
	pthread_mutex_unlock(&h->mu);
	lws_cancel_service(h->ctx);
}

long hub_connected(struct console *c)
{
	long n;

	if (c->hub == NULL)
		return 0;
	pthread_mutex_lock(&c->hub->mu);
	n = c->hub->nconnected;
	pthread_mutex_unlock(&c->hub->mu);
	return n;
}

/* Queues text for one Defender (host) or all (host NULL); takes neither argument over. */
static int queue_send(struct console *c, const char *host, json_t *msg)
{
	struct hub *h = c->hub;
	struct hub_send *q;

	if (h == NULL || msg == NULL)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->text = json_dumps(msg, JSON_COMPACT);
	q->host = host ? strdup(host) : NULL;
	if (q->text == NULL || (host && q->host == NULL)) {
		free(q->text);
		free(q->host);
		free(q);
		return -ENOMEM;
	}
	q->len = strlen(q->text);
	pthread_mutex_lock(&h->mu);
	*h->sends_tail = q;
	h->sends_tail = &q->next;
	pthread_mutex_unlock(&h->mu);
	lws_cancel_service(h->ctx);
	return 0;
}

int hub_broadcast(struct console *c, json_t *msg)
{
	return queue_send(c, NULL, msg);
}

int hub_send_to(struct console *c, const char *hostname, json_t *msg)
{
	if (hostname == NULL)
		return -EINVAL;
	return queue_send(c, hostname, msg);
}
