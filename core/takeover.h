/* SPDX-License-Identifier: MIT */
/*
 * takeover: hand the listening sockets to a successor process over a Unix
 * socket (SCM_RIGHTS), as HAProxy's -x does, so that a restart that changes
 * what a reload cannot (threads, listeners, the resolver, the binary)
 * refuses no connection: the successor accepts from the very sockets the
 * kernel queues connections in, and the predecessor drains.
 *
 * The exchange, on a stream socket (admin.takeover_socket):
 *   successor   -> "TAKE 1\n"
 *   predecessor -> "SOCKETS n\n" and one line "ADDR\n" per socket, the n
 *                  sockets in SCM_RIGHTS on the same message
 *   successor   -> "READY i j ...\n" once it serves: the indexes it took
 *   predecessor:   drains; a socket it handed over is neither filtered nor
 *                  closed under its queue (core/worker.c)
 * Each side checks the other's credentials (SO_PEERCRED): same user only.
 * A successor that goes away before READY changes nothing.
 *
 * Errors are returned with a one-line why; nothing here logs.
 */
#ifndef SNIGATE_CORE_TAKEOVER_H
#define SNIGATE_CORE_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>

#define TAKEOVER_MAX 64 /* sockets in one hand-over: one per listener */

/* The predecessor's listening Unix socket at path (stale file replaced, mode 0600), or -1. */
int takeover_listen(const char *path, char *why, size_t len);

/*
 * Accept one successor on lfd and send it fds[0..n) with their addresses
 * (addrs[i], "127.0.0.1:8443"). Returns the connection, on which its READY
 * comes, or -1 with why (a peer of another user, an I/O error).
 */
int takeover_offer(int lfd, const int *fds, const char *const *addrs, unsigned n, char *why,
		   size_t len);

/*
 * Read what the successor sent on conn into buf (cap bytes, *len so far,
 * kept by the caller between calls): 1 with taken[i] set for each socket
 * it took, 0 when it went away or said something other than READY, -1
 * while the line is not all there yet (EAGAIN). The caller bounds how long
 * it waits.
 */
int takeover_answer(int conn, char *buf, size_t cap, size_t *len, bool *taken, unsigned n);

/*
 * The successor's side: connect to path, check the predecessor's user, and
 * receive its sockets: fds[i] for the listener whose address is addrs[i]
 * (n of them), -1 where none came, and src[i] its index in the
 * predecessor's list. Returns the connection for takeover_ready(), or -1
 * with why.
 */
int takeover_take(const char *path, const char *const *addrs, unsigned n, int *fds, int *src,
		  char *why, size_t len);

/* Tell the predecessor which of its sockets were taken (src[i] >= 0) and that we serve. */
int takeover_ready(int conn, const int *src, unsigned n);

#endif
