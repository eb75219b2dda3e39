/*
 * sensor_cgroup: cgroup id -> container id, for events that carry bpf_get_current_cgroup_id()
 * (see sensor.h). The cgroup v2 id of a cgroup is the inode number of its directory in the v2
 * hierarchy, so a scan of the container directories Docker creates, with stat(2), gives the map.
 *
 * The cache is an open-addressing table of CG_CACHE_CAP entries that is emptied when three
 * quarters full (cgroup ids are not reused while the machine runs, and a full rescan is cheap).
 * Directory names from the tree are checked (64 lowercase hex digits) before they become ids.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <garrison/util.h>

#include "sensor.h"

#define CG_CACHE_CAP 4096
#define CG_RESCAN_MS 50
#define CG_NEGATIVE_MS 10000
#define CG_DEPTH 3

struct cg_entry {
	uint64_t id;     /* 0: free slot */
	int64_t expires; /* ms (CLOCK_MONOTONIC); 0: never */
	char container[EVENT_CONTAINER_MAX];
};

struct sensor_cgroups {
	char root[512];
	struct cg_entry *tab;
	size_t used;
	int64_t last_scan;
	uint64_t scans;
};

int sensor_cgroups_new(const char *root, struct sensor_cgroups **out)
{
	struct sensor_cgroups *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->tab = calloc(CG_CACHE_CAP, sizeof(*c->tab));
	if (c->tab == NULL) {
		free(c);
		return -ENOMEM;
	}
	snprintf(c->root, sizeof(c->root), "%s", root != NULL ? root : "/sys/fs/cgroup");
	c->last_scan = -CG_RESCAN_MS;
	*out = c;
	return 0;
}

void sensor_cgroups_free(struct sensor_cgroups *c)
{
	if (c == NULL)
		return;
	free(c->tab);
	free(c);
}

void sensor_cgroups_flush(struct sensor_cgroups *c)
{
	memset(c->tab, 0, CG_CACHE_CAP * sizeof(*c->tab));
	c->used = 0;
	c->last_scan = -CG_RESCAN_MS;
}

uint64_t sensor_cgroups_scans(const struct sensor_cgroups *c)
{
	return c->scans;
}

static size_t slot_of(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)(id % CG_CACHE_CAP);
}

static struct cg_entry *lookup(struct sensor_cgroups *c, uint64_t id)
{
	for (size_t i = slot_of(id), n = 0; n < CG_CACHE_CAP; i = (i + 1) % CG_CACHE_CAP, n++) {
		if (c->tab[i].id == id)
			return &c->tab[i];
		if (c->tab[i].id == 0)
			return NULL;
	}
	return NULL;
}

static void put(struct sensor_cgroups *c, uint64_t id, const char *container, int64_t expires)
{
	struct cg_entry *e = lookup(c, id);

	if (id == 0)
		return;
	if (e == NULL) {
		if (c->used >= CG_CACHE_CAP * 3 / 4) {
			memset(c->tab, 0, CG_CACHE_CAP * sizeof(*c->tab));
			c->used = 0;
		}
		size_t i = slot_of(id);
		while (c->tab[i].id != 0)
			i = (i + 1) % CG_CACHE_CAP;
		e = &c->tab[i];
		e->id = id;
		c->used++;
	}
	e->expires = expires;
	snprintf(e->container, sizeof(e->container), "%s", container);
}

static int is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Records dir (a container's cgroup or one below it) and its subdirectories as container's. */
static void walk(struct sensor_cgroups *c, const char *dir, const char *container, int depth)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char sub[1024];

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	put(c, (uint64_t)st.st_ino, container, 0);
	if (depth >= CG_DEPTH || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		walk(c, sub, container, depth + 1);
	}
	closedir(d);
}

/* Every container directory under root/base: "<id>" or, with scope set, "docker-<id>.scope". */
static void scan_base(struct sensor_cgroups *c, const char *base, int scope)
{
	char dir[600], sub[1024], id[EVENT_CONTAINER_MAX];
	struct dirent *de;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s/%s", c->root, base) >= (int)sizeof(dir) ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		if (scope) {
			if (len != 7 + 64 + 6 || strncmp(n, "docker-", 7) != 0 ||
			    strcmp(n + 7 + 64, ".scope") != 0 || !is_hex64(n + 7, 64))
				continue;
			memcpy(id, n + 7, 64);
		} else {
			if (!is_hex64(n, len))
				continue;
			memcpy(id, n, 64);
		}
		id[64] = 0;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, n) >= (int)sizeof(sub))
			continue;
		walk(c, sub, id, 0);
	}
	closedir(d);
}

static void scan(struct sensor_cgroups *c)
{
	c->scans++;
	scan_base(c, "unified/docker", 0);
	scan_base(c, "docker", 0);
	scan_base(c, "system.slice", 1);
	scan_base(c, "unified/system.slice", 1);
}

int sensor_cgroups_resolve(struct sensor_cgroups *c, uint64_t cgroup_id, char *out)
{
	int64_t now = util_now_ms();
	struct cg_entry *e = lookup(c, cgroup_id);

	out[0] = 0;
	if (cgroup_id == 0)
		return 0;
	if (e != NULL && (e->expires == 0 || e->expires > now))
		goto found;
	if (now - c->last_scan >= CG_RESCAN_MS) {
		c->last_scan = now;
		scan(c);
		e = lookup(c, cgroup_id);
		if (e != NULL && e->container[0] != 0)
			goto found;
	} else if (e != NULL) {
		goto found; /* expired negative entry, but a scan was just done */
	}
	put(c, cgroup_id, "", now + CG_NEGATIVE_MS);
	return 0;
found:
	snprintf(out, EVENT_CONTAINER_MAX, "%s", e->container);
	return out[0] != 0;
}
