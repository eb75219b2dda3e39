/*
 * apiclient: a client of the Console's JSON API over HTTPS (libcurl), for the `garrison` CLI and
 * tests. It logs in with POST /api/v1/authenticate (or uses a given token) and sends
 * "Authorization: Bearer" on every later call.
 *
 * Guarantees: TLS peer and host verification are always on (--cacert adds the Console's CA); only
 * https is spoken and redirects are not followed, so the token never leaves for another host;
 * loopback addresses never go through a proxy; a response larger than max_response is refused.
 * Errors carry the HTTP status and the server's {"err": "..."} text in apiclient_errmsg().
 *
 * The process calls curl_global_init() before the first apiclient_new() and curl_global_cleanup()
 * at exit. One struct apiclient is used by one thread at a time.
 */
#ifndef GARRISON_APICLIENT_H
#define GARRISON_APICLIENT_H

#include <stddef.h>
#include <jansson.h>

#define APICLIENT_MAX_RESPONSE (16u * 1024 * 1024)
#define APICLIENT_TIMEOUT_S    60L
#define APICLIENT_ERRMSG_MAX   512

struct apiclient_opts {
	const char *address;  /* Console base URL, "https://HOST:8083" (required) */
	const char *user;     /* with password, or token */
	const char *password; /* GARRISON_PASSWORD when NULL (keeps it out of ps) */
	const char *token;    /* GARRISON_TOKEN when NULL */
	const char *cacert;   /* PEM CA file, GARRISON_CACERT when NULL; NULL = system CAs */
	long timeout_s;       /* whole-request timeout, 0 = APICLIENT_TIMEOUT_S */
	size_t max_response;  /* 0 = APICLIENT_MAX_RESPONSE */
};

/* One answer. body is malloc()ed and NUL-terminated (len excludes the NUL). */
struct apiclient_resp {
	long status;
	char *body;
	size_t len;
	long long total_count; /* the Total-Count header, -1 when absent */
};

struct apiclient;

/* The option convention of every command: when argv[*i] is name followed by a value in the next
 * argument ("--name VALUE", *i is moved to it) or after '=' ("--name=VALUE"), sets *val and returns
 * 1. Returns 0 (and *val = NULL) when argv[*i] is something else, -EINVAL when the value is
 * missing. */
int apiclient_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* Recognizes the connection option at argv[*i]: --address, --user, --password, --token, --cacert
 * (each as "--opt VALUE" or "--opt=VALUE"). Returns 1 and moves *i to the last argument it used,
 * 0 when argv[*i] is not a connection option, -EINVAL when its value is missing or empty. */
int apiclient_opt_parse(struct apiclient_opts *o, int argc, char **argv, int *i);

/* Completes o from the environment (GARRISON_PASSWORD, GARRISON_TOKEN, GARRISON_CACERT) and checks
 * it: an https address, and either a token or a user with a password. Returns 0, or -EINVAL with a
 * message in err. */
int apiclient_opts_finish(struct apiclient_opts *o, char *err, size_t errlen);

/* Copies the host of an https URL into host ("[::1]" comes out as "::1"). 0, -EINVAL for a URL
 * that is not https://HOST[:PORT][/PATH] or has user info, -ENAMETOOLONG when it does not fit. */
int apiclient_url_host(const char *url, char *host, size_t hostlen);

/* Formats "HTTP <status>: <message>" where message is the "err" member of a JSON body, else the
 * body's first line with control characters replaced, bounded to fit buf. Exported for tests. */
void apiclient_format_http_error(long status, const char *body, size_t len, char *buf, size_t buflen);

/* Creates a client for the checked options o (strings are copied). 0, -EINVAL, -ENOMEM. */
int apiclient_new(const struct apiclient_opts *o, struct apiclient **out);
/* Frees c and wipes its credentials. NULL is a no-op. */
void apiclient_free(struct apiclient *c);

/* Logs in with the user and password unless a token was given. 0, -EACCES for refused credentials,
 * or another negative errno (see apiclient_call); the reason is in apiclient_errmsg(). */
int apiclient_login(struct apiclient *c);

/* Sends method path (path starts with '/' and may carry a query) with body (may be NULL) as JSON.
 * On a 2xx answer returns 0 and fills r (clear it with apiclient_resp_clear). Otherwise returns
 * -EACCES (401, 403), -ENOENT (404), -EIO (other HTTP errors), -ECONNREFUSED (cannot connect),
 * -EPROTO (TLS failure), -ETIMEDOUT, -EFBIG (answer over max_response) or -ENOMEM, and sets
 * apiclient_errmsg(). r is cleared on failure. */
int apiclient_call(struct apiclient *c, const char *method, const char *path, const json_t *body,
		   struct apiclient_resp *r);
/* apiclient_call and parse the answer as JSON; *out is a new reference. -EBADMSG when not JSON. */
int apiclient_call_json(struct apiclient *c, const char *method, const char *path,
			const json_t *body, json_t **out, long long *total_count);
void apiclient_resp_clear(struct apiclient_resp *r);

/* The reason for the last failure of c, "" when there was none. Valid until the next call. */
const char *apiclient_errmsg(const struct apiclient *c);

#endif
