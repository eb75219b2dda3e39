/*
 * sysinfo: node facts from the kernel (uname, sysinfo, statvfs) and the host's /etc/os-release.
 * os-release is untrusted text: lines are bounded and values unquoted without interpretation.
 */
#include <garrison/sysinfo.h>

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

static void os_release(const char *host_root, json_t *out)
{
	char path[512], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/os-release", host_root);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(path, sizeof(path), "%s/usr/lib/os-release", host_root);
		f = fopen(path, "r");
	}
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *key = NULL;
		char *v, *end;

		if (strncmp(line, "ID=", 3) == 0)
			key = "osDistro";
		else if (strncmp(line, "VERSION_ID=", 11) == 0)
			key = "osVersion";
		if (key == NULL)
			continue;
		v = strchr(line, '=') + 1;
		end = v + strcspn(v, "\r\n");
		*end = '\0';
		if (*v == '"' || *v == '\'') {
			char q = *v++;
			end = strchr(v, q);
			if (end)
				*end = '\0';
		}
		json_object_set_new(out, key, json_string(v));
	}
	fclose(f);
}

json_t *sysinfo_collect(const char *host_root)
{
	json_t *o = json_object();
	struct utsname u;
	struct sysinfo si;
	struct statvfs vfs;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (o == NULL)
		return NULL;
	if (host_root == NULL)
		host_root = "/";
	if (ncpu > 0)
		json_object_set_new(o, "cpuCount", json_integer(ncpu));
	if (sysinfo(&si) == 0)
		json_object_set_new(o, "memoryGB",
				    json_real((double)si.totalram * si.mem_unit / (1024.0 * 1024 * 1024)));
	if (uname(&u) == 0)
		json_object_set_new(o, "kernelVersion", json_string(u.release));
	if (statvfs(host_root, &vfs) == 0 || statvfs("/", &vfs) == 0) {
		double gb = 1024.0 * 1024 * 1024;
		json_object_set_new(o, "totalDiskSpaceGB",
				    json_integer((json_int_t)((double)vfs.f_blocks * vfs.f_frsize / gb)));
		json_object_set_new(o, "freeDiskSpaceGB",
				    json_integer((json_int_t)((double)vfs.f_bavail * vfs.f_frsize / gb)));
	}
	os_release(host_root, o);
	return o;
}
