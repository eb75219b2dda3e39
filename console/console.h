/*
 * console: the state shared by the Console's modules. One struct console lives for the whole
 * process; the API thread (api.c, libevent) and the hub thread (hub.c, libwebsockets) both reach
 * it. Fields are set in main.c before the threads start and are read-only afterwards, except
 * where a comment names the lock that guards them.
 */
#ifndef GARRISON_CONSOLE_H
#define GARRISON_CONSOLE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "store.h"

#define CONSOLE_MAX_SANS 32

struct hub;

struct console {
	char data_dir[512];
	char api_addr[128];      /* host:port of the HTTPS API */
	char defender_addr[128]; /* host:port of the Defender channel */
	int api_port, defender_port;
	const char *sans[CONSOLE_MAX_SANS];
	size_t nsans;
	char default_console_addr[256]; /* what Defenders use when the request names none */

	struct store *store;
	X509 *ca_cert;
	EVP_PKEY *ca_key;
	char ca_path[600], cert_path[600], key_path[600];

	struct hub *hub;
	int heartbeat_sec;       /* interval the Defenders are told to use */
	int dead_after_sec;      /* no heartbeat for this long = disconnected */
	int audit_retention_days;     /* runtime audits older than this are deleted (0: kept) */
	long long audit_max_per_kind; /* at most this many container / host audits (0: no bound) */
};

/* identity.c: creates or loads the CA, the Console's server certificate and the admin user. */
int console_identity_init(struct console *c);
/* Returns the current install bundle (creating one if none is valid); malloc()ed strings. */
int console_bundle_current(struct console *c, char **id, char **b64);

/* api.c: runs the HTTPS API on the calling thread until console_api_stop(). */
int console_api_run(struct console *c);
void console_api_stop(void);

#endif
