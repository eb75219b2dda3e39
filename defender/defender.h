/*
 * defender: the Defender's configuration and the uplink to the Console. Configuration comes from
 * the environment the deployment sets (WS_ADDRESS, INSTALL_BUNDLE, DEFENDER_TYPE, DEFENDER_CLUSTER,
 * DOCKER_CLIENT_ADDRESS, GARRISON_DATA_DIR); main.c reads it once at start. The uplink also carries
 * the runtime engine's messages (rtengine.h): policy, relearn and acks in, audits, profiles and
 * status out (docs/protocol.md "Runtime").
 */
#ifndef GARRISON_DEFENDER_H
#define GARRISON_DEFENDER_H

#include <pthread.h>

#include <jansson.h>

#include <garrison/bundle.h>
#include <garrison/cluster.h>

struct defender {
	char ws_host[256];
	int ws_port;
	char data_dir[512];
	char type[32];
	char hostname[256];
	const char *docker_addr;
	struct bundle bundle;        /* decoded INSTALL_BUNDLE */
	struct cluster_identity cluster;
	json_t *system_info;
	char id_key[600], id_cert[600], id_ca[600]; /* identity files in data_dir */
	volatile int stop;
	struct inventory *inv;       /* Docker inventory (may be NULL) */
	struct scanner *scan;        /* image, container and host scans (may be NULL) */
	struct rtengine *rt;         /* runtime defense (may be NULL: GARRISON_RUNTIME=off) */

	/* Messages from other threads (the inventory) to the Console, guarded by q_mu. They are
	 * queued only while a session is live (welcomed); otherwise they are dropped, because every
	 * new session starts with a full resync. */
	pthread_mutex_t q_mu;
	struct uplink_msg *q_head, *q_tail;
	size_t q_len;
	int q_live, q_overflow;
	struct lws_context *q_ctx;
};

/* Queues a message for the Console (thread-safe; takes ownership of msg). */
void uplink_send(struct defender *d, json_t *msg);

/* Wakes the uplink's loop from another thread (the runtime engine has audits or profiles to
 * send); a no-op while no session is live. Thread-safe. */
void uplink_wake(void *defender);

/* Runs the connect / enroll / hello / heartbeat loop until d->stop is set. Never returns early on
 * Console errors: it retries with jittered exponential backoff. */
int uplink_run(struct defender *d);

#endif
