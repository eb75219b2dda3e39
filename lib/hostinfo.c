/*
 * hostinfo: listening TCP sockets, bound UDP sockets and per-process socket inodes from a procfs,
 * and the host record
 * of the inventory. The tables are read line by line with a fixed buffer, so a host with a million
 * sockets costs time but never memory; every field of a line is checked before it is used.
 */
#include <garrison/hostinfo.h>
#include <garrison/sysinfo.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads exactly n hex digits at *p into *v (n <= 16) and moves *p past them. */
static int hex_field(const char **p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		int h = hexval((*p)[i]);
		if (h < 0)
			return -EBADMSG;
		x = (x << 4) | (uint64_t)h;
	}
	*p += n;
	*v = x;
	return 0;
}

static const char *skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *skip_token(const char *p)
{
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
		p++;
	return p;
}

/* One line of a tcp, tcp6, udp or udp6 table (the four share their layout). */
static int parse_line(const char *line, int v6, int udp, struct hostinfo_listen *out)
{
	const char *p = skip_spaces(line);
	size_t addr_digits = v6 ? 32 : 8;
	uint64_t words[4] = { 0 }, port, rport, st, inode = 0, rany = 0;
	int loopback;

	if (*p == '\0' || *p == '\n')
		return -EBADMSG;
	if (strncmp(p, "sl ", 3) == 0)
		return 0; /* the header */
	/* "N:" slot number */
	if (*p < '0' || *p > '9')
		return -EBADMSG;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ':')
		return -EBADMSG;
	p = skip_spaces(p);
	/* local address: the address words in host byte order as hex, then ":PORT" */
	for (size_t i = 0; i < addr_digits / 8; i++)
		if (hex_field(&p, 8, &words[i]) < 0)
			return -EBADMSG;
	if (*p++ != ':' || hex_field(&p, 4, &port) < 0 || (*p != ' ' && *p != '\t'))
		return -EBADMSG;
	p = skip_spaces(p);
	/* remote address */
	for (size_t i = 0; i < addr_digits / 8; i++) {
		uint64_t w;
		if (hex_field(&p, 8, &w) < 0)
			return -EBADMSG;
		rany |= w;
	}
	if (*p++ != ':' || hex_field(&p, 4, &rport) < 0 || (*p != ' ' && *p != '\t'))
		return -EBADMSG;
	p = skip_spaces(p);
	if (hex_field(&p, 2, &st) < 0 || (*p != ' ' && *p != '\t'))
		return -EBADMSG;
	/* tx:rx, tr:when, retrnsmt, uid, timeout, then the inode */
	for (int i = 0; i < 5; i++) {
		p = skip_spaces(p);
		if (*p == '\0' || *p == '\n')
			return -EBADMSG;
		p = skip_token(p);
	}
	p = skip_spaces(p);
	if (*p < '0' || *p > '9')
		return -EBADMSG;
	while (*p >= '0' && *p <= '9') {
		if (inode > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		inode = inode * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\0')
		return -EBADMSG;
	if (udp) {
		/* 07 is TCP_CLOSE, which UDP uses for "not connected"; a connected one is 01 */
		if (st != 0x07 || rany != 0 || rport != 0 || port == 0)
			return 0;
	} else if (st != 0x0A) {
		return 0;
	}
	/* The words are __be32 values printed as native integers: on this little-endian host
	 * 127.0.0.1 reads 0100007F, and ::1 ends with the word 01000000. */
	if (v6)
		loopback =
			words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0x01000000;
	else
		loopback = (words[0] & 0xFF) == 0x7F;
	memset(out, 0, sizeof(*out));
	out->port = (uint16_t)port;
	out->v6 = v6 ? 1 : 0;
	out->udp = udp ? 1 : 0;
	out->loopback = (uint8_t)loopback;
	out->inode = inode;
	return 1;
}

int hostinfo_parse_tcp_line(const char *line, int v6, struct hostinfo_listen *out)
{
	return parse_line(line, v6, 0, out);
}

int hostinfo_parse_udp_line(const char *line, int v6, struct hostinfo_listen *out)
{
	return parse_line(line, v6, 1, out);
}

static int parse_table(const char *text, size_t len, int v6, int udp, struct hostinfo_listen *out,
		       size_t max, size_t *n)
{
	char line[HOSTINFO_LINE_MAX + 1];
	struct hostinfo_listen one;
	size_t off = 0, lines = 0;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
		int r;

		if (l > HOSTINFO_LINE_MAX || ++lines > HOSTINFO_LINES_MAX)
			return -EBADMSG;
		memcpy(line, text + off, l);
		line[l] = '\0';
		off += l + (nl ? 1 : 0);
		if (memchr(line, '\0', l) != NULL)
			return -EBADMSG;
		r = parse_line(line, v6, udp, &one);
		if (r < 0)
			return r;
		if (r == 1) {
			if (*n >= max)
				return -E2BIG;
			out[(*n)++] = one;
		}
	}
	return 0;
}

int hostinfo_parse_tcp(const char *text, size_t len, int v6, struct hostinfo_listen *out,
		       size_t max, size_t *n)
{
	return parse_table(text, len, v6, 0, out, max, n);
}

int hostinfo_parse_udp(const char *text, size_t len, int v6, struct hostinfo_listen *out,
		       size_t max, size_t *n)
{
	return parse_table(text, len, v6, 1, out, max, n);
}

static int read_table(const char *path, int v6, int udp, struct hostinfo_listen *out, size_t max,
		      size_t *n)
{
	char line[HOSTINFO_LINE_MAX + 2];
	struct hostinfo_listen one;
	size_t lines = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t l = strlen(line);
		if ((l == sizeof(line) - 1 && line[l - 1] != '\n') ||
		    ++lines > HOSTINFO_LINES_MAX) {
			r = -EBADMSG;
			break;
		}
		r = parse_line(line, v6, udp, &one);
		if (r < 0)
			break;
		if (r == 1) {
			if (*n >= max) {
				r = -E2BIG;
				break;
			}
			out[(*n)++] = one;
		}
		r = 0;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	fclose(f);
	return r;
}

int hostinfo_listening(const char *proc_root, long pid, struct hostinfo_listen *out, size_t max,
		       size_t *n)
{
	static const struct {
		const char *name;
		int v6, udp;
	} rest[] = { { "tcp6", 1, 0 }, { "udp", 0, 1 }, { "udp6", 1, 1 } };
	char path[PATH_MAX];
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%ld/net/tcp", proc_root, pid);
	r = read_table(path, 0, 0, out, max, n);
	if (r < 0)
		return r;
	/* a kernel without IPv6 has no tcp6 and udp6; one without UDP (or a recorded table in a
	 * test) no udp: the process is known to exist by now */
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
		snprintf(path, sizeof(path), "%s/%ld/net/%s", proc_root, pid, rest[i].name);
		r = read_table(path, rest[i].v6, rest[i].udp, out, max, n);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

int hostinfo_socket_inodes(const char *proc_root, long pid, uint64_t *out, size_t max, size_t *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], target[64];
	struct dirent *de;
	size_t seen = 0;
	DIR *d;
	int r = 0;

	if (pid <= 0)
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%s/%ld/fd", proc_root, pid);
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		ssize_t tl;
		char *end;
		unsigned long long ino;

		if (de->d_name[0] == '.')
			continue;
		if (++seen > HOSTINFO_FDS_MAX)
			break;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		tl = readlink(path, target, sizeof(target) - 1);
		if (tl <= 0)
			continue; /* closed meanwhile */
		target[tl] = '\0';
		if (strncmp(target, "socket:[", 8) != 0)
			continue;
		errno = 0;
		ino = strtoull(target + 8, &end, 10);
		if (errno != 0 || end == target + 8 || strcmp(end, "]") != 0)
			continue;
		if (*n >= max) {
			r = -E2BIG;
			break;
		}
		out[(*n)++] = (uint64_t)ino;
	}
	closedir(d);
	return r;
}

void hostinfo_proc_root(const char *host_root, char *buf, size_t len)
{
	struct statfs sf;
	char p1[PATH_MAX + 16];

	if (host_root != NULL && host_root[0] != '\0' && strcmp(host_root, "/") != 0) {
		snprintf(buf, len, "%s/proc", host_root);
		snprintf(p1, sizeof(p1), "%s/1", buf);
		if (statfs(buf, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC && access(p1, F_OK) == 0)
			return;
	}
	snprintf(buf, len, "/proc");
}

json_t *hostinfo_collect(const char *host_root)
{
	json_t *o = sysinfo_collect(host_root);
	char name[256];

	if (o == NULL)
		return NULL;
	if (gethostname(name, sizeof(name) - 1) == 0) {
		name[sizeof(name) - 1] = '\0';
		json_object_set_new(o, "hostname", json_string(name));
	}
	return o;
}
