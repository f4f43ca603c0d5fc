/* SPDX-License-Identifier: MIT */
#include "core/takeover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10 /* a peer that stalls the exchange longer is given up */
#define ADDR_MAX     80

/* why = "<what><arg>: strerror(errno)"; returns -1. */
static int fail(char *why, size_t len, const char *what, const char *arg)
{
	snprintf(why, len, "%s%s: %s", what, arg, strerror(errno));
	return -1;
}

static void timeouts(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Same user only: the sockets are the gateway's whole reach to the network. */
static int same_user(int fd, char *why, size_t len)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		return fail(why, len, "takeover: SO_PEERCRED", "");
	if (cr.uid != geteuid()) {
		snprintf(why, len, "takeover: refused a peer of uid %u (pid %d); only uid %u may",
			 (unsigned)cr.uid, (int)cr.pid, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	return a;
}

int takeover_listen(const char *path, char *why, size_t len)
{
	struct sockaddr_un a = unix_addr(path);
	struct stat st;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return fail(why, len, "takeover socket ", path);
	/* A socket file left by an earlier gateway, or by the one we took over from. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			snprintf(why, len, "takeover socket %s: exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	/* Not umask(): other threads may create files meanwhile. Mode 0600 before listen(). */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 4) < 0) {
		fail(why, len, "takeover socket ", path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One line (up to '\n') from fd into buf within IO_TIMEOUT_S in all, however
 * slowly the peer trickles it: the gateway thread waits on this. Its length,
 * or -1.
 */
static int read_line(int fd, char *buf, size_t cap)
{
	struct timespec t0, t;
	size_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n + 1 < cap) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = IO_TIMEOUT_S * 1000L -
			    ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t k = recv(fd, buf + n, 1, MSG_DONTWAIT);
		if (k <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		n++;
	}
	return -1;
}

int takeover_offer(int lfd, const int *fds, const char *const *addrs, unsigned n, char *why,
		   size_t len)
{
	char line[64], text[TAKEOVER_MAX * (ADDR_MAX + 1) + 32];
	int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (conn < 0)
		return fail(why, len, "takeover: accept", "");
	if (same_user(conn, why, len) < 0)
		goto err;
	timeouts(conn);
	if (read_line(conn, line, sizeof(line)) < 0 || strcmp(line, "TAKE 1")) {
		snprintf(why, len, "takeover: the peer did not ask to take over");
		goto err;
	}
	size_t o = (size_t)snprintf(text, sizeof(text), "SOCKETS %u\n", n);
	for (unsigned i = 0; i < n && o < sizeof(text); i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\n", addrs[i]);
	union {
		char buf[CMSG_SPACE(TAKEOVER_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = text, .iov_len = o};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n) {
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	if (sendmsg(conn, &m, MSG_NOSIGNAL) != (ssize_t)o) {
		fail(why, len, "takeover: sending the sockets", "");
		goto err;
	}
	/* The READY may take as long as the successor's start: it is polled for. */
	fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK);
	return conn;
err:
	close(conn);
	return -1;
}

int takeover_answer(int conn, char *buf, size_t cap, size_t *len, bool *taken, unsigned n)
{
	ssize_t k = recv(conn, buf + *len, cap - 1 - *len, MSG_DONTWAIT);

	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (k <= 0)
		return 0;
	*len += (size_t)k;
	buf[*len] = '\0';
	char *nl = strchr(buf, '\n');
	if (!nl)
		return *len < cap - 1 ? -1 : 0; /* a line longer than any answer: not one */
	*nl = '\0';
	if (strncmp(buf, "READY", 5) || (buf[5] && buf[5] != ' '))
		return 0;
	for (unsigned i = 0; i < n; i++)
		taken[i] = false;
	for (char *p = buf + 5, *end; *p;) {
		unsigned long i = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (i < n)
			taken[i] = true;
		p = end;
	}
	return 1;
}

int takeover_take(const char *path, const char *const *addrs, unsigned n, int *fds, int *src,
		  char *why, size_t len)
{
	struct sockaddr_un a = unix_addr(path);
	char text[TAKEOVER_MAX * (ADDR_MAX + 1) + 32];
	int got[TAKEOVER_MAX], n_got = 0;
	int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	for (unsigned i = 0; i < n; i++)
		fds[i] = src[i] = -1;
	if (conn < 0 || connect(conn, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(
			why, len,
			"--takeover %s: %s (is a gateway with admin.takeover_socket serving there?)",
			path, strerror(errno));
		if (conn >= 0)
			close(conn);
		return -1;
	}
	if (same_user(conn, why, len) < 0)
		goto err;
	timeouts(conn);
	if (send(conn, "TAKE 1\n", 7, MSG_NOSIGNAL) != 7) {
		fail(why, len, "--takeover ", path);
		goto err;
	}
	union {
		char buf[CMSG_SPACE(TAKEOVER_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = text, .iov_len = sizeof(text) - 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	ssize_t k = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
	if (k <= 0) {
		snprintf(why, len, "--takeover %s: the gateway sent no sockets", path);
		goto err;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int j = 0; j < cnt && n_got < TAKEOVER_MAX; j++)
				memcpy(&got[n_got++], CMSG_DATA(c) + j * sizeof(int), sizeof(int));
		}
	size_t have = (size_t)k;
	text[have] = '\0';
	unsigned want = 0;
	if (sscanf(text, "SOCKETS %u", &want) != 1 || want != (unsigned)n_got ||
	    (m.msg_flags & MSG_CTRUNC)) {
		snprintf(why, len, "--takeover %s: a malformed hand-over (%d sockets)", path,
			 n_got);
		goto err;
	}
	/* The rest of the addresses, should the stream have split the text. */
	for (;;) {
		unsigned lines = 0;
		for (size_t i = 0; i < have; i++)
			lines += text[i] == '\n';
		if (lines >= want + 1 || have >= sizeof(text) - 1)
			break;
		k = recv(conn, text + have, sizeof(text) - 1 - have, 0);
		if (k <= 0)
			break;
		have += (size_t)k;
		text[have] = '\0';
	}
	char *line = strchr(text, '\n');
	for (int j = 0; j < n_got; j++) {
		char *next = line ? strchr(line + 1, '\n') : NULL;
		int match = -1;
		if (next) {
			*next = '\0';
			for (unsigned i = 0; i < n && match < 0; i++)
				if (fds[i] < 0 && !strcmp(line + 1, addrs[i]))
					match = (int)i;
		}
		int acc = 0;
		socklen_t al = sizeof(acc);
		if (match >= 0 && getsockopt(got[j], SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 &&
		    acc) {
			fds[match] = got[j];
			src[match] = j;
			got[j] = -1;
		} else {
			/* A listener we do not have: the predecessor drains it as usual. */
			close(got[j]);
			got[j] = -1;
		}
		line = next;
	}
	return conn;
err:
	for (int j = 0; j < n_got; j++)
		if (got[j] >= 0)
			close(got[j]);
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = src[i] = -1;
		}
	close(conn);
	return -1;
}

int takeover_ready(int conn, const int *src, unsigned n)
{
	char buf[TAKEOVER_MAX * 4 + 16];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "READY");

	for (unsigned i = 0; i < n && o < sizeof(buf) - 8; i++)
		if (src[i] >= 0)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %d", src[i]);
	buf[o++] = '\n';
	return send(conn, buf, o, MSG_NOSIGNAL) == (ssize_t)o ? 0 : -1;
}
