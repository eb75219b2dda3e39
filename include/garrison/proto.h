/*
 * proto: the Defender channel, shared by the Console (hub.c) and the Defender (uplink.c).
 * A WebSocket (subprotocol PROTO_NAME) over TLS with mutual authentication; every message is one
 * JSON object in one text message with a "type" member. docs/protocol.md is the full description.
 */
#ifndef GARRISON_PROTO_H
#define GARRISON_PROTO_H

#define PROTO_NAME "garrison-defender-v1"
#define PROTO_MAX_MSG (16 * 1024 * 1024) /* a larger message closes the connection */
#define PROTO_MAX_DOCS 50000           /* containers or images in one inventory */
#define PROTO_ENROLL_CN_PREFIX "garrison-enroll:"

/* Defender -> Console */
#define PROTO_ENROLL "enroll"         /* {hostname, csr} on an enrollment connection */
#define PROTO_HELLO "hello"           /* {hostname, version, defenderType, cluster, clusterSource,
                                          cloudMetadata, systemInfo, fqdn} first on an identity connection */
#define PROTO_HEARTBEAT "heartbeat"   /* {seq} */
#define PROTO_INVENTORY "inventory"   /* {host, containers, images}: full snapshot of the node */
#define PROTO_SCAN "scan"             /* {kind, id, record}: a scan record (docs/scanning.md) */
#define PROTO_SCAN_REMOVED "scan-removed" /* {kind, id} */
#define PROTO_CONTAINER "container"   /* {container}: added or changed */
#define PROTO_CONTAINER_REMOVED "container-removed" /* {id} */
#define PROTO_IMAGE "image"           /* {image}: added or changed */
#define PROTO_IMAGE_REMOVED "image-removed" /* {id} */
#define PROTO_DOCKER_STATUS "docker-status" /* {docker: ok|unreachable|error, error, engineVersion} */
/* Runtime defense (docs/protocol.md "Runtime"). */
#define PROTO_RT_AUDITS "runtime-audits"     /* {records:[{seq, kind: container|host, ...audit}]} */
#define PROTO_RT_PROFILES "runtime-profiles" /* {profiles:[ContainerRuntimeProfile...]}: all of them */
#define PROTO_RT_STATUS "runtime-status"     /* {sensor, enforcement, spool, policy, models} */

/* Console -> Defender */
#define PROTO_ENROLLED "enrolled"     /* {cert} the Defender's own certificate */
#define PROTO_WELCOME "welcome"       /* {heartbeatSec, consoleVersion} */
#define PROTO_HEARTBEAT_ACK "heartbeat-ack" /* {seq} */
#define PROTO_RT_AUDITS_ACK "runtime-audits-ack" /* {seq}: every audit <= seq is stored */
#define PROTO_RT_POLICY "runtime-policy"     /* {revision, container: ContainerPolicy, host: HostPolicy} */
#define PROTO_RT_RELEARN "runtime-relearn"   /* {all: true} or {profiles: ["<_id>"...]} */

#define PROTO_RT_AUDITS_BATCH 256 /* most records in one runtime-audits message */
#define PROTO_RT_AUDITS_INFLIGHT 4 /* most unacknowledged runtime-audits messages */

/* Close reasons the Console sends before refusing a peer (WebSocket close code 1008). */
#define PROTO_REFUSED_REVOKED "identity revoked"
#define PROTO_REFUSED_UNKNOWN "unknown identity"
#define PROTO_REFUSED_BUNDLE "install bundle revoked or unknown"

#define PROTO_HOSTNAME_MAX 253

#include <stddef.h>
#include <jansson.h>

/* 1 when s is a hostname a Defender may enroll with: 1..PROTO_HOSTNAME_MAX of [A-Za-z0-9._-],
 * not starting with the enrollment prefix. */
int proto_valid_hostname(const char *s);
/* The string member key of msg when it is at most max bytes, holds no NUL and no control
 * characters (line breaks allowed when multiline, as in PEM); else NULL. Borrowed from msg. */
const char *proto_msg_text(json_t *msg, const char *key, size_t max, int multiline);
/* A new object with only the listed members of src that have the right type: strings of at most
 * 1024 bytes, numbers, and objects (at most 64 members) reduced to proto_nested_strs. */
json_t *proto_pick(json_t *src, const char *const *strs, const char *const *nums,
		   const char *const *objs);
extern const char *const proto_nested_strs[];

#endif
