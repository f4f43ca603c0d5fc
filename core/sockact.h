/* SPDX-License-Identifier: MIT */
/*
 * sockact: listening sockets handed over by systemd socket activation
 * (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, the sockets
 * from fd 3 on). A socket unit binds the port, so the service needs no
 * capability for 443, and keeps the socket, with its queue, while the
 * service restarts: a connection that arrives meanwhile waits instead of
 * being refused.
 *
 * Each socket is matched to one listener: by name, when its
 * FileDescriptorName= is a listeners[].name, else by its bound address.
 * Either way the socket must be bound to the listener's address and port,
 * which the access log and the upstream loop check take for it. A listener
 * with no socket opens its own as usual.
 */
#ifndef SNIGATE_CORE_SOCKACT_H
#define SNIGATE_CORE_SOCKACT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

#define SOCKACT_FIRST_FD 3

/*
 * Take the passed sockets: fds[i] (c->n_listeners entries) is listener i's,
 * or -1. Returns how many were taken (0 when the process was passed none,
 * or they were meant for another process), or -1 with why filled: a socket
 * that is not a listening TCP socket, one that no listener matches, two for
 * one listener. Clears the three variables, so children do not take them.
 */
int sockact_take(const struct conf *c, int *fds, char *why, size_t len);

/* Whether fd is a socket bound to sa's address and port (what a takeover's sockets must be). */
bool sockact_bound_to(int fd, const struct sockaddr_storage *sa);

#endif
