/*
 * compliance: the check catalogue of the CIS Docker Benchmark v1.6.0 (ids and titles as
 * docker-bench-security words them, with the severity Garrison gives each failure and Prisma's
 * compliance type), the result list, and the conversion of results into Prisma's
 * complianceIssues (vuln.Vulnerability) and complianceDistribution (vuln.Distribution) shapes.
 *
 * The titles are copied from tests/data/cis-docker/docker-bench-security-checks.tsv; the unit
 * test compares every entry with that file. Severities are Garrison's choice, documented in
 * docs/compliance.md. The checks themselves live in compliance_container.c (sections 4 and 5)
 * and compliance_host.c (sections 1-3 and 5.1).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/util.h>

#include "compliance_int.h"

static const struct compliance_check catalog[] = {
	{ "1.1.1", "Ensure a separate partition for containers has been created (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.2", "Ensure only trusted users are allowed to control Docker daemon (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.3", "Ensure auditing is configured for the Docker daemon (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.4", "Ensure auditing is configured for Docker files and directories -/run/containerd (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.5", "Ensure auditing is configured for Docker files and directories - /var/lib/docker (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.6", "Ensure auditing is configured for Docker files and directories - /etc/docker (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.7", "Ensure auditing is configured for Docker files and directories - docker.service (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.8", "Ensure auditing is configured for Docker files and directories - containerd.sock (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.9", "Ensure auditing is configured for Docker files and directories - docker.socket (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.10", "Ensure auditing is configured for Docker files and directories - /etc/default/docker (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.11", "Ensure auditing is configured for Dockerfiles and directories - /etc/docker/daemon.json (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.12", "1.1.12 Ensure auditing is configured for Dockerfiles and directories - /etc/containerd/config.toml (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.13", "Ensure auditing is configured for Docker files and directories - /etc/sysconfig/docker (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.14", "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.15", "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.16", "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v1 (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.17", "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v2 (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.1.18", "Ensure auditing is configured for Docker files and directories - /usr/bin/runc (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.2.1", "Ensure the container host has been Hardened (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "1.2.2", "Ensure that the version of Docker is up to date (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_HOST_CONFIG },
	{ "2.1", "Run the Docker daemon as a non-root user, if possible (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.2", "Ensure network traffic is restricted between containers on the default bridge (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.3", "Ensure the logging level is set to 'info' (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.4", "Ensure Docker is allowed to make changes to iptables (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.5", "Ensure insecure registries are not used (Scored)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.6", "Ensure aufs storage driver is not used (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.7", "Ensure TLS authentication for Docker daemon is configured (Scored)",
	  COMPLIANCE_SEV_CRITICAL, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.8", "Ensure the default ulimit is configured appropriately (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.9", "Enable user namespace support (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.10", "Ensure the default cgroup usage has been confirmed (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.11", "Ensure base device size is not changed until needed (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.12", "Ensure that authorization for Docker client commands is enabled (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.13", "Ensure centralized and remote logging is configured (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.14", "Ensure containers are restricted from acquiring new privileges (Scored)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.15", "Ensure live restore is enabled (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.16", "Ensure Userland Proxy is Disabled (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.17", "Ensure that a daemon-wide custom seccomp profile is applied if appropriate (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "2.18", "Ensure that experimental features are not implemented in production (Scored)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "3.1", "Ensure that the docker.service file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.2", "Ensure that docker.service file permissions are appropriately set (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.3", "Ensure that docker.socket file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.4", "Ensure that docker.socket file permissions are set to 644 or more restrictive (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.5", "Ensure that the /etc/docker directory ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.6", "Ensure that /etc/docker directory permissions are set to 755 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.7", "Ensure that registry certificate file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.8", "Ensure that registry certificate file permissions are set to 444 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.9", "Ensure that TLS CA certificate file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.10", "Ensure that TLS CA certificate file permissions are set to 444 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.11", "Ensure that Docker server certificate file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.12", "Ensure that the Docker server certificate file permissions are set to 444 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.13", "Ensure that the Docker server certificate key file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.14", "Ensure that the Docker server certificate key file permissions are set to 400 (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.15", "Ensure that the Docker socket file ownership is set to root:docker (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.16", "Ensure that the Docker socket file permissions are set to 660 or more restrictively (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.17", "Ensure that the daemon.json file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.18", "Ensure that daemon.json file permissions are set to 644 or more restrictive (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.19", "Ensure that the /etc/default/docker file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.20", "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.21", "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.22", "Ensure that the /etc/sysconfig/docker file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.23", "Ensure that the Containerd socket file ownership is set to root:root (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "3.24", "Ensure that the Containerd socket file permissions are set to 660 or more restrictively (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_DAEMON_CONFIG_FILES },
	{ "4.1", "Ensure that a user for the container has been created (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_IMAGE },
	{ "4.2", "Ensure that containers use only trusted base images (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_IMAGE },
	{ "4.3", "Ensure that unnecessary packages are not installed in the container (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_IMAGE },
	{ "4.4", "Ensure images are scanned and rebuilt to include security patches (Manual)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_IMAGE },
	{ "4.5", "Ensure Content trust for Docker is Enabled (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_IMAGE },
	{ "4.6", "Ensure that HEALTHCHECK instructions have been added to container images (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_IMAGE },
	{ "4.7", "Ensure update instructions are not used alone in the Dockerfile (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_IMAGE },
	{ "4.8", "Ensure setuid and setgid permissions are removed (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_IMAGE },
	{ "4.9", "Ensure that COPY is used instead of ADD in Dockerfiles (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_IMAGE },
	{ "4.10", "Ensure secrets are not stored in Dockerfiles (Manual)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_IMAGE },
	{ "4.11", "Ensure only verified packages are installed (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_IMAGE },
	{ "4.12", "Ensure all signed artifacts are validated (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_IMAGE },
	{ "5.1", "Ensure swarm mode is not Enabled, if not needed (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_DAEMON_CONFIG },
	{ "5.2", "Ensure that, if applicable, an AppArmor Profile is enabled (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.3", "Ensure that, if applicable, SELinux security options are set (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.4", "Ensure that Linux kernel capabilities are restricted within containers (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.5", "Ensure that privileged containers are not used (Automated)",
	  COMPLIANCE_SEV_CRITICAL, COMPLIANCE_TYPE_CONTAINER },
	{ "5.6", "Ensure sensitive host system directories are not mounted on containers (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.7", "Ensure sshd is not run within containers (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.8", "Ensure privileged ports are not mapped within containers (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.9", "Ensure that only needed ports are open on the container (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.10", "Ensure that the host's network namespace is not shared (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.11", "Ensure that the memory usage for containers is limited (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.12", "Ensure that CPU priority is set appropriately on containers (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.13", "Ensure that the container's root filesystem is mounted as read only (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.14", "Ensure that incoming container traffic is bound to a specific host interface (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.15", "Ensure that the 'on-failure' container restart policy is set to '5' (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.16", "Ensure that the host's process namespace is not shared (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.17", "Ensure that the host's IPC namespace is not shared (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.18", "Ensure that host devices are not directly exposed to containers (Manual)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.19", "Ensure that the default ulimit is overwritten at runtime if needed (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.20", "Ensure mount propagation mode is not set to shared (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.21", "Ensure that the host's UTS namespace is not shared (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.22", "Ensure the default seccomp profile is not Disabled (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.23", "Ensure that docker exec commands are not used with the privileged option (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "5.24", "Ensure that docker exec commands are not used with the user=root option (Manual)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.25", "Ensure that cgroup usage is confirmed (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.26", "Ensure that the container is restricted from acquiring additional privileges (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.27", "Ensure that container health is checked at runtime (Automated)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.28", "Ensure that Docker commands always make use of the latest version of their image (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.29", "Ensure that the PIDs cgroup limit is used (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.30", "Ensure that Docker's default bridge 'docker0' is not used (Manual)",
	  COMPLIANCE_SEV_LOW, COMPLIANCE_TYPE_CONTAINER },
	{ "5.31", "Ensure that the host's user namespaces are not shared (Automated)",
	  COMPLIANCE_SEV_MEDIUM, COMPLIANCE_TYPE_CONTAINER },
	{ "5.32", "Ensure that the Docker socket is not mounted inside any containers (Automated)",
	  COMPLIANCE_SEV_CRITICAL, COMPLIANCE_TYPE_CONTAINER },
	{ "C.5.3.1", "Ensure that CAP_DAC_READ_SEARCH Linux kernel capability is disabled (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
	{ "C.5.3.2", "Ensure that CAP_SYS_MODULE Linux kernel capability is disabled (Automated)",
	  COMPLIANCE_SEV_CRITICAL, COMPLIANCE_TYPE_CONTAINER },
	{ "C.5.3.3", "Ensure that CAP_SYS_ADMIN Linux kernel capability is disabled (Automated)",
	  COMPLIANCE_SEV_CRITICAL, COMPLIANCE_TYPE_CONTAINER },
	{ "C.5.3.4", "Ensure that CAP_SYS_PTRACE Linux kernel capability is disabled (Automated)",
	  COMPLIANCE_SEV_HIGH, COMPLIANCE_TYPE_CONTAINER },
};

struct compliance_list {
	struct compliance_result *v;
	size_t n, cap;
};

const struct compliance_check *compliance_catalog(size_t *n)
{
	*n = ARRAY_SIZE(catalog);
	return catalog;
}

const struct compliance_check *compliance_catalog_find(const char *id)
{
	for (size_t i = 0; id != NULL && i < ARRAY_SIZE(catalog); i++)
		if (strcmp(catalog[i].id, id) == 0)
			return &catalog[i];
	return NULL;
}

struct compliance_list *compliance_list_new(void)
{
	return calloc(1, sizeof(struct compliance_list));
}

void compliance_list_free(struct compliance_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	free(l);
}

size_t compliance_list_count(const struct compliance_list *l)
{
	return l != NULL ? l->n : 0;
}

const struct compliance_result *compliance_list_get(const struct compliance_list *l, size_t i)
{
	return l != NULL && i < l->n ? &l->v[i] : NULL;
}

const struct compliance_result *compliance_list_find(const struct compliance_list *l,
						     const char *id)
{
	for (size_t i = l != NULL ? l->n : 0; i > 0; i--)
		if (strcmp(l->v[i - 1].id, id) == 0)
			return &l->v[i - 1];
	return NULL;
}

void compliance_list_truncate(struct compliance_list *l, size_t n)
{
	if (l != NULL && n < l->n)
		l->n = n;
}

int compliance_add(struct compliance_list *l, const char *id, enum compliance_status st,
		   const char *fmt, ...)
{
	const struct compliance_check *c = compliance_catalog_find(id);
	struct compliance_result *r;
	va_list ap;

	if (c == NULL || l == NULL)
		return -EINVAL;   /* a programming error: every id used is in the catalogue */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct compliance_result *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	r = &l->v[l->n++];
	r->id = c->id;
	r->title = c->title;
	r->type = c->type;
	r->severity = c->severity;
	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->cause, sizeof(r->cause), fmt, ap);
	va_end(ap);
	return 0;
}

char *compliance_quote(const char *s, char *buf, size_t len)
{
	size_t i = 0, max = len > 4 ? len - 4 : 0;

	if (len == 0)
		return buf;
	if (max > COMPLIANCE_QUOTE_MAX)
		max = COMPLIANCE_QUOTE_MAX;
	/* ASCII only: a cause is always valid UTF-8 whatever the input held. */
	for (; s != NULL && s[i] != '\0' && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
	}
	if (s != NULL && s[i] != '\0' && len >= 4) {
		memcpy(buf + i, "...", 4);
		return buf;
	}
	buf[i] = '\0';
	return buf;
}

const char *compliance_status_name(enum compliance_status s)
{
	switch (s) {
	case COMPLIANCE_PASS: return "pass";
	case COMPLIANCE_FAIL: return "fail";
	case COMPLIANCE_NA: return "na";
	}
	return "na";
}

const char *compliance_severity_name(enum compliance_severity s)
{
	switch (s) {
	case COMPLIANCE_SEV_LOW: return "low";
	case COMPLIANCE_SEV_MEDIUM: return "medium";
	case COMPLIANCE_SEV_HIGH: return "high";
	case COMPLIANCE_SEV_CRITICAL: return "critical";
	}
	return "low";
}

const char *compliance_type_name(enum compliance_type t)
{
	switch (t) {
	case COMPLIANCE_TYPE_CONTAINER: return "container";
	case COMPLIANCE_TYPE_IMAGE: return "image";
	case COMPLIANCE_TYPE_HOST_CONFIG: return "host_config";
	case COMPLIANCE_TYPE_DAEMON_CONFIG: return "daemon_config";
	case COMPLIANCE_TYPE_DAEMON_CONFIG_FILES: return "daemon_config_files";
	}
	return "container";
}

int compliance_prisma_id(const char *cis_id)
{
	long v = 0;
	int digits = 0;

	if (cis_id == NULL)
		return -1;
	if (cis_id[0] == 'C' && cis_id[1] == '.') {
		v = 9;
		digits = 1;
	}
	for (const char *p = cis_id; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			continue;
		if (digits >= 9)
			return -1;
		v = v * 10 + (*p - '0');
		digits++;
	}
	return digits > 0 ? (int)v : -1;
}

/* The title without docker-bench's " (Automated)" / " (Manual)" / " (Scored)" suffix and without
 * the stray id some upstream titles begin with ("1.1.12 Ensure ..."). */
static void plain_title(const struct compliance_result *r, char *buf, size_t len)
{
	const char *t = r->title;
	size_t idlen = strlen(r->id), n;
	static const char *const suffixes[] = { " (Automated)", " (Manual)", " (Scored)",
						" (Not Scored)" };

	if (strncmp(t, r->id, idlen) == 0 && t[idlen] == ' ')
		t += idlen + 1;
	n = strlen(t);
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t sl = strlen(suffixes[i]);

		if (n > sl && strcmp(t + n - sl, suffixes[i]) == 0) {
			n -= sl;
			break;
		}
	}
	snprintf(buf, len, "%.*s", (int)n, t);
}

static json_t *prisma_issue(const struct compliance_result *r)
{
	char plain[256], title[320], desc[512];

	plain_title(r, plain, sizeof(plain));
	snprintf(title, sizeof(title), "(%s - %s) %s", COMPLIANCE_BENCHMARK, r->id, plain);
	snprintf(desc, sizeof(desc), "%s. CIS Docker Benchmark v1.6.0, check %s.", plain, r->id);
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:[]}",
			 "id", compliance_prisma_id(r->id),
			 "title", title,
			 "severity", compliance_severity_name(r->severity),
			 "cause", r->cause,
			 "type", compliance_type_name(r->type),
			 "description", desc,
			 "text", "",
			 "templates");
}

json_t *compliance_prisma_issues(const struct compliance_list *l)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (int sev = COMPLIANCE_SEV_CRITICAL; sev >= COMPLIANCE_SEV_LOW; sev--) {
		for (size_t i = 0; i < compliance_list_count(l); i++) {
			const struct compliance_result *r = &l->v[i];

			if (r->status != COMPLIANCE_FAIL || (int)r->severity != sev)
				continue;
			if (json_array_append_new(arr, prisma_issue(r)) != 0)
				goto fail;
		}
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

json_t *compliance_prisma_distribution(const struct compliance_list *l)
{
	long long n[4] = { 0 }, total = 0;

	for (size_t i = 0; i < compliance_list_count(l); i++) {
		if (l->v[i].status != COMPLIANCE_FAIL)
			continue;
		n[l->v[i].severity]++;
		total++;
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
			 "critical", n[COMPLIANCE_SEV_CRITICAL], "high", n[COMPLIANCE_SEV_HIGH],
			 "medium", n[COMPLIANCE_SEV_MEDIUM], "low", n[COMPLIANCE_SEV_LOW],
			 "total", total);
}

json_t *compliance_results_json(const struct compliance_list *l)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < compliance_list_count(l); i++) {
		const struct compliance_result *r = &l->v[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", r->id,
				      "title", r->title,
				      "severity", compliance_severity_name(r->severity),
				      "type", compliance_type_name(r->type),
				      "status", compliance_status_name(r->status),
				      "cause", r->cause);

		if (json_array_append_new(arr, o) != 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}
