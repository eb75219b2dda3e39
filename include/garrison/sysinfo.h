/*
 * sysinfo: what a Defender reports about its node (Prisma's defender.SystemInfo plus the OS).
 */
#ifndef GARRISON_SYSINFO_H
#define GARRISON_SYSINFO_H

#include <jansson.h>

/* {cpuCount, memoryGB, kernelVersion, totalDiskSpaceGB, freeDiskSpaceGB, osDistro, osVersion}.
 * host_root is where the host's / is visible ("/" when NULL); values that cannot be read are left
 * out. Returns a new reference (never NULL unless out of memory). */
json_t *sysinfo_collect(const char *host_root);

#endif
