/*
 * hub: the Console end of the Defender channel (libwebsockets, its own thread). It authenticates
 * every peer by its client certificate, enrolls new Defenders (signs their CSR), keeps one live
 * connection per Defender, marks a Defender disconnected when its connection closes or its
 * heartbeats stop for dead_after_sec, and refuses revoked identities.
 */
#ifndef GARRISON_CONSOLE_HUB_H
#define GARRISON_CONSOLE_HUB_H

#include <jansson.h>

#include "console.h"

/* Starts listening on c->defender_addr in a new thread. 0 or negative errno. */
int hub_start(struct console *c);
/* Stops the thread and closes every connection. */
void hub_stop(struct console *c);
/* Asks the hub to drop the connection of this Defender (thread-safe, returns at once). */
void hub_kick(struct console *c, const char *hostname);
/* Sends msg (not taken over; serialised now) to every Defender with a live session, or to the
 * one named hostname (nothing when it is not connected). Thread-safe, returns at once; messages
 * from one thread are sent in the order queued. 0, -EINVAL (no hub, NULL argument), -ENOMEM. */
int hub_broadcast(struct console *c, json_t *msg);
int hub_send_to(struct console *c, const char *hostname, json_t *msg);
/* Number of Defenders with a live, authenticated connection (thread-safe). */
long hub_connected(struct console *c);

#endif
