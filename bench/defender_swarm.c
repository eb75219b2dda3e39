/*
 * defender_swarm: K simulated Defenders in one process, speaking the real Defender channel
 * (docs/protocol.md) over real mutual TLS to one Console, for the scale benchmark
 * (bench/console_scale.sh, docs/benchmarks.md). It prints figures; it never passes or fails.
 *
 * Each simulated Defender has its own hostname (PREFIX + 5 digits) and its own identity:
 *  phase A (enroll): it connects with the install bundle's enrollment certificate, sends
 *    {"type":"enroll","hostname","csr"} for a fresh P-256 key and keeps the certificate of the
 *    "enrolled" reply (checked against the bundle CA and the key) in memory, and in
 *    --identity-dir when given, so that a rerun against the same Console skips enrollment;
 *  phase B (connect): it connects with its own certificate, sends "hello" and waits for "welcome";
 *  hold: every welcomed Defender sends {"type":"heartbeat","seq"} every heartbeatSec (from the
 *    welcome) and the acks are counted, for --hold seconds; --linger then keeps the swarm up until
 *    SIGINT/SIGTERM so that a script can measure the Console with every connection still live.
 * One lws context and one SSL_CTX serve every connection. The client certificate is chosen per
 * connection by SSL_CTX_set_client_cert_cb(): lws reports the server certificate check of each
 * connection (LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION) with its wsi, which OpenSSL
 * always runs before it asks for the client certificate; that callback stores the simulated
 * Defender in the SSL's ex_data, where the certificate callback finds it. CLIENT_ESTABLISHED
 * checks that the certificate the connection presented is the one of its Defender (counted as
 * "identity mismatches"; the Console also refuses a hello whose hostname is not the certificate's).
 * New connections are started at most --rate per second and at most --inflight at a time (TLS
 * handshake or hello not yet answered), so the Console's listen backlog is never overrun.
 * A connection that fails is retried with the Defender's own backoff (1 s doubling to 30 s, each
 * wait drawn from [half, full]) up to --retries attempts per phase; a welcomed connection that
 * drops reconnects the same way. Built with SWARM_WITH_LIBUV the swarm runs lws on a libuv loop
 * (epoll) instead of poll(2), whose cost grows with the number of connections.
 * Figures go to standard output; progress and diagnostics go to the log (standard error).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#ifdef SWARM_WITH_LIBUV
#include <uv.h> /* the swarm owns the loop (a "foreign" loop for lws) to be able to stop it */
#endif
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <garrison/bundle.h>
#include <garrison/log.h>
#include <garrison/pki.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#define SIM_NAME_MAX 64
#define HIST_MAX_MS 120000        /* latency histograms: 1 ms buckets up to 2 minutes */
#define TICK_US (20 * 1000)       /* launches, heartbeats and phase changes are decided per tick */
#define PROGRESS_MS 5000
#define REASONS_MAX 16
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define K_MAX 200000
#define LWS_ERR_LINES_MAX 20
#define STOP_GRACE_MS 10000
#define CONNECT_TIMEOUT_S 60
#define HANDSHAKE_TIMEOUT_S 60
/* lws ends every attempt within its two timeouts; one still pending after this was dropped
 * without a callback (seen with lws 4.1 when the Console vanished mid-connect). */
#define LOST_ATTEMPT_MS ((CONNECT_TIMEOUT_S + HANDSHAKE_TIMEOUT_S + 30) * 1000LL)
#ifdef SWARM_WITH_LIBUV
#define SWARM_LOOP "libuv (epoll)"
#else
#define SWARM_LOOP "poll(2)"
#endif

enum phase { PH_ENROLL, PH_CONNECT, PH_HOLD, PH_LINGER, PH_STOP };

enum sim_state {
	S_IDLE,       /* ready to be launched in this phase */
	S_RETRY,      /* waiting for next_ms before the next attempt */
	S_CONNECTING, /* TCP/TLS/WebSocket handshake under way */
	S_OPEN,       /* WebSocket up, enroll or hello sent, no answer yet */
	S_WELCOMED,   /* hello answered: heartbeating */
	S_DONE,       /* enrolled (phase A) */
	S_FAILED,     /* gave up in this phase (or has no identity in phase B) */
};

struct sim {
	char host[SIM_NAME_MAX];
	EVP_PKEY *key;            /* own identity (NULL until enrolled) */
	X509 *cert;
	struct lws *wsi;
	enum sim_state st;
	int enrolling;            /* the current attempt presents the bundle certificate */
	int launching;            /* inside lws_client_connect_via_info() for this Defender */
	int attempts;             /* in this phase, or since the last welcome */
	int heartbeat_sec;
	int64_t first_try_ms;     /* first attempt in this phase */
	int64_t try_ms;           /* start of the current attempt */
	int64_t next_ms;          /* S_RETRY: next attempt; S_WELCOMED: next heartbeat */
	int64_t hb_sent_ms;
	long long seq, acked;
	unsigned char *rx;        /* message being assembled */
	size_t rx_len;
	unsigned char *out;       /* one pending message, LWS_PRE bytes of headroom first */
	size_t out_len;
};

struct counters {
	long attempts, conn_errors, refused, closed_early, mismatch, bad_enroll, no_cert_map, lost;
	long enrolled, welcomed, drops, gave_up;
	long hb_sent, hb_acked, hb_skipped;
};

struct hist {
	unsigned *b;              /* HIST_MAX_MS + 1 buckets */
	long n;
	int64_t max;
};

struct reason {
	char text[96];
	long n;
};

struct swarm {
	/* options */
	char host[256];
	int port;
	int k, first, rate, inflight_max, hold_s, timeout_s, max_attempts, linger;
	const char *prefix, *identity_dir, *bundle_arg, *cacert_path;
	long console_pid;

	struct lws_context *ctx;
	SSL_CTX *ssl;
	int ex_idx;               /* SSL ex_data slot: the struct sim of a connection */
	struct bundle bundle;
	X509 *ca, *enroll_cert;
	EVP_PKEY *enroll_key;

	struct sim *sims;
	enum phase phase;
	int64_t phase_start_ms, last_tick_ms, last_progress_ms;
	double tokens;
	int inflight;             /* sims in S_CONNECTING or S_OPEN */
	int welcomed_now;         /* sims in S_WELCOMED */
	int eligible;             /* sims that take part in phase B */
	size_t cursor;            /* where the next launch scan starts */
	lws_sorted_usec_list_t tick;

	struct counters c;
	struct hist welcome_lat, ack_lat;
	struct reason reasons[REASONS_MAX];

	/* results */
	int need_enroll;
	long enrolled_in_a;
	double enroll_s, connect_s, hold_s_real;
	int welcomed_at_end_b;
	struct counters at_hold_start, at_hold_end;
	long outstanding_start, outstanding_end;
	double console_cpu_start, console_cpu_end, swarm_cpu_start, swarm_cpu_end;
	int64_t hold_start_ms;
	int lws_err_lines;
	int close_requested, finished;
#ifdef SWARM_WITH_LIBUV
	uv_loop_t loop;
	int loop_ready;
#endif
	long console_rss_kb, console_hwm_kb, swarm_rss_kb; /* at the end of the hold */
};

static struct swarm *the_swarm;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}


/* ---- small helpers ---- */

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static double epoch_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hist_add(struct hist *h, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > h->max)
		h->max = ms;
	h->b[ms > HIST_MAX_MS ? HIST_MAX_MS : ms]++;
	h->n++;
}

static void hist_reset(struct hist *h)
{
	memset(h->b, 0, (HIST_MAX_MS + 1) * sizeof(*h->b));
	h->n = 0;
	h->max = 0;
}

/* The smallest value v such that at least q of the samples are <= v (ms). */
static long hist_q(const struct hist *h, double q)
{
	long need, seen = 0;

	if (h->n == 0)
		return 0;
	need = (long)((double)h->n * q + 0.999999);
	if (need < 1)
		need = 1;
	for (long i = 0; i <= HIST_MAX_MS; i++) {
		seen += h->b[i];
		if (seen >= need)
			return i;
	}
	return HIST_MAX_MS;
}

static void note_reason(struct swarm *sw, const char *text, size_t len);
#define note(sw, text) note_reason(sw, text, strlen(text))

static void note_reason(struct swarm *sw, const char *text, size_t len)
{
	struct reason *r;

	if (len > sizeof(r->text) - 1)
		len = sizeof(r->text) - 1;
	for (int i = 0; i < REASONS_MAX; i++) {
		r = &sw->reasons[i];
		if (r->n > 0 && strlen(r->text) == len && memcmp(r->text, text, len) == 0) {
			r->n++;
			return;
		}
		if (r->n == 0) {
			memcpy(r->text, text, len);
			r->text[len] = '\0';
			r->n = 1;
			log_warn("swarm: first failure of its kind: %s", r->text);
			return;
		}
	}
}

/* utime + stime of a process, in seconds; -1 when it cannot be read. */
static double proc_cpu_s(long pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long ut = 0, st = 0;
	double r = -1;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (util_read_file(path, 8192, &buf, NULL) < 0)
		return -1;
	/* The command name may hold spaces and parentheses: fields are counted after the last ')'. */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		r = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	free(buf);
	return r;
}

/* A "VmRSS:"-style field of /proc/PID/status in kB (pid 0: this process); -1 when unknown. */
static long proc_status_kb(long pid, const char *field)
{
	char path[64], *buf = NULL, *p;
	long kb = -1;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	if (util_read_file(path, 65536, &buf, NULL) < 0)
		return -1;
	p = strstr(buf, field);
	if (p) {
		char *end;
		long v;
		p += strlen(field);
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno == 0 && end != p)
			kb = v;
	}
	free(buf);
	return kb;
}

static int raise_nofile(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want) {
		struct rlimit more = { (rlim_t)want, (rlim_t)want };
		/* Only root can raise the hard limit; otherwise stay below it. */
		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return rl.rlim_cur == RLIM_INFINITY ? INT_MAX : (int)(rl.rlim_cur > INT_MAX ? INT_MAX : rl.rlim_cur);
}

/* ---- identities ---- */

static int id_path(char *buf, size_t len, const char *dir, const char *host, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, host, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Loads the identities cached in --identity-dir, when that cache belongs to this Console's CA. */
static long identities_load(struct swarm *sw)
{
	char path[PATH_MAX], *ca = NULL;
	long n = 0;

	if (sw->identity_dir == NULL)
		return 0;
	if (util_mkdirs(sw->identity_dir, 0700) < 0) {
		log_warn("swarm: cannot create %s; identities will not be cached", sw->identity_dir);
		sw->identity_dir = NULL;
		return 0;
	}
	if (id_path(path, sizeof(path), sw->identity_dir, "console-ca", ".pem") < 0)
		return 0;
	if (util_read_file(path, PKI_PEM_MAX, &ca, NULL) < 0 || strcmp(ca, sw->bundle.ca_cert_pem) != 0) {
		free(ca);
		/* Another Console (or none yet): start the cache afresh for this CA. */
		if (util_write_file(path, sw->bundle.ca_cert_pem, strlen(sw->bundle.ca_cert_pem), 0644) < 0) {
			log_warn("swarm: cannot write %s; identities will not be cached", path);
			sw->identity_dir = NULL;
		}
		return 0;
	}
	free(ca);
	for (int i = 0; i < sw->k; i++) {
		struct sim *s = &sw->sims[i];
		char kp[PATH_MAX];
		EVP_PKEY *key = NULL;
		X509 *cert = NULL;
		char *cn = NULL;

		if (id_path(kp, sizeof(kp), sw->identity_dir, s->host, ".key.pem") < 0 ||
		    id_path(path, sizeof(path), sw->identity_dir, s->host, ".cert.pem") < 0)
			continue;
		if (access(kp, R_OK) != 0 || pki_key_load(kp, &key) < 0 || pki_cert_load(path, &cert) < 0 ||
		    pki_verify(sw->ca, cert, PKI_USAGE_CLIENT) < 0 || pki_key_matches_cert(key, cert) < 0 ||
		    pki_cert_info(cert, &cn, NULL, NULL) < 0 || strcmp(cn, s->host) != 0) {
			EVP_PKEY_free(key);
			X509_free(cert);
			free(cn);
			continue;
		}
		free(cn);
		s->key = key;
		s->cert = cert;
		n++;
	}
	return n;
}

/* Writes a whole file without fsync: the cache only saves time, and thousands of fsyncs would
 * make the enrollment figure a measure of this disk instead of the Console. */
static int write_plain(const char *path, const char *data, mode_t mode)
{
	size_t len = strlen(data), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), r = 0;

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	close(fd);
	return r;
}

static void identity_save(struct swarm *sw, struct sim *s)
{
	char kp[PATH_MAX], cp[PATH_MAX], *kpem = NULL, *cpem = NULL;

	if (sw->identity_dir == NULL)
		return;
	if (id_path(kp, sizeof(kp), sw->identity_dir, s->host, ".key.pem") < 0 ||
	    id_path(cp, sizeof(cp), sw->identity_dir, s->host, ".cert.pem") < 0 ||
	    pki_key_to_pem(s->key, &kpem) < 0 || pki_cert_to_pem(s->cert, &cpem) < 0 ||
	    write_plain(kp, kpem, 0600) < 0 || write_plain(cp, cpem, 0644) < 0)
		log_warn("swarm: cannot cache the identity of %s in %s", s->host, sw->identity_dir);
	if (kpem)
		OPENSSL_cleanse(kpem, strlen(kpem));
	free(kpem);
	free(cpem);
}

/* ---- messages ---- */

static void sim_queue(struct sim *s, json_t *msg)
{
	char *txt = json_dumps(msg, JSON_COMPACT);
	size_t n;

	json_decref(msg);
	if (txt == NULL)
		return;
	n = strlen(txt);
	free(s->out);
	s->out = malloc(LWS_PRE + n);
	if (s->out == NULL) {
		free(txt);
		s->out_len = 0;
		return;
	}
	memcpy(s->out + LWS_PRE, txt, n);
	s->out_len = n;
	free(txt);
	if (s->wsi)
		lws_callback_on_writable(s->wsi);
}

static int send_enroll(struct sim *s)
{
	char *csr = NULL;

	/* A fresh key per enrollment attempt: the Console certifies the key of the CSR. */
	EVP_PKEY_free(s->key);
	s->key = NULL;
	if (pki_key_new(&s->key) < 0 || pki_csr_new(s->key, s->host, &csr) < 0) {
		log_error("swarm: cannot create a key and a CSR for %s", s->host);
		return -ENOMEM;
	}
	sim_queue(s, json_pack("{s:s,s:s,s:s}", "type", PROTO_ENROLL, "hostname", s->host, "csr", csr));
	free(csr);
	return 0;
}

static void send_hello(struct sim *s)
{
	sim_queue(s, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{},s:{}}", "type", PROTO_HELLO, "hostname",
			       s->host, "version", GARRISON_VERSION, "defenderType", "ecs", "cluster",
			       "bench-cluster", "clusterSource", "manual", "cloudMetadata",
			       "systemInfo"));
}

/* The "enrolled" reply: 0 when the certificate is for our key and name and from the bundle CA. */
static int on_enrolled(struct swarm *sw, struct sim *s, json_t *msg)
{
	const char *pem = json_string_value(json_object_get(msg, "cert"));
	X509 *cert = NULL;
	char *cn = NULL;
	const char *why = NULL;

	if (pem == NULL || pki_cert_from_pem(pem, &cert) < 0 ||
	    pki_verify_why(sw->ca, cert, PKI_USAGE_CLIENT, &why) < 0 ||
	    pki_key_matches_cert(s->key, cert) < 0 || pki_cert_info(cert, &cn, NULL, NULL) < 0 ||
	    strcmp(cn, s->host) != 0) {
		log_warn("swarm: %s: unusable enrollment certificate (%s)", s->host,
			 why ? why : cert ? "does not match our key or name" : "does not parse");
		X509_free(cert);
		free(cn);
		return -EACCES;
	}
	free(cn);
	X509_free(s->cert);
	s->cert = cert;
	identity_save(sw, s);
	return 0;
}

static void sim_clear_io(struct sim *s)
{
	free(s->rx);
	s->rx = NULL;
	s->rx_len = 0;
	free(s->out);
	s->out = NULL;
	s->out_len = 0;
}

/* The attempt of s is over (error or close). Decides the retry. */
static void sim_ended(struct swarm *sw, struct sim *s, const char *why)
{
	int64_t now = util_now_ms(), b, wait;
	unsigned rnd = 0;

	s->wsi = NULL;
	sim_clear_io(s);
	switch (s->st) {
	case S_CONNECTING:
	case S_OPEN:
		sw->inflight--;
		break;
	case S_WELCOMED:
		sw->welcomed_now--;
		if (sw->phase != PH_STOP)
			sw->c.drops++; /* at PH_STOP the swarm closes it */
		s->attempts = 0;
		break;
	default:
		return; /* S_DONE (closing after enrollment), S_IDLE at shutdown */
	}
	if (sw->phase == PH_STOP) {
		s->st = S_IDLE;
		return;
	}
	if (why)
		note(sw, why);
	if (s->attempts >= sw->max_attempts) {
		s->st = S_FAILED;
		sw->c.gave_up++;
		return;
	}
	b = BACKOFF_MIN_MS;
	for (int i = 1; i < s->attempts && b < BACKOFF_MAX_MS; i++)
		b *= 2;
	if (b > BACKOFF_MAX_MS)
		b = BACKOFF_MAX_MS;
	util_random(&rnd, sizeof(rnd));
	wait = b / 2 + (int64_t)(rnd % (unsigned)(b / 2 + 1));
	s->st = S_RETRY;
	s->next_ms = now + wait;
}

/* Handles one message from the Console. -1 when the connection must close. */
static int on_message(struct swarm *sw, struct sim *s, struct lws *wsi, const char *data,
		      size_t len)
{
	int r = 0;

	json_t *msg = json_loadb(data, len, 0, NULL);
	const char *type = json_string_value(json_object_get(msg, "type"));
	int64_t now = util_now_ms();

	if (type == NULL) {
		note(sw, "malformed message from the Console");
	} else if (strcmp(type, PROTO_HEARTBEAT_ACK) == 0 && s->st == S_WELCOMED) {
		json_t *seq = json_object_get(msg, "seq");
		if (json_is_integer(seq) && json_integer_value(seq) == s->seq && s->acked < s->seq) {
			s->acked = s->seq;
			sw->c.hb_acked++;
			if (sw->phase >= PH_HOLD && s->hb_sent_ms >= sw->hold_start_ms)
				hist_add(&sw->ack_lat, now - s->hb_sent_ms);
		}
	} else if (strcmp(type, PROTO_WELCOME) == 0 && s->st == S_OPEN && !s->enrolling) {
		json_int_t hb = json_integer_value(json_object_get(msg, "heartbeatSec"));
		s->heartbeat_sec = hb >= 1 && hb <= 300 ? (int)hb : 10;
		s->st = S_WELCOMED;
		s->attempts = 0;
		s->next_ms = now + (int64_t)s->heartbeat_sec * 1000;
		s->seq = s->acked = 0;
		sw->inflight--;
		sw->welcomed_now++;
		sw->c.welcomed++;
		if (sw->phase == PH_CONNECT)
			hist_add(&sw->welcome_lat, now - s->first_try_ms);
		log_debug("swarm: %s welcomed after %lld ms", s->host, (long long)(now - s->first_try_ms));
	} else if (strcmp(type, PROTO_ENROLLED) == 0 && s->st == S_OPEN && s->enrolling) {
		if (on_enrolled(sw, s, msg) == 0) {
			s->st = S_DONE;
			sw->inflight--;
			sw->c.enrolled++;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"enrolled", 8);
		} else {
			sw->c.bad_enroll++;
			r = -1; /* closed before an answer: retried with a fresh key */
		}
	}
	json_decref(msg);
	return r;
}

/* ---- TLS: one SSL_CTX, one client certificate per connection ---- */

static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	struct swarm *sw = the_swarm;
	struct sim *s = SSL_get_ex_data(ssl, sw->ex_idx);
	X509 *c;
	EVP_PKEY *k;

	if (s == NULL) {
		sw->c.no_cert_map++;
		return 0; /* no certificate: the Console will refuse the handshake */
	}
	c = s->enrolling ? sw->enroll_cert : s->cert;
	k = s->enrolling ? sw->enroll_key : s->key;
	if (c == NULL || k == NULL)
		return 0;
	/* OpenSSL frees what the callback returns. */
	X509_up_ref(c);
	EVP_PKEY_up_ref(k);
	*x509 = c;
	*pkey = k;
	return 1;
}

static SSL_CTX *client_ssl_ctx(struct swarm *sw)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509 *trust = NULL;
	char *pem = NULL;
	int ok = 0;

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (sw->cacert_path) {
		if (util_read_file(sw->cacert_path, PKI_PEM_MAX, &pem, NULL) < 0 ||
		    pki_cert_from_pem(pem, &trust) < 0) {
			log_error("swarm: cannot read a CA certificate from %s", sw->cacert_path);
			goto out;
		}
	} else if (pki_cert_from_pem(sw->bundle.ca_cert_pem, &trust) < 0) {
		goto out;
	}
	if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trust) != 1)
		goto out;
	SSL_CTX_set_client_cert_cb(ctx, client_cert_cb);
	ok = 1;
out:
	free(pem);
	X509_free(trust);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* ---- lws ---- */

static int swarm_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			  size_t len)
{
	struct swarm *sw = the_swarm;
	struct sim *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	if (sw == NULL || s == NULL)
		return 0;
	/* An older connection of this Defender (an enrollment connection still closing when the
	 * Defender already connects again) must not touch the current attempt. While the attempt is
	 * being created its wsi is not known yet: lws may report its failure from inside
	 * lws_client_connect_via_info(). */
	if (wsi != s->wsi && !(s->launching && s->wsi == NULL))
		return 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: {
		X509_STORE_CTX *xs = user;
		SSL *ssl = xs ? X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx())
			      : NULL;
		if (ssl)
			SSL_set_ex_data(ssl, sw->ex_idx, s);
		if (!len && xs)
			note(sw, X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
		break;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[128];
		snprintf(why, sizeof(why), "connection error: %.*s", in ? (int)(len > 100 ? 100 : len) : 7,
			 in ? (const char *)in : "unknown");
		if ((s->st == S_CONNECTING || s->st == S_OPEN) && sw->phase != PH_STOP)
			sw->c.conn_errors++;
		sim_ended(sw, s, why);
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		SSL *ssl = lws_get_ssl(wsi);
		X509 *mine = ssl ? SSL_get_certificate(ssl) : NULL;
		X509 *want = s->enrolling ? sw->enroll_cert : s->cert;

		if (s->st != S_CONNECTING)
			return -1;
		if (mine == NULL || want == NULL || X509_cmp(mine, want) != 0) {
			sw->c.mismatch++;
			note(sw, "connection presented another Defender's certificate");
			return -1;
		}
		s->st = S_OPEN;
		log_debug("swarm: %s established after %lld ms", s->host,
			  (long long)(util_now_ms() - s->first_try_ms));
		if (s->enrolling) {
			if (send_enroll(s) < 0)
				return -1;
		} else {
			send_hello(s);
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		size_t have = lws_is_first_fragment(wsi) ? 0 : s->rx_len;
		unsigned char *nb;
		int n;

		if (have + len > PROTO_MAX_MSG) {
			note(sw, "oversized message from the Console");
			return -1;
		}
		nb = realloc(s->rx, have + len + 1);
		if (nb == NULL)
			return -1;
		s->rx = nb;
		memcpy(s->rx + have, in, len);
		s->rx_len = have + len;
		if (!lws_is_final_fragment(wsi))
			break;
		n = on_message(sw, s, wsi, (const char *)s->rx, s->rx_len);
		free(s->rx);
		s->rx = NULL;
		s->rx_len = 0;
		if (n < 0 || s->st == S_DONE)
			return -1; /* enrolled: this connection has served its purpose */
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (sw->phase == PH_STOP) {
			if (s->st == S_OPEN || s->st == S_WELCOMED)
				lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
						 (unsigned char *)"swarm stopping", 14);
			return -1;
		}
		if (s->out) {
			int w = lws_write(wsi, s->out + LWS_PRE, s->out_len, LWS_WRITE_TEXT);
			size_t n = s->out_len;
			free(s->out);
			s->out = NULL;
			s->out_len = 0;
			if (w < (int)n)
				return -1;
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2 && s->st != S_DONE) {
			unsigned code = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
			char why[160];
			snprintf(why, sizeof(why), "closed by the Console (%u): %.*s", code,
				 (int)(len - 2 > 100 ? 100 : len - 2), (const char *)in + 2);
			if (code == LWS_CLOSE_STATUS_POLICY_VIOLATION)
				sw->c.refused++;
			note(sw, why);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (s->st == S_OPEN && sw->phase != PH_STOP)
			sw->c.closed_early++;
		sim_ended(sw, s, s->st == S_WELCOMED ? "welcomed connection closed" :
				 s->st == S_OPEN ? "closed before the answer" : NULL);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols swarm_protocols[] = {
	{ PROTO_NAME, swarm_callback, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	/* A storm of failures would print one line per connection: keep the first few. */
	if ((level & LLL_ERR) && the_swarm && the_swarm->lws_err_lines < LWS_ERR_LINES_MAX) {
		the_swarm->lws_err_lines++;
		log_warn("lws: %.*s", (int)n, line);
	} else {
		log_debug("lws: %.*s", (int)n, line);
	}
}

static void sim_launch(struct swarm *sw, struct sim *s, int64_t now)
{
	struct lws_client_connect_info ci;
	struct lws *w;

	memset(&ci, 0, sizeof(ci));
	ci.context = sw->ctx;
	ci.address = sw->host;
	ci.port = sw->port;
	ci.path = "/";
	ci.host = sw->host;
	ci.origin = sw->host;
	ci.protocol = PROTO_NAME;
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.opaque_user_data = s;
	s->wsi = NULL;
	s->st = S_CONNECTING;
	s->enrolling = sw->phase == PH_ENROLL;
	s->attempts++;
	if (s->first_try_ms == 0)
		s->first_try_ms = now;
	s->try_ms = now;
	sw->inflight++;
	sw->c.attempts++;
	s->launching = 1;
	w = lws_client_connect_via_info(&ci);
	s->launching = 0;
	if (s->st != S_CONNECTING) {
		/* lws reported the failure already; a wsi it returned anyway is closing: never keep
		 * it (a later lws_set_timeout() on it would touch freed memory). */
		s->wsi = NULL;
	} else if (w == NULL) {
		sw->c.conn_errors++;
		sim_ended(sw, s, "lws_client_connect_via_info failed");
	} else {
		s->wsi = w;
	}
}

/* ---- phases ---- */

static void tick_cb(lws_sorted_usec_list_t *sul);

static void counters_outstanding(struct swarm *sw, long *out)
{
	long n = 0;

	for (int i = 0; i < sw->k; i++)
		if (sw->sims[i].st == S_WELCOMED && sw->sims[i].acked < sw->sims[i].seq)
			n++;
	*out = n;
}

static void phase_enter(struct swarm *sw, enum phase p, int64_t now)
{
	double el = (double)(now - sw->phase_start_ms) / 1000.0;

	switch (p) {
	case PH_CONNECT:
		/* Enrollments still under way when the phase timed out are abandoned (their
		 * connections end by themselves; S_FAILED ignores what they report). */
		for (int i = 0; i < sw->k; i++) {
			struct sim *s = &sw->sims[i];
			if (s->st == S_CONNECTING || s->st == S_OPEN) {
				sw->inflight--;
				s->st = S_FAILED;
			}
		}
		if (sw->need_enroll > 0) {
			sw->enroll_s = el;
			sw->enrolled_in_a = sw->c.enrolled;
		}
		sw->eligible = 0;
		for (int i = 0; i < sw->k; i++) {
			struct sim *s = &sw->sims[i];
			s->attempts = 0;
			s->first_try_ms = 0;
			s->st = s->cert && s->key ? S_IDLE : S_FAILED;
			if (s->st == S_IDLE)
				sw->eligible++;
		}
		sw->cursor = 0;
		printf("phase=connect-start epoch=%.3f eligible=%d\n", epoch_s(), sw->eligible);
		fflush(stdout);
		log_info("swarm: connecting %d Defenders with their own identities", sw->eligible);
		break;
	case PH_HOLD:
		sw->connect_s = el;
		sw->welcomed_at_end_b = sw->welcomed_now;
		sw->hold_start_ms = now;
		sw->at_hold_start = sw->c;
		counters_outstanding(sw, &sw->outstanding_start);
		hist_reset(&sw->ack_lat);
		sw->console_cpu_start = proc_cpu_s(sw->console_pid);
		sw->swarm_cpu_start = proc_cpu_s(getpid());
		printf("phase=hold-start epoch=%.3f welcomed=%d of=%d connect_s=%.2f\n", epoch_s(),
		       sw->welcomed_now, sw->k, sw->connect_s);
		fflush(stdout);
		log_info("swarm: %d of %d welcomed in %.1f s; holding for %d s", sw->welcomed_now,
			 sw->k, el, sw->hold_s);
		break;
	case PH_LINGER:
	case PH_STOP:
		if (sw->phase == PH_CONNECT) { /* stopped early: report how far it got */
			sw->connect_s = el;
			sw->welcomed_at_end_b = sw->welcomed_now;
		} else if (sw->phase == PH_ENROLL && sw->need_enroll > 0) {
			sw->enroll_s = el;
			sw->enrolled_in_a = sw->c.enrolled;
		}
		if (sw->phase == PH_HOLD) {
			sw->hold_s_real = el;
			sw->at_hold_end = sw->c;
			counters_outstanding(sw, &sw->outstanding_end);
			sw->console_cpu_end = proc_cpu_s(sw->console_pid);
			sw->swarm_cpu_end = proc_cpu_s(getpid());
			sw->console_rss_kb = proc_status_kb(sw->console_pid, "VmRSS:");
			sw->console_hwm_kb = proc_status_kb(sw->console_pid, "VmHWM:");
			sw->swarm_rss_kb = proc_status_kb(0, "VmRSS:");
			printf("phase=hold-end epoch=%.3f\n", epoch_s());
			fflush(stdout);
			if (p == PH_LINGER)
				log_info("swarm: hold over; staying connected until SIGINT or SIGTERM");
		}
		break;
	default:
		break;
	}
	sw->phase = p;
	sw->phase_start_ms = now;
	sw->last_progress_ms = now;
}

static void progress(struct swarm *sw, int64_t now)
{
	static const char *const names[] = { "enroll", "connect", "hold", "linger", "stop" };

	if (now - sw->last_progress_ms < PROGRESS_MS)
		return;
	sw->last_progress_ms = now;
	log_info("swarm: %s %.0f s: %ld enrolled, %d welcomed, %d in flight, %ld attempts, "
		 "%ld errors, %ld refused, %ld heartbeats acked of %ld", names[sw->phase],
		 (double)(now - sw->phase_start_ms) / 1000.0, sw->c.enrolled, sw->welcomed_now,
		 sw->inflight, sw->c.attempts, sw->c.conn_errors, sw->c.refused, sw->c.hb_acked,
		 sw->c.hb_sent);
}

/* Stopping: every open connection is closed with a WebSocket close (1000), so that the Console
 * sees each Defender leave at once; then the service loop ends (after STOP_GRACE_MS at most). */
static void stop_tick(struct swarm *sw, int64_t now)
{
	int open = 0;

	/* Only upgraded connections are closed here (a WebSocket close needs one); handshakes still
	 * under way are left to lws_context_destroy(): lws may already have dropped a connection
	 * that failed during its handshake, and its wsi must not be touched again. */
	for (int i = 0; i < sw->k; i++) {
		struct sim *s = &sw->sims[i];
		if (s->wsi == NULL || (s->st != S_OPEN && s->st != S_WELCOMED))
			continue;
		open++;
		if (!sw->close_requested)
			lws_callback_on_writable(s->wsi);
	}
	sw->close_requested = 1;
	if (open == 0 || now - sw->phase_start_ms > STOP_GRACE_MS) {
		sw->finished = 1;
#ifdef SWARM_WITH_LIBUV
		uv_stop(&sw->loop);
#else
		lws_cancel_service(sw->ctx); /* no timer is left to end the wait in lws_service() */
#endif
		return;
	}
	lws_sul_schedule(sw->ctx, 0, &sw->tick, tick_cb, TICK_US);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct swarm *sw = lws_container_of(sul, struct swarm, tick);
	int64_t now = util_now_ms();
	double dt = (double)(now - sw->last_tick_ms) / 1000.0, cap;
	int pending = 0, launching;

	sw->last_tick_ms = now;
	if (got_signal && sw->phase != PH_STOP) {
		log_info("swarm: signal received; stopping");
		phase_enter(sw, PH_STOP, now);
	}
	if (sw->phase == PH_STOP) {
		stop_tick(sw, now);
		return;
	}

	/* Phase changes. */
	for (int i = 0; i < sw->k; i++) {
		enum sim_state st = sw->sims[i].st;
		if (st == S_IDLE || st == S_RETRY || st == S_CONNECTING || st == S_OPEN)
			pending++;
	}
	if (sw->phase == PH_ENROLL &&
	    (pending == 0 || now - sw->phase_start_ms > (int64_t)sw->timeout_s * 1000))
		phase_enter(sw, PH_CONNECT, now);
	else if (sw->phase == PH_CONNECT &&
		 (sw->welcomed_now >= sw->eligible || now - sw->phase_start_ms > (int64_t)sw->timeout_s * 1000))
		phase_enter(sw, PH_HOLD, now);
	else if (sw->phase == PH_HOLD && now - sw->phase_start_ms >= (int64_t)sw->hold_s * 1000)
		phase_enter(sw, sw->linger ? PH_LINGER : PH_STOP, now);
	if (sw->phase == PH_STOP) {
		stop_tick(sw, now);
		return;
	}
	progress(sw, now);

	/* Launches: at most rate per second, at most inflight_max handshakes at a time. */
	cap = (double)sw->rate * 0.05;
	sw->tokens += dt * (double)sw->rate;
	if (sw->tokens > (cap < 1.0 ? 1.0 : cap))
		sw->tokens = cap < 1.0 ? 1.0 : cap;
	launching = 1;
	for (int n = 0; n < sw->k; n++) {
		size_t i = (sw->cursor + (size_t)n) % (size_t)sw->k;
		struct sim *s = &sw->sims[i];

		if ((s->st == S_CONNECTING || s->st == S_OPEN) && now - s->try_ms > LOST_ATTEMPT_MS) {
			/* Forget that wsi without touching it: it may be gone. */
			sw->c.lost++;
			s->wsi = NULL;
			sim_ended(sw, s, "attempt lost inside lws (no callback)");
		}
		if (launching && (s->st == S_IDLE || (s->st == S_RETRY && now >= s->next_ms))) {
			if (sw->tokens < 1.0 || sw->inflight >= sw->inflight_max) {
				launching = 0;
				sw->cursor = i; /* resume here: launches stay in name order */
			} else {
				sw->tokens -= 1.0;
				sim_launch(sw, s, now);
			}
		}
		if (s->st == S_WELCOMED && now >= s->next_ms && s->wsi) {
			if (s->out) {
				sw->c.hb_skipped++; /* the previous message is still queued */
			} else {
				s->seq++;
				s->hb_sent_ms = now;
				sw->c.hb_sent++;
				sim_queue(s, json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT, "seq",
						       (json_int_t)s->seq));
			}
			s->next_ms += (int64_t)s->heartbeat_sec * 1000;
			if (s->next_ms < now)
				s->next_ms = now + (int64_t)s->heartbeat_sec * 1000;
		}
	}
	lws_sul_schedule(sw->ctx, 0, &sw->tick, tick_cb, TICK_US);
}

/* ---- setup and report ---- */

static int parse_ws(struct swarm *sw, const char *url)
{
	const char *p, *colon;
	size_t n;
	long port;

	if (strncmp(url, "wss://", 6) != 0)
		return -EINVAL;
	p = url + 6;
	colon = strrchr(p, ':');
	if (colon == NULL || strchr(p, '[') != NULL)
		return -EINVAL;
	n = (size_t)(colon - p);
	if (n == 0 || n >= sizeof(sw->host))
		return -EINVAL;
	memcpy(sw->host, p, n);
	sw->host[n] = '\0';
	{
		char portbuf[16];
		size_t pl = strcspn(colon + 1, "/");
		if (pl == 0 || pl >= sizeof(portbuf))
			return -EINVAL;
		memcpy(portbuf, colon + 1, pl);
		portbuf[pl] = '\0';
		if (parse_int(portbuf, 1, 65535, &port) < 0)
			return -EINVAL;
	}
	sw->port = (int)port;
	return 0;
}

static int load_bundle(struct swarm *sw)
{
	const char *arg = sw->bundle_arg ? sw->bundle_arg : getenv("INSTALL_BUNDLE");
	char *file = NULL;
	const char *why = NULL;
	int r;

	if (arg == NULL || arg[0] == '\0') {
		log_error("swarm: no install bundle: set INSTALL_BUNDLE or pass --bundle B64|@FILE");
		return -EINVAL;
	}
	if (arg[0] == '@') {
		if (util_read_file(arg + 1, BUNDLE_MAX, &file, NULL) < 0) {
			log_error("swarm: cannot read the bundle file %s", arg + 1);
			return -EINVAL;
		}
		arg = file;
	}
	r = bundle_decode(arg, &sw->bundle, &why);
	free(file);
	if (r < 0) {
		log_error("swarm: invalid install bundle: %s", why ? why : "?");
		return r;
	}
	if (pki_cert_from_pem(sw->bundle.ca_cert_pem, &sw->ca) < 0 ||
	    pki_cert_from_pem(sw->bundle.enroll_cert_pem, &sw->enroll_cert) < 0 ||
	    pki_key_from_pem(sw->bundle.enroll_key_pem, &sw->enroll_key) < 0)
		return -EINVAL;
	return 0;
}

static void report(struct swarm *sw)
{
	struct counters *a = &sw->at_hold_start, *b = &sw->at_hold_end;

	if (sw->hold_start_ms == 0) { /* stopped before the hold: report what happened */
		sw->at_hold_end = sw->c;
		sw->at_hold_start = sw->c;
		if (sw->need_enroll > 0 && sw->enrolled_in_a == 0)
			sw->enrolled_in_a = sw->c.enrolled;
	}
	long sent = b->hb_sent - a->hb_sent, acked = b->hb_acked - a->hb_acked;
	double cpu = sw->console_cpu_end >= 0 && sw->console_cpu_start >= 0 ?
			     sw->console_cpu_end - sw->console_cpu_start : -1;
	long never = (long)sw->eligible - sw->welcomed_at_end_b;
	long crss = sw->console_rss_kb, chwm = sw->console_hwm_kb, srss = sw->swarm_rss_kb;
	int hb = 0;

	for (int i = 0; i < sw->k && hb == 0; i++)
		hb = sw->sims[i].heartbeat_sec;
	printf("\n");
	printf("swarm:   K=%d Defenders %s%0*d..%s%0*d against wss://%s:%d, at most %d new "
	       "connections/s and %d handshakes in flight, event loop %s\n", sw->k, sw->prefix, 5,
	       sw->first, sw->prefix, 5, sw->first + sw->k - 1, sw->host, sw->port, sw->rate,
	       sw->inflight_max, SWARM_LOOP);
	if (sw->need_enroll > 0)
		printf("enroll:  %ld of %d enrolled in %.2f s (%.0f/s)%s\n", sw->enrolled_in_a,
		       sw->need_enroll, sw->enroll_s,
		       sw->enroll_s > 0 ? (double)sw->enrolled_in_a / sw->enroll_s : 0.0,
		       sw->k - sw->need_enroll > 0 ? " (the others came from --identity-dir)" : "");
	else
		printf("enroll:  none needed (%d identities from --identity-dir)\n", sw->k);
	printf("connect: %d of %d welcomed in %.2f s (%.0f/s); welcome latency p50 %ld ms, "
	       "p99 %ld ms, max %lld ms\n", sw->welcomed_at_end_b, sw->eligible, sw->connect_s,
	       sw->connect_s > 0 ? (double)sw->welcomed_at_end_b / sw->connect_s : 0.0,
	       hist_q(&sw->welcome_lat, 0.5), hist_q(&sw->welcome_lat, 0.99),
	       (long long)sw->welcome_lat.max);
	printf("failures: %ld attempts in all, %ld connection errors, %ld refused by the Console, "
	       "%ld closed before an answer, %ld identity mismatches, %ld without a mapped "
	       "certificate, %ld bad enrollment replies, %ld lost inside lws, %ld gave up, "
	       "%ld never welcomed, %ld welcomed connections dropped\n", b->attempts,
	       b->conn_errors, b->refused, b->closed_early, b->mismatch, b->no_cert_map,
	       b->bad_enroll, b->lost, b->gave_up, never, b->drops);
	for (int i = 0; i < REASONS_MAX && sw->reasons[i].n > 0; i++)
		printf("  %6ld x %s\n", sw->reasons[i].n, sw->reasons[i].text);
	printf("hold:    %.1f s at heartbeatSec %d: %ld heartbeats sent, %ld acked (%ld awaiting an "
	       "ack at the start, %ld at the end), %ld skipped, %ld drops; ack latency p50 %ld ms, "
	       "p99 %ld ms, max %lld ms\n", sw->hold_s_real, hb, sent, acked, sw->outstanding_start,
	       sw->outstanding_end, b->hb_skipped - a->hb_skipped, b->drops - a->drops,
	       hist_q(&sw->ack_lat, 0.5), hist_q(&sw->ack_lat, 0.99), (long long)sw->ack_lat.max);
	if (sw->console_pid > 0)
		printf("console: pid %ld: %.2f CPU s during the hold = %.1f us per heartbeat acked; "
		       "at the end of the hold VmRSS %ld MiB, VmHWM %ld MiB\n", sw->console_pid, cpu,
		       acked > 0 && cpu >= 0 ? cpu * 1e6 / (double)acked : 0.0, crss / 1024, chwm / 1024);
	printf("swarm:   VmRSS %ld MiB at the end of the hold; %.2f CPU s during the hold\n", srss / 1024,
	       sw->swarm_cpu_end - sw->swarm_cpu_start);
	printf("RESULT k=%d enroll_needed=%d enrolled=%ld enroll_s=%.2f welcomed=%d connect_s=%.2f "
	       "welcome_p50_ms=%ld welcome_p99_ms=%ld attempts=%ld errors=%ld refused=%ld "
	       "gave_up=%ld drops=%ld hold_s=%.1f hb_sent=%ld hb_acked=%ld ack_p99_ms=%ld "
	       "console_cpu_s=%.3f console_cpu_us_per_hb=%.1f swarm_rss_kb=%ld\n", sw->k,
	       sw->need_enroll, sw->enrolled_in_a, sw->enroll_s, sw->welcomed_at_end_b, sw->connect_s,
	       hist_q(&sw->welcome_lat, 0.5), hist_q(&sw->welcome_lat, 0.99), b->attempts,
	       b->conn_errors, b->refused, b->gave_up, b->drops, sw->hold_s_real, sent, acked,
	       hist_q(&sw->ack_lat, 0.99), cpu, acked > 0 && cpu >= 0 ? cpu * 1e6 / (double)acked : 0.0,
	       srss);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: defender_swarm [options]\n"
		"  --ws wss://HOST:PORT   the Console's Defender channel (default $WS_ADDRESS)\n"
		"  --bundle B64|@FILE     install bundle (default $INSTALL_BUNDLE)\n"
		"  --cacert FILE          CA to trust for the Console (default: the bundle's)\n"
		"  -k K                   simulated Defenders (default 100)\n"
		"  --rate N               new connections per second at most (default 1000)\n"
		"  --inflight N           handshakes under way at most (default 200)\n"
		"  --hold SECONDS         heartbeat period measured after all are welcomed (default 30)\n"
		"  --linger               after the hold, stay connected until SIGINT/SIGTERM\n"
		"  --timeout SECONDS      longest enroll or connect phase (default 600)\n"
		"  --retries N            attempts per Defender and phase (default 8)\n"
		"  --identity-dir DIR     cache of enrolled identities (reruns skip enrollment)\n"
		"  --prefix P             hostname prefix (default sim-); --first N first number (1)\n"
		"  --console-pid PID      measure this Console's CPU during the hold\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ws", required_argument, NULL, 'w' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'H' },
		{ "linger", no_argument, NULL, 'L' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'R' },
		{ "identity-dir", required_argument, NULL, 'd' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "first", required_argument, NULL, 'f' },
		{ "console-pid", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct swarm sw;
	const char *ws = getenv("WS_ADDRESS");
	struct sigaction sa;
#ifdef SWARM_WITH_LIBUV
	void *foreign[1];
#endif
	int ch, rc = 1, fds;
	long v;
	int64_t now;

	memset(&sw, 0, sizeof(sw));
	log_init("defender_swarm", LOG_LVL_INFO);
	sw.k = 100;
	sw.first = 1;
	sw.rate = 1000;
	sw.inflight_max = 200;
	sw.hold_s = 30;
	sw.timeout_s = 600;
	sw.max_attempts = 8;
	sw.prefix = "sim-";
	while ((ch = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		const char *what = NULL;
		switch (ch) {
		case 'w': ws = optarg; break;
		case 'b': sw.bundle_arg = optarg; break;
		case 'c': sw.cacert_path = optarg; break;
		case 'L': sw.linger = 1; break;
		case 'd': sw.identity_dir = optarg; break;
		case 'p': sw.prefix = optarg; break;
		case 'k':
			if (parse_int(optarg, 1, K_MAX, &v) < 0) what = "-k"; else sw.k = (int)v;
			break;
		case 'r':
			if (parse_int(optarg, 1, 1000000, &v) < 0) what = "--rate"; else sw.rate = (int)v;
			break;
		case 'i':
			if (parse_int(optarg, 1, 1000000, &v) < 0) what = "--inflight"; else sw.inflight_max = (int)v;
			break;
		case 'H':
			if (parse_int(optarg, 0, 86400, &v) < 0) what = "--hold"; else sw.hold_s = (int)v;
			break;
		case 't':
			if (parse_int(optarg, 1, 86400, &v) < 0) what = "--timeout"; else sw.timeout_s = (int)v;
			break;
		case 'R':
			if (parse_int(optarg, 1, 1000, &v) < 0) what = "--retries"; else sw.max_attempts = (int)v;
			break;
		case 'f':
			if (parse_int(optarg, 0, 99999, &v) < 0) what = "--first"; else sw.first = (int)v;
			break;
		case 'P':
			if (parse_int(optarg, 1, INT_MAX, &v) < 0) what = "--console-pid"; else sw.console_pid = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (what) {
			fprintf(stderr, "defender_swarm: bad value for %s: %s\n", what, optarg);
			return 2;
		}
	}
	if (optind < argc || ws == NULL || parse_ws(&sw, ws) < 0) {
		fprintf(stderr, "defender_swarm: --ws wss://HOST:PORT is required\n");
		usage(stderr);
		return 2;
	}
	if (strlen(sw.prefix) > SIM_NAME_MAX - 8) {
		fprintf(stderr, "defender_swarm: --prefix is too long\n");
		return 2;
	}
	the_swarm = &sw;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (load_bundle(&sw) < 0)
		goto out;

	sw.sims = calloc((size_t)sw.k, sizeof(*sw.sims));
	sw.welcome_lat.b = calloc(HIST_MAX_MS + 1, sizeof(unsigned));
	sw.ack_lat.b = calloc(HIST_MAX_MS + 1, sizeof(unsigned));
	if (sw.sims == NULL || sw.welcome_lat.b == NULL || sw.ack_lat.b == NULL)
		goto out;
	for (int i = 0; i < sw.k; i++)
		snprintf(sw.sims[i].host, sizeof(sw.sims[i].host), "%s%05d", sw.prefix, sw.first + i);
	sw.need_enroll = sw.k - (int)identities_load(&sw);

	/* Every connection is a descriptor; lws sizes its tables from this limit at context creation. */
	fds = raise_nofile(sw.k + 1024);
	if (fds < 0 || fds < sw.k + 64)
		log_warn("swarm: only %d file descriptors for %d connections", fds, sw.k);

	sw.ssl = client_ssl_ctx(&sw);
	sw.ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (sw.ssl == NULL || sw.ex_idx < 0)
		goto out;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = swarm_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.provided_client_ssl_ctx = sw.ssl;
	info.connect_timeout_secs = CONNECT_TIMEOUT_S;
	info.timeout_secs = HANDSHAKE_TIMEOUT_S;
#ifdef SWARM_WITH_LIBUV
	/* poll(2) walks every descriptor on each wakeup: with thousands of connections the swarm
	 * would take the CPU the Console needs. libuv waits with epoll. The loop is ours ("foreign"
	 * to lws), so that the tick can stop it; signals stay with sigaction() below. */
	if (uv_loop_init(&sw.loop) != 0) {
		log_error("swarm: cannot create the libuv loop");
		goto out;
	}
	sw.loop_ready = 1;
	foreign[0] = &sw.loop;
	info.options |= LWS_SERVER_OPTION_LIBUV;
	info.foreign_loops = foreign;
#endif
	sw.ctx = lws_create_context(&info);
	if (sw.ctx == NULL) {
		log_error("swarm: cannot create the lws context");
		goto out;
	}


	log_info("swarm: %d Defenders (%d to enroll) against wss://%s:%d; %d descriptors; "
		 "event loop %s", sw.k, sw.need_enroll, sw.host, sw.port, fds, SWARM_LOOP);
	now = util_now_ms();
	sw.last_tick_ms = now;
	sw.phase_start_ms = now;
	sw.last_progress_ms = now;
	sw.console_cpu_start = sw.console_cpu_end = -1;
	if (sw.need_enroll > 0) {
		sw.phase = PH_ENROLL;
		for (int i = 0; i < sw.k; i++)
			sw.sims[i].st = sw.sims[i].cert ? S_DONE : S_IDLE;
		printf("phase=enroll-start epoch=%.3f to_enroll=%d\n", epoch_s(), sw.need_enroll);
		fflush(stdout);
	} else {
		phase_enter(&sw, PH_CONNECT, now);
	}
	lws_sul_schedule(sw.ctx, 0, &sw.tick, tick_cb, TICK_US);
#ifdef SWARM_WITH_LIBUV
	uv_run(&sw.loop, UV_RUN_DEFAULT);
#else
	while (!sw.finished)
		if (lws_service(sw.ctx, 0) < 0)
			break;
#endif
	lws_sul_cancel(&sw.tick);
	if (sw.phase != PH_STOP)
		phase_enter(&sw, PH_STOP, util_now_ms());
	report(&sw);
	rc = 0; /* a benchmark: the figures say how far it went */
out:
	if (sw.ctx)
		lws_context_destroy(sw.ctx);
#ifdef SWARM_WITH_LIBUV
	if (sw.loop_ready) {
		/* lws closes its handles on our loop: let them finish, then the second
		 * lws_context_destroy() frees what waited for them (lws 4.1 foreign-loop teardown). */
		uv_run(&sw.loop, UV_RUN_DEFAULT);
		if (sw.ctx)
			lws_context_destroy(sw.ctx);
		uv_loop_close(&sw.loop);
	}
#endif
	SSL_CTX_free(sw.ssl);
	for (int i = 0; sw.sims && i < sw.k; i++) {
		EVP_PKEY_free(sw.sims[i].key);
		X509_free(sw.sims[i].cert);
		sim_clear_io(&sw.sims[i]);
	}
	free(sw.sims);
	free(sw.welcome_lat.b);
	free(sw.ack_lat.b);
	X509_free(sw.ca);
	X509_free(sw.enroll_cert);
	EVP_PKEY_free(sw.enroll_key);
	bundle_clear(&sw.bundle);
	the_swarm = NULL;
	return rc;
}
