/*
 * inventory: the Docker inventory of this host (see inventory.h and docs/inventory.md).
 *
 * The first half turns Docker's JSON into our records: every member is checked for presence, type
 * and size before it is used, and anything unexpected is an -EBADMSG with a sentence naming the
 * member. The second half is the thread: one session per connection to the engine (negotiate,
 * subscribe to /events, list everything, emit a snapshot, then apply events), a jittered backoff
 * between sessions, and a model (container id -> record, image id -> record) that decides what
 * changed. The model belongs to the thread; other threads only touch the status (under mu) and
 * two atomic flags, and wake the thread through an eventfd. Emitted messages are deep copies, so
 * the receiver owns them outright.
 */
#include "inventory.h"
#include "cproc.h"
#include "docker.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <garrison/cluster.h>
#include <garrison/log.h>
#include <garrison/util.h>

#define PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 16000
#define RECHECKS_MAX 64
#define DIRTY_MAX 4096
#define EVENTS_PER_ROUND 256
#define EVENT_FILTERS "{\"type\":[\"container\",\"image\"]}"

/* ================================================================================================
 * Checked access to Docker's JSON
 * ============================================================================================== */

struct chk {
	char *err;
	size_t errlen;
	char what[48]; /* "container 86914d2c9c5c" */
};

static int bad(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct chk *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: %s", c->what, msg);
	return -EBADMSG;
}

/* Object member k: absent or null gives *v = NULL (an error when required). */
static int m_obj(struct chk *c, const json_t *o, const char *k, int required, const json_t **v)
{
	const json_t *x = json_object_get(o, k);

	*v = NULL;
	if (x == NULL || json_is_null(x))
		return required ? bad(c, "%s is missing", k) : 0;
	if (!json_is_object(x))
		return bad(c, "%s is not an object", k);
	*v = x;
	return 0;
}

static int m_arr(struct chk *c, const json_t *o, const char *k, int required, const json_t **v)
{
	const json_t *x = json_object_get(o, k);

	*v = NULL;
	if (x == NULL || json_is_null(x))
		return required ? bad(c, "%s is missing", k) : 0;
	if (!json_is_array(x))
		return bad(c, "%s is not an array", k);
	*v = x;
	return 0;
}

/* A string value of at most max bytes without a NUL. */
static int v_str(struct chk *c, const json_t *x, const char *k, size_t max, const char **v)
{
	*v = NULL;
	if (!json_is_string(x))
		return bad(c, "%s is not a string", k);
	if (json_string_length(x) > max)
		return bad(c, "%s is longer than %zu bytes", k, max);
	if (strlen(json_string_value(x)) != json_string_length(x))
		return bad(c, "%s holds a NUL", k);
	*v = json_string_value(x);
	return 0;
}

/* String member k: absent or null gives *v = NULL (an error when required). */
static int m_str(struct chk *c, const json_t *o, const char *k, size_t max, int required,
		 const char **v)
{
	const json_t *x = json_object_get(o, k);

	*v = NULL;
	if (x == NULL || json_is_null(x))
		return required ? bad(c, "%s is missing", k) : 0;
	return v_str(c, x, k, max, v);
}

/* Boolean member k: absent or null is false. */
static int m_bool(struct chk *c, const json_t *o, const char *k, int *v)
{
	const json_t *x = json_object_get(o, k);

	*v = 0;
	if (x == NULL || json_is_null(x))
		return 0;
	if (!json_is_boolean(x))
		return bad(c, "%s is not a boolean", k);
	*v = json_is_true(x);
	return 0;
}

/* Integer member k in [min, max]: absent or null gives *present = 0. Reals are refused. */
static int m_int(struct chk *c, const json_t *o, const char *k, json_int_t min, json_int_t max,
		 int required, json_int_t *v, int *present)
{
	const json_t *x = json_object_get(o, k);

	*v = 0;
	*present = 0;
	if (x == NULL || json_is_null(x))
		return required ? bad(c, "%s is missing", k) : 0;
	if (!json_is_integer(x))
		return bad(c, "%s is not an integer", k);
	if (json_integer_value(x) < min || json_integer_value(x) > max)
		return bad(c, "%s is out of range", k);
	*v = json_integer_value(x);
	*present = 1;
	return 0;
}

/* Builds records while remembering whether an allocation failed. */
struct out {
	int oom;
};

static void put(struct out *o, json_t *obj, const char *k, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, k, v) < 0)
		o->oom = 1;
}

static void put_str(struct out *o, json_t *obj, const char *k, const char *s)
{
	if (s != NULL)
		put(o, obj, k, json_string(s));
}

static void push(struct out *o, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) < 0)
		o->oom = 1;
}

/* Cuts s to at most max bytes on a UTF-8 character boundary; returns the length kept. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* ================================================================================================
 * Container records
 * ============================================================================================== */

struct port {
	int container, host;
	char host_ip[64];
	char proto[8];
	int nat, listening;
};

static int port_cmp(const void *a, const void *b)
{
	const struct port *x = a, *y = b;
	int r;

	if (x->container != y->container)
		return x->container < y->container ? -1 : 1;
	r = strcmp(x->proto, y->proto);
	if (r != 0)
		return r;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return strcmp(x->host_ip, y->host_ip);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Parses "8080/tcp" (a protocol is required: tcp, udp or sctp). */
static int parse_port_key(const char *k, int *port, char *proto, size_t plen)
{
	long v = 0;
	const char *p = k;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > 65535)
			return -1;
	}
	if (v < 1 || *p++ != '/')
		return -1;
	if (strcmp(p, "tcp") != 0 && strcmp(p, "udp") != 0 && strcmp(p, "sctp") != 0)
		return -1;
	*port = (int)v;
	snprintf(proto, plen, "%s", p);
	return 0;
}

/* A HostPort: 1..65535 as decimal text. */
static int parse_host_port(const char *s)
{
	long v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Published ports from NetworkSettings.Ports, then the listening ones from facts. */
static int build_ports(struct chk *c, const json_t *ns_ports, const struct inventory_facts *facts,
		       int host_network, struct out *o, json_t **out, int *truncated)
{
	struct port *ports = calloc(INVENTORY_PORTS_MAX, sizeof(*ports));
	uint64_t *inodes = NULL;
	size_t n = 0;
	const char *key;
	const json_t *binds;
	json_t *arr = NULL;
	int r = 0;

	*out = NULL;
	*truncated = 0;
	if (ports == NULL)
		return -ENOMEM;
	json_object_foreach((json_t *)ns_ports, key, binds) {
		int cport;
		char proto[8];
		size_t i;
		const json_t *b;

		if (parse_port_key(key, &cport, proto, sizeof(proto)) < 0) {
			r = bad(c, "NetworkSettings.Ports has a malformed key");
			goto out;
		}
		if (json_is_null(binds))
			continue; /* exposed, not published */
		if (!json_is_array(binds)) {
			r = bad(c, "NetworkSettings.Ports[%s] is not an array", key);
			goto out;
		}
		json_array_foreach(binds, i, b) {
			const char *hip, *hport;
			int hp;

			if (!json_is_object(b)) {
				r = bad(c,
					"a binding of NetworkSettings.Ports[%s] is not an object",
					key);
				goto out;
			}
			if ((r = m_str(c, b, "HostIp", 63, 0, &hip)) < 0 ||
			    (r = m_str(c, b, "HostPort", 16, 1, &hport)) < 0)
				goto out;
			hp = parse_host_port(hport);
			if (hp < 0) {
				r = bad(c, "NetworkSettings.Ports[%s] has a malformed HostPort",
					key);
				goto out;
			}
			if (n == INVENTORY_PORTS_MAX) {
				*truncated = 1;
				continue;
			}
			ports[n].container = cport;
			ports[n].host = hp;
			snprintf(ports[n].host_ip, sizeof(ports[n].host_ip), "%s", hip ? hip : "");
			snprintf(ports[n].proto, sizeof(ports[n].proto), "%s", proto);
			ports[n].nat = 1;
			ports[n].listening = -1;
			n++;
		}
	}
	if (facts != NULL && facts->listen_known) {
		size_t npub = n;

		if (facts->inodes_known && facts->ninodes > 0) {
			inodes = malloc(facts->ninodes * sizeof(*inodes));
			if (inodes == NULL) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(inodes, facts->inodes, facts->ninodes * sizeof(*inodes));
			qsort(inodes, facts->ninodes, sizeof(*inodes), u64_cmp);
		}
		/* what /proc shows: TCP listeners and bound, unconnected UDP sockets (not SCTP) */
		for (size_t i = 0; i < npub; i++)
			if (strcmp(ports[i].proto, "tcp") == 0 || strcmp(ports[i].proto, "udp") == 0)
				ports[i].listening = 0;
		for (size_t i = 0; i < facts->nlisten; i++) {
			const struct hostinfo_listen *l = &facts->listen[i];
			const char *proto = l->udp ? "udp" : "tcp";
			int mine, found = 0;

			if (facts->inodes_known)
				mine = inodes != NULL && bsearch(&l->inode, inodes, facts->ninodes,
								 sizeof(*inodes), u64_cmp);
			else
				mine = !host_network; /* the host's are not all its own */
			if (!mine)
				continue;
			for (size_t j = 0; j < n; j++) {
				if (ports[j].container == l->port &&
				    strcmp(ports[j].proto, proto) == 0) {
					ports[j].listening = 1;
					found = 1;
				}
			}
			if (found)
				continue;
			if (n == INVENTORY_PORTS_MAX) {
				*truncated = 1;
				continue;
			}
			memset(&ports[n], 0, sizeof(ports[n]));
			ports[n].container = l->port;
			ports[n].host = host_network ? l->port : 0;
			snprintf(ports[n].proto, sizeof(ports[n].proto), "%s", proto);
			ports[n].listening = 1;
			n++;
		}
	}
	qsort(ports, n, sizeof(*ports), port_cmp);
	arr = json_array();
	if (arr == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_object();

		put(o, p, "container", json_integer(ports[i].container));
		if (ports[i].host > 0)
			put(o, p, "host", json_integer(ports[i].host));
		if (ports[i].host_ip[0])
			put_str(o, p, "hostIP", ports[i].host_ip);
		put(o, p, "nat", json_boolean(ports[i].nat));
		if (ports[i].listening >= 0)
			put(o, p, "listening", json_boolean(ports[i].listening));
		put_str(o, p, "protocol", ports[i].proto);
		push(o, arr, p);
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	free(inodes);
	free(ports);
	return r;
}

struct label {
	const char *k, *v;
};

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->k, ((const struct label *)b)->k);
}

/* Labels as Prisma lists them: ["key:value", ...], sorted by key. */
static int build_labels(struct chk *c, const json_t *labels, struct out *o, json_t **out,
			int *truncated)
{
	size_t n = 0, cap = json_object_size(labels);
	struct label *l;
	const char *k;
	const json_t *v;
	json_t *arr;

	*out = NULL;
	*truncated = 0;
	l = calloc(cap ? cap : 1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	json_object_foreach((json_t *)labels, k, v) {
		const char *s;

		if (!json_is_string(v)) {
			free(l);
			return bad(c, "the value of a label is not a string");
		}
		s = json_string_value(v);
		if (strlen(k) > INVENTORY_LABEL_KEY_MAX ||
		    json_string_length(v) > INVENTORY_LABEL_VALUE_MAX ||
		    strlen(s) != json_string_length(v)) {
			*truncated = 1;
			continue;
		}
		l[n].k = k;
		l[n].v = s;
		n++;
	}
	qsort(l, n, sizeof(*l), label_cmp);
	if (n > INVENTORY_LABELS_MAX) {
		n = INVENTORY_LABELS_MAX;
		*truncated = 1;
	}
	arr = json_array();
	if (arr == NULL) {
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(l[i].k), vl = strlen(l[i].v);
		char *kv = malloc(kl + vl + 2);

		if (kv == NULL) {
			o->oom = 1;
			break;
		}
		memcpy(kv, l[i].k, kl);
		kv[kl] = ':';
		memcpy(kv + kl + 1, l[i].v, vl + 1);
		push(o, arr, json_string(kv));
		free(kv);
	}
	free(l);
	*out = arr;
	return 0;
}

/* A label value when it is a string (labels were checked by build_labels). */
static const char *label(const json_t *labels, const char *k)
{
	const json_t *v = json_object_get(labels, k);
	const char *s = json_string_value(v);

	if (s == NULL || json_string_length(v) > INVENTORY_LABEL_VALUE_MAX || s[0] == '\0')
		return NULL;
	return s;
}

static int build_caps(struct chk *c, const json_t *caps, const char *what, struct out *o,
		      json_t **out)
{
	json_t *arr = json_array();
	const json_t *v;
	size_t i;

	*out = NULL;
	if (arr == NULL)
		return -ENOMEM;
	json_array_foreach(caps, i, v) {
		const char *s;
		char up[72];
		size_t j;
		int r;

		if ((r = v_str(c, v, what, 64, &s)) < 0) {
			json_decref(arr);
			return r;
		}
		if (i >= INVENTORY_CAPS_MAX)
			break;
		if (strncasecmp(s, "CAP_", 4) == 0)
			s += 4;
		for (j = 0; s[j] && j < sizeof(up) - 1; j++)
			up[j] = (s[j] >= 'a' && s[j] <= 'z') ? (char)(s[j] - 32) : s[j];
		up[j] = '\0';
		push(o, arr, json_string(up));
	}
	*out = arr;
	return 0;
}

static int build_mounts(struct chk *c, const json_t *mounts, struct out *o, json_t **out,
			int *truncated)
{
	json_t *arr = json_array();
	const json_t *m;
	size_t i;
	int r = 0;

	*out = NULL;
	*truncated = 0;
	if (arr == NULL)
		return -ENOMEM;
	json_array_foreach(mounts, i, m) {
		const char *type, *src, *dst, *name, *prop, *mode;
		int rw;
		json_t *x;

		if (!json_is_object(m)) {
			r = bad(c, "an element of Mounts is not an object");
			break;
		}
		if ((r = m_str(c, m, "Type", 32, 0, &type)) < 0 ||
		    (r = m_str(c, m, "Source", PATH_MAX, 0, &src)) < 0 ||
		    (r = m_str(c, m, "Destination", PATH_MAX, 1, &dst)) < 0 ||
		    (r = m_str(c, m, "Name", 256, 0, &name)) < 0 ||
		    (r = m_str(c, m, "Propagation", 32, 0, &prop)) < 0 ||
		    (r = m_str(c, m, "Mode", 64, 0, &mode)) < 0 ||
		    (r = m_bool(c, m, "RW", &rw)) < 0)
			break;
		if (i >= INVENTORY_MOUNTS_MAX) {
			*truncated = 1;
			continue;
		}
		x = json_object();
		put_str(o, x, "type", type);
		if (src && src[0])
			put_str(o, x, "source", src);
		put_str(o, x, "destination", dst);
		put(o, x, "rw", json_boolean(rw));
		if (name && name[0])
			put_str(o, x, "name", name);
		if (prop && prop[0])
			put_str(o, x, "propagation", prop);
		push(o, arr, x);
	}
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

static int build_network_settings(struct chk *c, const json_t *ns, struct out *o, json_t **out)
{
	const json_t *nets, *v;
	const char *ip, *mac, *name;
	json_t *x, *arr;
	size_t count = 0;
	int r;

	*out = NULL;
	if ((r = m_str(c, ns, "IPAddress", 64, 0, &ip)) < 0 ||
	    (r = m_str(c, ns, "MacAddress", 64, 0, &mac)) < 0 ||
	    (r = m_obj(c, ns, "Networks", 0, &nets)) < 0)
		return r;
	x = json_object();
	arr = json_array();
	if (x == NULL || arr == NULL) {
		json_decref(x);
		json_decref(arr);
		return -ENOMEM;
	}
	if (ip && ip[0])
		put_str(o, x, "ipAddress", ip);
	if (mac && mac[0])
		put_str(o, x, "macAddress", mac);
	json_object_foreach((json_t *)nets, name, v) {
		const char *nip, *nmac;
		json_t *n;

		if (!json_is_object(v)) {
			json_decref(x);
			json_decref(arr);
			return bad(c, "an element of NetworkSettings.Networks is not an object");
		}
		if ((r = m_str(c, v, "IPAddress", 64, 0, &nip)) < 0 ||
		    (r = m_str(c, v, "MacAddress", 64, 0, &nmac)) < 0) {
			json_decref(x);
			json_decref(arr);
			return r;
		}
		if (strlen(name) > 256 || count++ >= INVENTORY_NETWORKS_MAX)
			continue;
		n = json_object();
		put_str(o, n, "name", name);
		if (nip && nip[0])
			put_str(o, n, "ipAddress", nip);
		if (nmac && nmac[0])
			put_str(o, n, "macAddress", nmac);
		push(o, arr, n);
	}
	put(o, x, "networks", arr);
	*out = x;
	return 0;
}

/* The canonical image name: the configured one with ":latest" when it names no tag or digest. */
static json_t *canonical_image(const char *cfg)
{
	const char *slash = strrchr(cfg, '/'), *last = slash ? slash + 1 : cfg;
	size_t n = strlen(cfg);
	char *s;
	json_t *j;

	if (strncmp(cfg, "sha256:", 7) == 0 || strchr(cfg, '@') != NULL ||
	    strchr(last, ':') != NULL || n == 0)
		return json_string(cfg);
	s = malloc(n + 8);
	if (s == NULL)
		return NULL;
	memcpy(s, cfg, n);
	memcpy(s + n, ":latest", 8);
	j = json_string(s);
	free(s);
	return j;
}

/* Sheds the bulky members of a record that would not fit in INVENTORY_RECORD_MAX. */
static void shed(json_t *rec)
{
	static const char *const bulky[][2] = {
		{ "processes", "processesTruncated" },
		{ "labels", "labelsTruncated" },
		{ "mounts", "mountsTruncated" },
		{ "network", "portsTruncated" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bulky); i++) {
		if (json_dumpb(rec, NULL, 0, JSON_COMPACT) <= INVENTORY_RECORD_MAX)
			return;
		if (strcmp(bulky[i][0], "network") == 0)
			json_object_set_new(rec, bulky[i][0], json_pack("{s:[]}", "ports"));
		else
			json_object_set_new(rec, bulky[i][0], json_array());
		json_object_set_new(rec, bulky[i][1], json_true());
	}
}

int inventory_container_record(const json_t *inspect, const json_t *processes,
			       const struct inventory_facts *facts, const char *node_cluster,
			       json_t **out, char *err, size_t errlen)
{
	struct chk c = { err, errlen, "container" };
	struct out o = { 0 };
	const char *id, *name, *image_id, *created, *status, *started, *cfg_image, *user;
	const char *netmode, *pidmode, *ipcmode, *ecs_cluster, *k8s_ns, *k8s_pod, *k8s_cont,
		*ecs_cont;
	const json_t *state, *config, *hc, *labels, *mounts, *ns, *ns_ports, *capadd, *capdrop;
	json_t *rec = NULL, *x = NULL;
	json_int_t pid;
	int r, present, privileged, readonly, running, trunc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!json_is_object(inspect))
		return bad(&c, "the inspect answer is not a JSON object");
	if ((r = m_str(&c, inspect, "Id", 64, 1, &id)) < 0)
		return r;
	if (!docker_is_container_id(id))
		return bad(&c, "Id is not a container id");
	snprintf(c.what, sizeof(c.what), "container %.12s", id);
	if ((r = m_str(&c, inspect, "Name", 256, 1, &name)) < 0 ||
	    (r = m_str(&c, inspect, "Image", 256, 1, &image_id)) < 0 ||
	    (r = m_str(&c, inspect, "Created", 64, 0, &created)) < 0 ||
	    (r = m_obj(&c, inspect, "State", 1, &state)) < 0 ||
	    (r = m_str(&c, state, "Status", 32, 1, &status)) < 0 ||
	    (r = m_bool(&c, state, "Running", &running)) < 0 ||
	    (r = m_int(&c, state, "Pid", 0, PID_MAX, 0, &pid, &present)) < 0 ||
	    (r = m_str(&c, state, "StartedAt", 64, 0, &started)) < 0 ||
	    (r = m_obj(&c, inspect, "Config", 1, &config)) < 0 ||
	    (r = m_str(&c, config, "Image", 512, 1, &cfg_image)) < 0 ||
	    (r = m_str(&c, config, "User", 256, 0, &user)) < 0 ||
	    (r = m_obj(&c, config, "Labels", 0, &labels)) < 0 ||
	    (r = m_obj(&c, inspect, "HostConfig", 1, &hc)) < 0 ||
	    (r = m_bool(&c, hc, "Privileged", &privileged)) < 0 ||
	    (r = m_bool(&c, hc, "ReadonlyRootfs", &readonly)) < 0 ||
	    (r = m_str(&c, hc, "NetworkMode", 128, 0, &netmode)) < 0 ||
	    (r = m_str(&c, hc, "PidMode", 128, 0, &pidmode)) < 0 ||
	    (r = m_str(&c, hc, "IpcMode", 128, 0, &ipcmode)) < 0 ||
	    (r = m_arr(&c, hc, "CapAdd", 0, &capadd)) < 0 ||
	    (r = m_arr(&c, hc, "CapDrop", 0, &capdrop)) < 0 ||
	    (r = m_arr(&c, inspect, "Mounts", 0, &mounts)) < 0 ||
	    (r = m_obj(&c, inspect, "NetworkSettings", 0, &ns)) < 0 ||
	    (r = m_obj(&c, ns, "Ports", 0, &ns_ports)) < 0)
		return r;
	if (processes != NULL && !json_is_array(processes))
		return bad(&c, "the process list is not an array");

	rec = json_object();
	if (rec == NULL)
		return -ENOMEM;
	put_str(&o, rec, "id", id);
	put_str(&o, rec, "name", name[0] == '/' ? name + 1 : name);
	put(&o, rec, "image", canonical_image(cfg_image));
	put_str(&o, rec, "imageName", cfg_image);
	put_str(&o, rec, "imageID", image_id);
	put_str(&o, rec, "state", status);
	if (created)
		put_str(&o, rec, "created", created);
	/* a container that never ran has the zero time of Go */
	if (started && started[0] && strncmp(started, "0001-01-01", 10) != 0)
		put_str(&o, rec, "startTime", started);
	if (running && present && pid > 0)
		put(&o, rec, "pid", json_integer(pid));
	put_str(&o, rec, "user", user ? user : "");
	put(&o, rec, "privileged", json_boolean(privileged));
	put(&o, rec, "readonlyRootfs", json_boolean(readonly));
	put_str(&o, rec, "networkMode", netmode ? netmode : "");
	put_str(&o, rec, "pidMode", pidmode ? pidmode : "");
	put_str(&o, rec, "ipcMode", ipcmode ? ipcmode : "");
	put(&o, rec, "hostNetwork", json_boolean(netmode && strcmp(netmode, "host") == 0));
	put(&o, rec, "hostPid", json_boolean(pidmode && strcmp(pidmode, "host") == 0));
	put(&o, rec, "hostIpc", json_boolean(ipcmode && strcmp(ipcmode, "host") == 0));

	if ((r = build_labels(&c, labels, &o, &x, &trunc)) < 0)
		goto fail;
	put(&o, rec, "labels", x);
	if (trunc)
		put(&o, rec, "labelsTruncated", json_true());

	/* Where it belongs: its own ECS cluster label wins over the node's cluster. */
	ecs_cluster = label(labels, "com.amazonaws.ecs.cluster");
	if (ecs_cluster && cluster_name_check(ecs_cluster, strlen(ecs_cluster), NULL) == 0) {
		put_str(&o, rec, "cluster", ecs_cluster);
		put_str(&o, rec, "clusterSource", "ecs-label");
	} else if (node_cluster && node_cluster[0]) {
		put_str(&o, rec, "cluster", node_cluster);
		put_str(&o, rec, "clusterSource", "node");
	}
	k8s_ns = label(labels, "io.kubernetes.pod.namespace");
	k8s_pod = label(labels, "io.kubernetes.pod.name");
	k8s_cont = label(labels, "io.kubernetes.container.name");
	ecs_cont = label(labels, "com.amazonaws.ecs.container-name");
	if (k8s_ns)
		put_str(&o, rec, "namespace", k8s_ns);
	if (k8s_pod)
		put_str(&o, rec, "pod", k8s_pod);
	if (k8s_ns || k8s_pod || k8s_cont) {
		const char *uid = label(labels, "io.kubernetes.pod.uid");
		x = json_object();
		put_str(&o, x, "namespace", k8s_ns);
		put_str(&o, x, "pod", k8s_pod);
		put_str(&o, x, "containerName", k8s_cont);
		put_str(&o, x, "podUID", uid);
		put(&o, rec, "k8s", x);
	}
	if (ecs_cluster || ecs_cont || label(labels, "com.amazonaws.ecs.task-arn")) {
		x = json_object();
		put_str(&o, x, "cluster", ecs_cluster);
		put_str(&o, x, "taskArn", label(labels, "com.amazonaws.ecs.task-arn"));
		put_str(&o, x, "taskDefinitionFamily",
			label(labels, "com.amazonaws.ecs.task-definition-family"));
		put_str(&o, x, "taskDefinitionVersion",
			label(labels, "com.amazonaws.ecs.task-definition-version"));
		put_str(&o, x, "containerName", ecs_cont);
		put(&o, rec, "ecs", x);
	}
	/* Pause containers hold a pod's or a task's namespaces and run nothing of the user's. */
	put(&o, rec, "infra",
	    json_boolean((k8s_cont && strcmp(k8s_cont, "POD") == 0) ||
			 (ecs_cont && strcmp(ecs_cont, "~internal~ecs~pause") == 0)));

	if ((r = build_caps(&c, capadd, "HostConfig.CapAdd", &o, &x)) < 0)
		goto fail;
	put(&o, rec, "capAdd", x);
	if ((r = build_caps(&c, capdrop, "HostConfig.CapDrop", &o, &x)) < 0)
		goto fail;
	put(&o, rec, "capDrop", x);
	if ((r = build_mounts(&c, mounts, &o, &x, &trunc)) < 0)
		goto fail;
	put(&o, rec, "mounts", x);
	if (trunc)
		put(&o, rec, "mountsTruncated", json_true());
	if ((r = build_ports(&c, ns_ports, running ? facts : NULL,
			     netmode && strcmp(netmode, "host") == 0, &o, &x, &trunc)) < 0)
		goto fail;
	put(&o, rec, "network", json_pack("{s:o}", "ports", x));
	if (trunc)
		put(&o, rec, "portsTruncated", json_true());
	if (ns != NULL) {
		if ((r = build_network_settings(&c, ns, &o, &x)) < 0)
			goto fail;
		put(&o, rec, "networkSettings", x);
	}
	put(&o, rec, "processes", processes ? json_deep_copy(processes) : json_array());
	if (o.oom) {
		r = -ENOMEM;
		goto fail;
	}
	shed(rec);
	*out = rec;
	return 0;
fail:
	json_decref(rec);
	return r;
}

int inventory_processes(const json_t *top, json_t **out, char *err, size_t errlen)
{
	struct chk c = { err, errlen, "top" };
	struct out o = { 0 };
	const json_t *titles, *rows, *row, *t;
	int ipid = -1, ippid = -1, iuser = -1, icmd = -1, truncated = 0;
	size_t i, nt;
	json_t *arr;
	int r;

	*out = NULL;
	if (!json_is_object(top))
		return bad(&c, "the answer is not a JSON object");
	if ((r = m_arr(&c, top, "Titles", 1, &titles)) < 0 ||
	    (r = m_arr(&c, top, "Processes", 0, &rows)) < 0)
		return r;
	nt = json_array_size(titles);
	if (nt == 0 || nt > 64)
		return bad(&c, "Titles has %zu elements", nt);
	json_array_foreach(titles, i, t) {
		const char *s;
		if ((r = v_str(&c, t, "a title", 64, &s)) < 0)
			return r;
		if (strcmp(s, "PID") == 0)
			ipid = (int)i;
		else if (strcmp(s, "PPID") == 0)
			ippid = (int)i;
		else if (strcmp(s, "UID") == 0 || strcmp(s, "USER") == 0)
			iuser = (int)i;
		else if (strcmp(s, "CMD") == 0 || strcmp(s, "COMMAND") == 0)
			icmd = (int)i;
	}
	if (ipid < 0 || icmd < 0)
		return bad(&c, "Titles has no PID or no CMD");
	arr = json_array();
	if (arr == NULL)
		return -ENOMEM;
	json_array_foreach(rows, i, row) {
		const char *spid, *sppid = NULL, *user = NULL, *cmd;
		long pid, ppid = 0;
		size_t cl, nl;
		char *e, name[257];
		const char *w, *slash;
		json_t *p;

		if (!json_is_array(row) || json_array_size(row) != nt) {
			r = bad(&c, "a process is not an array of %zu strings", nt);
			goto fail;
		}
		if ((r = v_str(&c, json_array_get(row, (size_t)ipid), "PID", 16, &spid)) < 0 ||
		    (ippid >= 0 &&
		     (r = v_str(&c, json_array_get(row, (size_t)ippid), "PPID", 16, &sppid)) < 0) ||
		    (iuser >= 0 &&
		     (r = v_str(&c, json_array_get(row, (size_t)iuser), "UID", 64, &user)) < 0) ||
		    (r = v_str(&c, json_array_get(row, (size_t)icmd), "CMD", 128 * 1024, &cmd)) < 0)
			goto fail;
		errno = 0;
		pid = strtol(spid, &e, 10);
		if (errno || e == spid || *e || pid < 1 || pid > PID_MAX) {
			r = bad(&c, "a PID is not a process id");
			goto fail;
		}
		if (sppid != NULL) {
			errno = 0;
			ppid = strtol(sppid, &e, 10);
			if (errno || e == sppid || *e || ppid < 0 || ppid > PID_MAX) {
				r = bad(&c, "a PPID is not a process id");
				goto fail;
			}
		}
		if (json_array_size(arr) >= INVENTORY_PROCESSES_MAX) {
			truncated = 1;
			continue;
		}
		/* name: the first word of the command line, without its directory */
		w = cmd;
		nl = strcspn(w, " ");
		slash = memrchr(w, '/', nl);
		if (slash != NULL && (size_t)(slash + 1 - w) < nl) {
			nl -= (size_t)(slash + 1 - w);
			w = slash + 1;
		}
		nl = utf8_cut(w, nl, sizeof(name) - 1);
		memcpy(name, w, nl);
		name[nl] = '\0';
		cl = strlen(cmd);
		p = json_object();
		put_str(&o, p, "name", name[0] ? name : cmd);
		if (cl > INVENTORY_CMD_MAX) {
			put(&o, p, "cmdline",
			    json_stringn(cmd, utf8_cut(cmd, cl, INVENTORY_CMD_MAX)));
			put(&o, p, "cmdlineTruncated", json_true());
		} else {
			put_str(&o, p, "cmdline", cmd);
		}
		put(&o, p, "pid", json_integer(pid));
		if (sppid != NULL)
			put(&o, p, "ppid", json_integer(ppid));
		if (user != NULL)
			put_str(&o, p, "user", user);
		push(&o, arr, p);
	}
	if (o.oom) {
		r = -ENOMEM;
		goto fail;
	}
	*out = arr;
	return truncated;
fail:
	json_decref(arr);
	return r;
}

/* ================================================================================================
 * Image records
 * ============================================================================================== */

static int build_refs(struct chk *c, const json_t *list, const char *what, const char *none,
		      struct out *o, json_t **out)
{
	json_t *arr = json_array();
	const json_t *v;
	size_t i;
	int r;

	*out = NULL;
	if (arr == NULL)
		return -ENOMEM;
	json_array_foreach(list, i, v) {
		const char *s;
		if ((r = v_str(c, v, what, 1024, &s)) < 0) {
			json_decref(arr);
			return r;
		}
		if (strcmp(s, none) == 0 || s[0] == '\0' ||
		    json_array_size(arr) >= INVENTORY_TAGS_MAX)
			continue;
		push(o, arr, json_string(s));
	}
	*out = arr;
	return 0;
}

int inventory_image_record(const json_t *summary, const json_t *inspect, json_t **out, char *err,
			   size_t errlen)
{
	struct chk c = { err, errlen, "image" };
	struct out o = { 0 };
	const json_t *tags, *digests;
	const char *id, *os = NULL, *arch = NULL, *variant = NULL;
	json_int_t size, created;
	int r, has_size, has_created;
	char when[32];
	json_t *rec, *x;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!json_is_object(summary))
		return bad(&c, "the list element is not a JSON object");
	if ((r = m_str(&c, summary, "Id", 71, 1, &id)) < 0)
		return r;
	if (!docker_is_image_id(id))
		return bad(&c, "Id is not an image id");
	snprintf(c.what, sizeof(c.what), "image %.19s", id);
	if ((r = m_arr(&c, summary, "RepoTags", 0, &tags)) < 0 ||
	    (r = m_arr(&c, summary, "RepoDigests", 0, &digests)) < 0 ||
	    (r = m_int(&c, summary, "Size", 0, (json_int_t)1 << 53, 0, &size, &has_size)) < 0 ||
	    (r = m_int(&c, summary, "Created", 0, (json_int_t)1 << 40, 0, &created, &has_created)) <
		    0)
		return r;
	if (inspect != NULL) {
		const char *iid;
		if (!json_is_object(inspect))
			return bad(&c, "the inspect answer is not a JSON object");
		if ((r = m_str(&c, inspect, "Id", 71, 1, &iid)) < 0 ||
		    (r = m_str(&c, inspect, "Os", 64, 0, &os)) < 0 ||
		    (r = m_str(&c, inspect, "Architecture", 64, 0, &arch)) < 0 ||
		    (r = m_str(&c, inspect, "Variant", 64, 0, &variant)) < 0)
			return r;
		if (strcmp(iid, id) != 0)
			return bad(&c, "the inspect answer is about another image");
	}
	rec = json_object();
	if (rec == NULL)
		return -ENOMEM;
	put_str(&o, rec, "id", id);
	if ((r = build_refs(&c, tags, "RepoTags", "<none>:<none>", &o, &x)) < 0)
		goto fail;
	put(&o, rec, "repoTags", x);
	if ((r = build_refs(&c, digests, "RepoDigests", "<none>@<none>", &o, &x)) < 0)
		goto fail;
	put(&o, rec, "repoDigests", x);
	if (has_size)
		put(&o, rec, "sizeBytes", json_integer(size));
	if (has_created) {
		util_time_rfc3339((time_t)created, when, sizeof(when));
		put_str(&o, rec, "created", when);
	}
	if (os && os[0])
		put_str(&o, rec, "os", os);
	if (arch && arch[0])
		put_str(&o, rec, "architecture", arch);
	if (variant && variant[0])
		put_str(&o, rec, "variant", variant);
	if (o.oom) {
		r = -ENOMEM;
		goto fail;
	}
	*out = rec;
	return 0;
fail:
	json_decref(rec);
	return r;
}

/* ================================================================================================
 * Snapshot messages
 * ============================================================================================== */

static json_t *new_part(const char *sid)
{
	return json_pack("{s:s,s:s,s:[],s:[]}", "type", "inventory", "snapshotID", sid,
			 "containers", "images");
}

/* inventory_snapshot_messages(); with copy == 0 the records of containers and images are put in
 * the parts as they are (the caller built them for this and drops its arrays afterwards). */
static int snapshot_messages(const json_t *host, const json_t *docker, const json_t *containers,
			     const json_t *images, int copy, json_t **out)
{
	const json_t *lists[2] = { containers, images };
	static const char *const names[2] = { "containers", "images" };
	char *sid = util_random_hex(8);
	json_t *parts = json_array(), *cur = NULL;
	size_t cur_size, nrec = 0, nparts;
	int r = -ENOMEM;

	*out = NULL;
	if (sid == NULL || parts == NULL)
		goto fail;
	cur = new_part(sid);
	if (cur == NULL ||
	    json_object_set_new(cur, "host", host ? json_deep_copy(host) : json_object()) < 0 ||
	    json_object_set_new(cur, "docker", docker ? json_deep_copy(docker) : json_object()) < 0)
		goto fail;
	/* room for "part" and "parts" */
	cur_size = json_dumpb(cur, NULL, 0, JSON_COMPACT) + 48;
	for (int l = 0; l < 2; l++) {
		const json_t *v;
		size_t i;

		json_array_foreach(lists[l], i, v) {
			size_t sz = json_dumpb(v, NULL, 0, JSON_COMPACT) + 1;
			json_t *rec;

			if (nrec > 0 && cur_size + sz > INVENTORY_MSG_MAX) {
				if (json_array_append_new(parts, cur) < 0) {
					cur = NULL;
					goto fail;
				}
				cur = new_part(sid);
				if (cur == NULL)
					goto fail;
				cur_size = json_dumpb(cur, NULL, 0, JSON_COMPACT) + 48;
				nrec = 0;
			}
			rec = copy ? json_deep_copy(v) : json_incref((json_t *)v);
			if (rec == NULL ||
			    json_array_append_new(json_object_get(cur, names[l]), rec) < 0)
				goto fail;
			cur_size += sz;
			nrec++;
		}
	}
	if (json_array_append_new(parts, cur) < 0) {
		cur = NULL;
		goto fail;
	}
	cur = NULL;
	nparts = json_array_size(parts);
	for (size_t i = 0; i < nparts; i++) {
		json_t *p = json_array_get(parts, i);
		if (json_object_set_new(p, "part", json_integer((json_int_t)i + 1)) < 0 ||
		    json_object_set_new(p, "parts", json_integer((json_int_t)nparts)) < 0)
			goto fail;
	}
	free(sid);
	*out = parts;
	return 0;
fail:
	free(sid);
	json_decref(cur);
	json_decref(parts);
	return r;
}

int inventory_snapshot_messages(const json_t *host, const json_t *docker, const json_t *containers,
				const json_t *images, json_t **out)
{
	return snapshot_messages(host, docker, containers, images, 1, out);
}

/* ================================================================================================
 * The thread
 * ============================================================================================== */

struct recheck {
	char id[65];
	int64_t due;
};

struct inventory {
	char *host_root;
	char *node_cluster;
	char sock[128];
	char proc_root[PATH_MAX];
	char cgroup_root[PATH_MAX];
	inventory_emit_fn emit;
	void *arg;
	pthread_t thread;
	atomic_int stop, resync;
	int wake_fd;
	int refresh_s;

	pthread_mutex_t mu; /* guards the status below */
	char st[16];
	char st_err[DOCKER_ERRMSG_MAX];
	char st_engine[DOCKER_VERSION_MAX];
	char st_api[16];

	/* the inventory thread's own */
	struct docker *d;
	json_t *containers; /* id -> record */
	json_t *images;     /* id -> record */
	json_t *dirty;      /* container ids to look at again */
	int dirty_overflow, images_dirty;
	struct recheck rechecks[RECHECKS_MAX];
	size_t nrechecks;
	char emitted_st[16];
	char emitted_engine[DOCKER_VERSION_MAX];
	int warned_list;
	int warned_proc;            /* processes had to come from top once */
	int force_top;              /* GARRISON_INVENTORY_TOP=1: always ask the engine (benchmarks) */
	struct cproc_users *users;  /* the host's uid -> name, read again with every full listing */
};

/* ---- the model's values ----
 * Container records are kept as their compact JSON text (a json string): a few hundred bytes of
 * text instead of a tree of a hundred small allocations each, which is most of what 200 containers
 * cost in memory. Records are built deterministically (same members, same order), so equal texts
 * mean equal records. Images are few and stay objects. */

static json_t *rec_text(const json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT);
	json_t *t;

	if (s == NULL)
		return NULL;
	t = json_stringn_nocheck(s, strlen(s)); /* jansson wrote it: valid UTF-8 */
	free(s);
	return t;
}

/* A new object for a model value: a parse of its text, or a deep copy of an object. */
static json_t *rec_object(const json_t *v)
{
	if (json_is_string(v))
		return json_loadb(json_string_value(v), json_string_length(v), 0, NULL);
	return json_deep_copy(v);
}

static int rec_equal(const json_t *a, const json_t *b)
{
	if (json_is_string(a) && json_is_string(b))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) ==
			       0;
	return json_equal(a, b);
}

/* 1 for a running container. In the text, `,"state":"` can only be the record's own member: no
 * nested object of a record has one, and a quote inside a string value is escaped. */
static int rec_running(const json_t *v)
{
	if (json_is_string(v))
		return strstr(json_string_value(v), ",\"state\":\"running\",") != NULL;
	return json_is_string(json_object_get(v, "state")) &&
	       strcmp(json_string_value(json_object_get(v, "state")), "running") == 0;
}

/* Gives the pages that freed memory leaves behind back to the kernel (every arena): after a
 * listing or a snapshot the thread has freed far more than it keeps. */
static void release_memory(void)
{
	malloc_trim(0);
}

static void inv_wake(struct inventory *inv)
{
	uint64_t one = 1;
	ssize_t w = write(inv->wake_fd, &one, sizeof(one));

	(void)w; /* a full counter already wakes */
}

static void inv_drain(struct inventory *inv)
{
	uint64_t v;

	while (read(inv->wake_fd, &v, sizeof(v)) > 0)
		;
}

/* Sleeps up to ms or until woken. */
static void inv_sleep(struct inventory *inv, int64_t ms)
{
	struct pollfd p = { .fd = inv->wake_fd, .events = POLLIN };

	if (ms <= 0)
		return;
	poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

static void emit(struct inventory *inv, json_t *msg)
{
	if (msg == NULL) {
		log_warn("inventory: out of memory building a message; resyncing");
		atomic_store(&inv->resync, 1);
		return;
	}
	inv->emit(msg, inv->arg);
}

static json_t *status_json_locked(struct inventory *inv)
{
	json_t *o = json_object();
	struct out ou = { 0 };

	if (o == NULL)
		return NULL;
	put_str(&ou, o, "docker", inv->st);
	if (strcmp(inv->st, "ok") != 0)
		put_str(&ou, o, "error", inv->st_err);
	if (inv->st_engine[0])
		put_str(&ou, o, "engineVersion", inv->st_engine);
	if (inv->st_api[0])
		put_str(&ou, o, "apiVersion", inv->st_api);
	put_str(&ou, o, "socket", inv->sock);
	if (ou.oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *inventory_status(struct inventory *inv)
{
	json_t *o;

	pthread_mutex_lock(&inv->mu);
	o = status_json_locked(inv);
	pthread_mutex_unlock(&inv->mu);
	return o;
}

/* Sets the status; emits docker-status when the state or the engine version changed. */
static void set_status(struct inventory *inv, const char *st, const char *errmsg)
{
	json_t *msg = NULL;
	int changed;

	pthread_mutex_lock(&inv->mu);
	snprintf(inv->st, sizeof(inv->st), "%s", st);
	snprintf(inv->st_err, sizeof(inv->st_err), "%s", errmsg ? errmsg : "");
	if (strcmp(st, "ok") == 0) {
		snprintf(inv->st_engine, sizeof(inv->st_engine), "%s",
			 docker_engine_version(inv->d));
		snprintf(inv->st_api, sizeof(inv->st_api), "%s", docker_api_version(inv->d));
	}
	changed = strcmp(inv->emitted_st, inv->st) != 0 ||
		  strcmp(inv->emitted_engine, inv->st_engine) != 0;
	if (changed) {
		msg = status_json_locked(inv);
		if (msg != NULL &&
		    json_object_set_new(msg, "type", json_string("docker-status")) < 0) {
			json_decref(msg);
			msg = NULL;
		}
		snprintf(inv->emitted_st, sizeof(inv->emitted_st), "%s", inv->st);
		snprintf(inv->emitted_engine, sizeof(inv->emitted_engine), "%s", inv->st_engine);
	}
	pthread_mutex_unlock(&inv->mu);
	if (changed) {
		if (strcmp(st, "ok") == 0)
			log_info("inventory: Docker engine %s at %s (API %s)",
				 docker_engine_version(inv->d), inv->sock,
				 docker_api_version(inv->d));
		else
			log_warn("inventory: Docker engine %s: %s", st, errmsg ? errmsg : "");
		emit(inv, msg);
	}
}

static json_t *host_record(struct inventory *inv)
{
	json_t *h = hostinfo_collect(inv->host_root), *v;
	const char *id;
	json_int_t running = 0;

	if (h == NULL)
		return NULL;
	json_object_foreach(inv->containers, id, v)
		if (rec_running(v))
			running++;
	json_object_set_new(h, "containerCount",
			    json_integer((json_int_t)json_object_size(inv->containers)));
	json_object_set_new(h, "runningContainerCount", json_integer(running));
	json_object_set_new(h, "imageCount",
			    json_integer((json_int_t)json_object_size(inv->images)));
	return h;
}

/* Fresh records (new objects nobody else holds) of every value of a model map. */
static json_t *values(const json_t *map)
{
	json_t *arr = json_array(), *v;
	const char *k;

	if (arr == NULL)
		return NULL;
	json_object_foreach((json_t *)map, k, v) {
		if (json_array_append_new(arr, rec_object(v)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static void emit_snapshot(struct inventory *inv)
{
	json_t *host = host_record(inv), *docker = inventory_status(inv);
	json_t *cs = values(inv->containers), *is = values(inv->images), *parts = NULL, *p;
	size_t i;

	/* the records are fresh: the parts take them over instead of copying them again */
	if (host == NULL || docker == NULL || cs == NULL || is == NULL ||
	    snapshot_messages(host, docker, cs, is, 0, &parts) < 0) {
		log_warn("inventory: out of memory building a snapshot");
		atomic_store(&inv->resync, 1);
		goto out;
	}
	log_debug("inventory: snapshot of %zu containers and %zu images in %zu messages",
		  json_array_size(cs), json_array_size(is), json_array_size(parts));
	/* the model's share of the heap, for docs/benchmarks.md */
	json_decref(cs);
	json_decref(is);
	cs = is = NULL;
	json_array_foreach(parts, i, p)
		emit(inv, json_incref(p));
out:
	json_decref(parts);
	json_decref(host);
	json_decref(docker);
	json_decref(cs);
	json_decref(is);
	release_memory();
	{
		struct mallinfo2 mi = mallinfo2();
		log_debug("inventory: after the snapshot: %zu containers, %zu images; malloc in use "
			  "%zu KiB, free %zu KiB, mmapped %zu KiB",
			  json_object_size(inv->containers), json_object_size(inv->images),
			  mi.uordblks / 1024, mi.fordblks / 1024, mi.hblkhd / 1024);
	}
}

/* Emits {"type": type, member: rec}; rec is a model value (a record or its text), copied. */
static void emit_record(struct inventory *inv, const char *type, const char *member,
			const json_t *rec)
{
	json_t *copy = rec_object(rec);

	emit(inv, copy ? json_pack("{s:s,s:o}", "type", type, member, copy) : NULL);
}

static void emit_removed(struct inventory *inv, const char *type, const char *id)
{
	emit(inv, json_pack("{s:s,s:s}", "type", type, "id", id));
}

/* A failure that ends the session: the engine is gone, answered garbage, or we are stopping. */
static int fatal(int r)
{
	return docker_err_unreachable(r) || r == -ECANCELED || r == -EPROTO || r == -ENOMEM;
}

/* Inspects a container and what /proc says about it. 0 and *rec; -ENOENT when it is gone; a
 * fatal() error; or another error (the container's answers were garbage: logged here). */
static int collect_container(struct inventory *inv, const char *id, json_t **rec)
{
	char path[128], err[320];
	json_t *inspect = NULL, *top = NULL, *procs = NULL;
	struct hostinfo_listen *listen = NULL;
	uint64_t *inodes = NULL;
	struct inventory_facts facts;
	long *pids = NULL;
	size_t npids = 0;
	json_int_t pid;
	int r, procs_trunc = 0;

	*rec = NULL;
	memset(&facts, 0, sizeof(facts));
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	r = docker_get_json(inv->d, path, &inspect);
	if (r < 0) {
		if (!fatal(r) && r != -ENOENT)
			log_warn("inventory: %s", docker_errmsg(inv->d));
		return r;
	}
	pid = json_integer_value(json_object_get(json_object_get(inspect, "State"), "Pid"));
	if (json_is_true(json_object_get(json_object_get(inspect, "State"), "Running")) &&
	    pid > 0 && pid <= PID_MAX) {
		/* The processes from /proc: no round trip to the engine, no `ps` forked by it. */
		pids = malloc(INVENTORY_PROCESSES_MAX * sizeof(*pids));
		if (pids == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = inv->force_top ? -EPERM
				   : cproc_pids(inv->proc_root, inv->cgroup_root, id, (long)pid,
						pids, INVENTORY_PROCESSES_MAX, &npids, &procs_trunc);
		if (r == 0) {
			r = cproc_processes(inv->proc_root, inv->users, pids, npids,
					    INVENTORY_CMD_MAX, &procs);
			if (r < 0)
				goto out;
		} else if (r == -ENOMEM) {
			goto out;
		} else {
			/* /proc does not show it (another PID namespace, no access, the container
			 * just stopped): the engine's top, which is slow but sees everything */
			if (!inv->force_top && !inv->warned_proc) {
				inv->warned_proc = 1;
				log_info("inventory: the processes of container %.12s are not visible "
					 "in %s (%s); asking the engine (GET /containers/{id}/top) "
					 "when that happens",
					 id, inv->proc_root,
					 r == -ESRCH ? "that pid is another process there"
						     : strerror(-r));
			} else {
				log_debug("inventory: container %.12s: processes from top (%s)", id,
					  strerror(-r));
			}
			procs_trunc = 0;
			snprintf(path, sizeof(path), "/containers/%s/top", id);
			r = docker_get_json(inv->d, path, &top);
			if (r < 0 && fatal(r))
				goto out;
			if (r < 0 && r != -EBUSY && r != -ENOENT)
				log_warn("inventory: %s", docker_errmsg(inv->d));
		}
		if (top != NULL) {
			procs_trunc = inventory_processes(top, &procs, err, sizeof(err));
			if (procs_trunc < 0) {
				log_warn("inventory: %s", err);
				procs_trunc = 0;
			}
		}
		listen = malloc(INVENTORY_LISTEN_MAX * sizeof(*listen));
		inodes = malloc(INVENTORY_INODES_MAX * sizeof(*inodes));
		if (listen == NULL || inodes == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = hostinfo_listening(inv->proc_root, (long)pid, listen, INVENTORY_LISTEN_MAX,
				       &facts.nlisten);
		facts.listen = listen;
		facts.listen_known = r == 0 || r == -E2BIG;
		if (facts.listen_known && procs != NULL && json_array_size(procs) > 0) {
			const json_t *p;
			size_t i;
			int any = 0;

			json_array_foreach(procs, i, p) {
				long ppid = (long)json_integer_value(json_object_get(p, "pid"));
				r = hostinfo_socket_inodes(inv->proc_root, ppid, inodes,
							   INVENTORY_INODES_MAX, &facts.ninodes);
				if (r == 0)
					any = 1;
				if (r == -E2BIG) {
					any = 1;
					break;
				}
			}
			facts.inodes = inodes;
			facts.inodes_known = any;
		}
	}
	r = inventory_container_record(inspect, procs, &facts, inv->node_cluster, rec, err,
				       sizeof(err));
	if (r < 0)
		log_warn("inventory: %s", err);
	else if (procs_trunc)
		json_object_set_new(*rec, "processesTruncated", json_true());
out:
	free(pids);
	free(listen);
	free(inodes);
	json_decref(inspect);
	json_decref(top);
	json_decref(procs);
	return r;
}

/* Lists the containers and builds the new container map (records that cannot be built keep
 * their old version). 0 and *out, or a fatal error. */
static int list_containers(struct inventory *inv, json_t **out)
{
	json_t *list = NULL, *map = json_object(), *e;
	size_t i;
	int r;

	*out = NULL;
	if (map == NULL)
		return -ENOMEM;
	r = docker_get_json(inv->d, "/containers/json?all=1", &list);
	if (r < 0)
		goto fail;
	if (!json_is_array(list)) {
		r = -EBADMSG;
		log_warn("inventory: GET /containers/json: not a JSON array");
		goto fail;
	}
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		json_t *rec;

		if (i >= INVENTORY_CONTAINERS_MAX) {
			if (!inv->warned_list++)
				log_warn("inventory: more than %d containers; the rest is left out",
					 INVENTORY_CONTAINERS_MAX);
			break;
		}
		if (!docker_is_container_id(id)) {
			r = -EBADMSG;
			log_warn("inventory: GET /containers/json: an element has no valid Id");
			goto fail;
		}
		r = collect_container(inv, id, &rec);
		if (r < 0 && fatal(r))
			goto fail;
		if (r == 0) {
			json_t *text = rec_text(rec);

			json_decref(rec);
			if (text == NULL || json_object_set_new(map, id, text) < 0) {
				r = -ENOMEM;
				goto fail;
			}
		} else if (r != -ENOENT && json_object_get(inv->containers, id) != NULL) {
			json_object_set(map, id, json_object_get(inv->containers, id));
		}
	}
	json_decref(list);
	*out = map;
	return 0;
fail:
	json_decref(list);
	json_decref(map);
	return r;
}

/* Lists the images; inspects only those not seen before (an image's os never changes). */
static int list_images(struct inventory *inv, json_t **out)
{
	json_t *list = NULL, *map = json_object(), *e;
	char err[320], path[128];
	size_t i;
	int r;

	*out = NULL;
	if (map == NULL)
		return -ENOMEM;
	r = docker_get_json(inv->d, "/images/json", &list);
	if (r < 0)
		goto fail;
	if (!json_is_array(list)) {
		r = -EBADMSG;
		log_warn("inventory: GET /images/json: not a JSON array");
		goto fail;
	}
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		const json_t *old;
		json_t *rec = NULL, *inspect = NULL;

		if (i >= INVENTORY_IMAGES_MAX)
			break;
		if (!docker_is_image_id(id)) {
			r = -EBADMSG;
			log_warn("inventory: GET /images/json: an element has no valid Id");
			goto fail;
		}
		old = json_object_get(inv->images, id);
		if (old == NULL || json_object_get(old, "os") == NULL) {
			snprintf(path, sizeof(path), "/images/%s/json", id);
			r = docker_get_json(inv->d, path, &inspect);
			if (r < 0 && fatal(r))
				goto fail;
			if (r == -ENOENT)
				continue; /* deleted meanwhile */
			if (r < 0)
				log_warn("inventory: %s", docker_errmsg(inv->d));
		}
		r = inventory_image_record(e, inspect, &rec, err, sizeof(err));
		if (r < 0 && inspect != NULL) /* a bad inspect answer: the summary alone */
			r = inventory_image_record(e, NULL, &rec, err, sizeof(err));
		json_decref(inspect);
		if (r < 0) {
			log_warn("inventory: %s", err);
			continue;
		}
		if (inspect == NULL && old != NULL) {
			json_t *v;
			if ((v = json_object_get(old, "os")) != NULL)
				json_object_set(rec, "os", v);
			if ((v = json_object_get(old, "architecture")) != NULL)
				json_object_set(rec, "architecture", v);
			if ((v = json_object_get(old, "variant")) != NULL)
				json_object_set(rec, "variant", v);
		}
		if (json_object_set_new(map, id, rec) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	json_decref(list);
	*out = map;
	return 0;
fail:
	json_decref(list);
	json_decref(map);
	return r;
}

/* Replaces *model by next, emitting what changed between them. */
static void apply_diff(struct inventory *inv, json_t **model, json_t *next, const char *type,
		       const char *removed_type)
{
	const char *id;
	json_t *v;

	json_object_foreach(*model, id, v)
		if (json_object_get(next, id) == NULL)
			emit_removed(inv, removed_type, id);
	json_object_foreach(next, id, v) {
		const json_t *old = json_object_get(*model, id);
		if (old == NULL || !rec_equal(old, v))
			emit_record(inv, type, type, v);
	}
	json_decref(*model);
	*model = next;
}

/* (Re)reads the host's passwd for the user names of processes: `ps -ef` on the host, which top
 * runs, prints those. Without it, processes show numeric uids. */
static void load_users(struct inventory *inv)
{
	char path[PATH_MAX + 16];
	struct cproc_users *u = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/etc/passwd",
		 strcmp(inv->host_root, "/") == 0 ? "" : inv->host_root);
	r = cproc_users_load(path, &u);
	if (r < 0 && r != -ENOMEM && inv->users != NULL)
		return; /* keep the last good table */
	if (r < 0)
		log_debug("inventory: cannot read %s: %s", path, strerror(-r));
	cproc_users_free(inv->users);
	inv->users = u;
}

/* Lists everything again. With snapshot set, replaces the model and emits a full snapshot
 * (a new session); otherwise emits the differences. */
static int sync_all(struct inventory *inv, int snapshot)
{
	json_t *cs = NULL, *is = NULL;
	int r;

	load_users(inv);
	r = list_containers(inv, &cs);
	if (r < 0)
		return r;
	r = list_images(inv, &is);
	if (r < 0) {
		json_decref(cs);
		return r;
	}
	release_memory(); /* what listing and inspecting left free */
	if (snapshot) {
		json_decref(inv->containers);
		json_decref(inv->images);
		inv->containers = cs;
		inv->images = is;
		atomic_store(&inv->resync, 0);
		set_status(inv, "ok", NULL);
		emit_snapshot(inv);
	} else {
		apply_diff(inv, &inv->containers, cs, "container", "container-removed");
		apply_diff(inv, &inv->images, is, "image", "image-removed");
	}
	json_object_clear(inv->dirty);
	inv->dirty_overflow = 0;
	inv->images_dirty = 0;
	return 0;
}

/* Looks at one container again after an event. 0 or a fatal error. */
static int refresh_container(struct inventory *inv, const char *id)
{
	const json_t *old = json_object_get(inv->containers, id);
	json_t *rec, *text;
	int r = collect_container(inv, id, &rec);

	if (r == -ENOENT) {
		if (old != NULL) {
			emit_removed(inv, "container-removed", id);
			json_object_del(inv->containers, id);
		}
		return 0;
	}
	if (r < 0)
		return fatal(r) ? r : 0;
	if (json_object_size(inv->containers) >= INVENTORY_CONTAINERS_MAX && old == NULL) {
		json_decref(rec);
		return 0;
	}
	text = rec_text(rec);
	if (text == NULL) {
		json_decref(rec);
		return -ENOMEM;
	}
	/* the record itself goes out (no copy); the model keeps its text */
	if (old == NULL || !rec_equal(old, text))
		emit(inv, json_pack("{s:s,s:o}", "type", "container", "container", rec));
	else
		json_decref(rec);
	json_object_set_new(inv->containers, id, text);
	return 0;
}

static void schedule_recheck(struct inventory *inv, const char *id)
{
	int64_t due = util_now_ms() + INVENTORY_RECHECK_MS;

	for (size_t i = 0; i < inv->nrechecks; i++) {
		if (strcmp(inv->rechecks[i].id, id) == 0) {
			inv->rechecks[i].due = due;
			return;
		}
	}
	if (inv->nrechecks == RECHECKS_MAX)
		return; /* the periodic refresh will see it */
	snprintf(inv->rechecks[inv->nrechecks].id, sizeof(inv->rechecks[0].id), "%.64s", id);
	inv->rechecks[inv->nrechecks].due = due;
	inv->nrechecks++;
}

static void handle_event(struct inventory *inv, const json_t *ev)
{
	static const char *const relevant[] = {"create", "start",   "restart", "die",
					       "stop",	 "pause",   "unpause", "rename",
					       "update", "destroy", "oom"};
	struct docker_event e;
	char err[160];

	if (docker_event_parse(ev, &e, err, sizeof(err)) < 0) {
		log_debug("inventory: an event was ignored: %s", err);
		return;
	}
	if (strcmp(e.type, "image") == 0) {
		inv->images_dirty = 1;
		return;
	}
	if (strcmp(e.type, "container") != 0)
		return;
	if (strcmp(e.action, "commit") == 0) {
		inv->images_dirty = 1;
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(relevant); i++) {
		if (strcmp(e.action, relevant[i]) != 0)
			continue;
		if (!docker_is_container_id(e.id)) {
			log_debug(
				"inventory: a container event without a container id was ignored");
			return;
		}
		if (json_object_size(inv->dirty) >= DIRTY_MAX)
			inv->dirty_overflow = 1;
		else
			json_object_set_new(inv->dirty, e.id, json_true());
		if (strcmp(e.action, "start") == 0 || strcmp(e.action, "restart") == 0 ||
		    strcmp(e.action, "unpause") == 0)
			schedule_recheck(inv, e.id);
		return;
	}
}

static int process_dirty(struct inventory *inv)
{
	const char *id;
	json_t *v, *tmp;
	int64_t now = util_now_ms();
	int r;

	if (inv->dirty_overflow)
		return sync_all(inv, 0);
	json_object_foreach_safe(inv->dirty, tmp, id, v) {
		r = refresh_container(inv, id);
		if (r < 0)
			return r;
		json_object_del(inv->dirty, id);
	}
	for (size_t i = 0; i < inv->nrechecks;) {
		if (inv->rechecks[i].due > now) {
			i++;
			continue;
		}
		r = refresh_container(inv, inv->rechecks[i].id);
		if (r < 0)
			return r;
		inv->rechecks[i] = inv->rechecks[--inv->nrechecks];
	}
	if (inv->images_dirty) {
		json_t *is;
		r = list_images(inv, &is);
		if (r < 0)
			return fatal(r) ? r : 0;
		apply_diff(inv, &inv->images, is, "image", "image-removed");
		inv->images_dirty = 0;
	}
	return 0;
}

/* One connection to the engine: returns when it is lost (an error) or when stopping (0).
 * *reached_ok is set once the first snapshot went out. */
static int inv_session(struct inventory *inv, int *reached_ok)
{
	struct docker_events *ev = NULL;
	int64_t next_refresh;
	int r;

	*reached_ok = 0;
	r = docker_negotiate(inv->d);
	if (r < 0)
		return r;
	/* Subscribe before listing, so that nothing between the two is missed. */
	r = docker_events_open(inv->d, EVENT_FILTERS, inv->wake_fd, &ev);
	if (r < 0)
		return r;
	json_object_clear(inv->dirty);
	inv->nrechecks = 0;
	r = sync_all(inv, 1);
	if (r < 0)
		goto out;
	*reached_ok = 1;
	next_refresh = util_now_ms() + (int64_t)inv->refresh_s * 1000;
	for (;;) {
		int64_t now, wait;
		json_t *j = NULL;
		int n = 0;

		inv_drain(inv);
		if (atomic_load(&inv->stop)) {
			r = 0;
			break;
		}
		if (atomic_exchange(&inv->resync, 0))
			emit_snapshot(inv);
		now = util_now_ms();
		wait = next_refresh - now;
		for (size_t i = 0; i < inv->nrechecks; i++)
			if (inv->rechecks[i].due - now < wait)
				wait = inv->rechecks[i].due - now;
		if (wait > 1000)
			wait = 1000;
		if (wait < 0)
			wait = 0;
		r = docker_events_next(ev, (int)wait, &j);
		while (r == 1) {
			handle_event(inv, j);
			json_decref(j);
			j = NULL;
			if (++n >= EVENTS_PER_ROUND)
				break;
			r = docker_events_next(ev, 0, &j);
		}
		if (r < 0)
			break;
		r = process_dirty(inv);
		if (r < 0)
			break;
		if (util_now_ms() >= next_refresh) {
			r = sync_all(inv, 0);
			if (r < 0)
				break;
			next_refresh = util_now_ms() + (int64_t)inv->refresh_s * 1000;
		}
	}
out:
	docker_events_close(ev);
	return r;
}

static void *inv_main(void *arg)
{
	struct inventory *inv = arg;
	int64_t backoff = 0;

	while (!atomic_load(&inv->stop)) {
		int reached_ok = 0, r;
		int64_t deadline;
		uint32_t rnd = 0;

		r = inv_session(inv, &reached_ok);
		if (atomic_load(&inv->stop))
			break;
		set_status(inv, docker_err_unreachable(r) ? "unreachable" : "error",
			   docker_errmsg(inv->d));
		if (reached_ok)
			backoff = 0;
		backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
				  : BACKOFF_MIN_MS;
		util_random(&rnd, sizeof(rnd));
		deadline =
			util_now_ms() + backoff / 2 + (int64_t)(rnd % (uint32_t)(backoff / 2 + 1));
		while (!atomic_load(&inv->stop) && util_now_ms() < deadline) {
			inv_sleep(inv, deadline - util_now_ms());
			inv_drain(inv);
			if (atomic_exchange(&inv->resync, 0))
				emit_snapshot(inv);
		}
	}
	return NULL;
}

static void inv_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	if (inv->wake_fd >= 0)
		close(inv->wake_fd);
	docker_free(inv->d);
	json_decref(inv->containers);
	json_decref(inv->images);
	json_decref(inv->dirty);
	cproc_users_free(inv->users);
	pthread_mutex_destroy(&inv->mu);
	free(inv->host_root);
	free(inv->node_cluster);
	free(inv);
}

int inventory_start(const char *docker_addr, const char *host_root, const char *node_cluster,
		    inventory_emit_fn emit_fn, void *arg, struct inventory **out)
{
	struct inventory *inv;
	pthread_attr_t attr;
	const char *env;
	int r;

	*out = NULL;
	if (emit_fn == NULL)
		return -EINVAL;
	inv = calloc(1, sizeof(*inv));
	if (inv == NULL)
		return -ENOMEM;
	inv->wake_fd = -1;
	pthread_mutex_init(&inv->mu, NULL);
	r = docker_socket_path(docker_addr, inv->sock, sizeof(inv->sock));
	if (r < 0)
		goto fail;
	if (host_root == NULL || host_root[0] == '\0')
		host_root = access("/proc/1/root/etc", R_OK) == 0 ? "/proc/1/root" : "/";
	inv->host_root = strdup(host_root);
	inv->node_cluster = node_cluster ? strdup(node_cluster) : NULL;
	inv->containers = json_object();
	inv->images = json_object();
	inv->dirty = json_object();
	inv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = -ENOMEM;
	if (inv->host_root == NULL || (node_cluster && inv->node_cluster == NULL) ||
	    inv->containers == NULL || inv->images == NULL || inv->dirty == NULL)
		goto fail;
	if (inv->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = docker_new(inv->sock, &inv->stop, &inv->d);
	if (r < 0)
		goto fail;
	/* GARRISON_PROC_ROOT and GARRISON_CGROUP_ROOT are for tests: a recorded tree of
	 * processes and cgroups instead of the host's */
	env = getenv("GARRISON_PROC_ROOT");
	if (env != NULL && env[0] == '/')
		snprintf(inv->proc_root, sizeof(inv->proc_root), "%s", env);
	else
		hostinfo_proc_root(inv->host_root, inv->proc_root, sizeof(inv->proc_root));
	env = getenv("GARRISON_INVENTORY_TOP");
	inv->force_top = env != NULL && strcmp(env, "1") == 0;
	if (inv->force_top)
		log_info("inventory: processes from the engine's top (GARRISON_INVENTORY_TOP=1)");
	env = getenv("GARRISON_CGROUP_ROOT");
	if (env != NULL && env[0] == '/') {
		snprintf(inv->cgroup_root, sizeof(inv->cgroup_root), "%s", env);
	} else {
		snprintf(inv->cgroup_root, sizeof(inv->cgroup_root), "%s/sys/fs/cgroup",
			 strcmp(inv->host_root, "/") == 0 ? "" : inv->host_root);
		if (access(inv->cgroup_root, X_OK) != 0)
			snprintf(inv->cgroup_root, sizeof(inv->cgroup_root), "/sys/fs/cgroup");
	}
	inv->refresh_s = INVENTORY_REFRESH_S;
	env = getenv("GARRISON_INVENTORY_REFRESH_SEC");
	if (env != NULL && env[0] != '\0') {
		char *e;
		long v = strtol(env, &e, 10);
		if (*e == '\0' && v >= 1 && v <= 86400)
			inv->refresh_s = (int)v;
		else
			log_warn(
				"inventory: GARRISON_INVENTORY_REFRESH_SEC must be 1..86400; using %d",
				INVENTORY_REFRESH_S);
	}
	inv->emit = emit_fn;
	inv->arg = arg;
	snprintf(inv->st, sizeof(inv->st), "unreachable");
	snprintf(inv->st_err, sizeof(inv->st_err), "not contacted yet");
	/* the first status a session reaches is always emitted */
	inv->emitted_st[0] = '\0';
	/* 1 MiB of stack instead of the default 8: deep enough for jansson's parser at its
	 * maximum depth (2048) on hostile JSON, with room to spare */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1u << 20);
	r = pthread_create(&inv->thread, &attr, inv_main, inv);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		r = -r;
		goto fail;
	}
	*out = inv;
	return 0;
fail:
	inv_free(inv);
	return r;
}

void inventory_resync(struct inventory *inv)
{
	if (inv == NULL)
		return;
	atomic_store(&inv->resync, 1);
	inv_wake(inv);
}

void inventory_stop(struct inventory *inv)
{
	if (inv == NULL)
		return;
	atomic_store(&inv->stop, 1);
	inv_wake(inv);
	pthread_join(inv->thread, NULL);
	inv_free(inv);
}
