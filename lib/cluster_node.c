/*
 * cluster_node: the last resort, the node's IP address as the cluster name. Standalone Docker
 * hosts have no cluster; naming them by their address keeps each host in a group of its own
 * instead of lumping every such host into one "unknown" cluster. The address is the first IPv4
 * address of the interface that holds the default route (lowest metric in /proc/net/route),
 * else the first non-loopback IPv4 address of any interface that is up.
 */
#include "cluster_int.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/log.h>
#include <garrison/util.h>

#define ROUTE_TEXT_MAX (1 << 20)

/* The interface of the default route with the lowest metric into ifname; 0 or -ENOENT. */
static int node_default_iface(const char *text, char *ifname, size_t len)
{
	unsigned long best = ULONG_MAX;
	const char *p = text;
	int found = 0;

	if (text == NULL)
		return -ENOENT;
	p = strchr(p, '\n'); /* the header line */
	while (p != NULL && *++p != '\0') {
		char name[IF_NAMESIZE + 1];
		unsigned long dest, gw, flags, refcnt, use, metric, mask;
		const char *eol = strchr(p, '\n');
		char line[512];
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, "%16s %lx %lx %lx %lu %lu %lu %lx", name, &dest, &gw, &flags,
				   &refcnt, &use, &metric, &mask) == 8 &&
			    dest == 0 && mask == 0 && (flags & 0x1) /* RTF_UP */ && metric < best &&
			    strlen(name) < len) {
				best = metric;
				memcpy(ifname, name, strlen(name) + 1);
				found = 1;
			}
		}
		p = eol;
	}
	return found ? 0 : -ENOENT;
}

static int node_usable(const struct ifaddrs *i, const char *ifname)
{
	const struct sockaddr_in *sin;
	uint32_t a;

	if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET || i->ifa_name == NULL ||
	    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
		return 0;
	if (ifname != NULL && strcmp(i->ifa_name, ifname) != 0)
		return 0;
	sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
	a = ntohl(sin->sin_addr.s_addr);
	return a != 0 && (a >> 24) != 127;
}

int cluster_node_ip_pick(const char *route_text, const struct ifaddrs *ifa, char *buf, size_t len)
{
	char ifname[IF_NAMESIZE + 1];
	const struct ifaddrs *i;
	int have_default = node_default_iface(route_text, ifname, sizeof(ifname)) == 0;

	for (int pass = have_default ? 0 : 1; pass < 2; pass++) {
		for (i = ifa; i != NULL; i = i->ifa_next) {
			if (!node_usable(i, pass == 0 ? ifname : NULL))
				continue;
			if (inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)i->ifa_addr)
						       ->sin_addr,
				      buf, (socklen_t)len) == NULL)
				return -ENOENT;
			return 0;
		}
	}
	return -ENOENT;
}

int cl_src_node_ip(struct cl_ctx *c, struct cl_answer *a)
{
	struct ifaddrs *ifa = NULL;
	char *route = NULL, ip[INET_ADDRSTRLEN];
	int r;

	(void)c;
	r = util_read_file("/proc/net/route", ROUTE_TEXT_MAX, &route, NULL);
	if (r == -ENOMEM)
		return r;
	if (getifaddrs(&ifa) < 0) {
		int err = errno;

		log_debug("cluster: node-ip: getifaddrs: %s", strerror(err));
		free(route);
		return err == ENOMEM ? -ENOMEM : 0;
	}
	r = cluster_node_ip_pick(route, ifa, ip, sizeof(ip));
	freeifaddrs(ifa);
	free(route);
	if (r < 0) {
		log_debug("cluster: node-ip: no non-loopback IPv4 address");
		return 0;
	}
	a->name = strdup(ip);
	return a->name ? 1 : -ENOMEM;
}
