/* SPDX-License-Identifier: MIT */
#include "core/sockact.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "IP:port" of a bound socket, for messages. */
static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	} else {
		snprintf(buf, len, "a socket of family %u", ss->ss_family);
	}
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

bool sockact_bound_to(int fd, const struct sockaddr_storage *sa)
{
	struct sockaddr_storage ss;
	socklen_t al = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	return getsockname(fd, (struct sockaddr *)&ss, &al) == 0 && same_addr(&ss, sa);
}

/* The k-th name of LISTEN_FDNAMES ("a:b:c") into buf; "" when there is none. */
static void nth_name(const char *names, unsigned k, char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned i = 0; names && i < k; i++) {
		names = strchr(names, ':');
		if (names)
			names++;
	}
	if (names)
		snprintf(buf, len, "%.*s", (int)strcspn(names, ":"), names);
}

int sockact_take(const struct conf *c, int *fds, char *why, size_t len)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	char names[4096] = "";
	int taken = 0;

	for (unsigned i = 0; i < c->n_listeners; i++)
		fds[i] = -1;
	if (getenv("LISTEN_FDNAMES"))
		snprintf(names, sizeof(names), "%s", getenv("LISTEN_FDNAMES"));
	/* Meant for this process only; a child must not take them again. */
	bool ours = pid && nfds && strtol(pid, NULL, 10) == (long)getpid();
	long n = ours ? strtol(nfds, NULL, 10) : 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0)
		return 0;
	if (n > 1024) {
		snprintf(why, len, "LISTEN_FDS=%ld: more sockets than snigate takes", n);
		return -1;
	}
	for (int k = 0; k < n; k++) {
		int fd = SOCKACT_FIRST_FD + k, acc = 0, type = 0;
		socklen_t sl = sizeof(acc), tl = sizeof(type);
		struct sockaddr_storage ss;
		socklen_t al = sizeof(ss);
		char name[256], shown[80];

		nth_name(names, (unsigned)k, name, sizeof(name));
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		memset(&ss, 0, sizeof(ss));
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) < 0 || !acc ||
		    getsockname(fd, (struct sockaddr *)&ss, &al) < 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
			snprintf(why, len,
				 "socket activation: fd %d%s%s is not a listening TCP socket "
				 "(ListenStream= in the socket unit)",
				 fd, name[0] ? " named " : "", name);
			return -1;
		}
		addr_str(&ss, shown, sizeof(shown));
		int match = -1;
		for (unsigned i = 0; i < c->n_listeners && match < 0; i++)
			if (name[0] && c->listeners[i].name && !strcmp(name, c->listeners[i].name))
				match = (int)i;
		for (unsigned i = 0; i < c->n_listeners && match < 0; i++)
			if (same_addr(&ss, &c->listeners[i].sa))
				match = (int)i;
		if (match < 0) {
			snprintf(
				why, len,
				"socket activation: the socket on %s%s%s matches no listener: give "
				"the listener that address, or name it as the socket "
				"(FileDescriptorName=, listeners[].name)",
				shown, name[0] ? " named " : "", name);
			return -1;
		}
		/* The config's address is what the logs and the loop check take for this listener.
		 */
		if (!same_addr(&ss, &c->listeners[match].sa)) {
			char want[80];
			addr_str(&c->listeners[match].sa, want, sizeof(want));
			snprintf(why, len,
				 "socket activation: the socket named %s is on %s, but listener %s "
				 "is on %s: make them agree",
				 name, shown, name, want);
			return -1;
		}
		if (fds[match] >= 0) {
			snprintf(why, len, "socket activation: two sockets for listeners[%d] (%s)",
				 match, shown);
			return -1;
		}
		fds[match] = fd;
		taken++;
	}
	return taken;
}
