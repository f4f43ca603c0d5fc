/* SPDX-License-Identifier: MIT */
/*
 * pf_exec: run a program on a host made less friendly, the way a container
 * runtime or an operator would, for the preflight tests.
 *
 *   pf_exec [--seccomp-uring ENOSYS|EPERM] [--nofile N] [--uid UID] -- PROG ARG...
 *
 * --seccomp-uring installs a seccomp filter that fails io_uring_setup,
 * io_uring_enter and io_uring_register with that errno, as the default
 * profiles of containerd 2.0 (ENOSYS) and Docker (EPERM) do; every other call
 * is allowed. --nofile sets RLIMIT_NOFILE, soft and hard. --uid drops to that
 * uid (and its gid, no supplementary groups), so a kernel.io_uring_disabled=1
 * applies to the program while root processes elsewhere keep io_uring.
 * Exits 125 when it cannot set something up, 127 when exec fails.
 */
#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define PF_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PF_ARCH AUDIT_ARCH_AARCH64
#else
#error "pf_exec: add this architecture's AUDIT_ARCH_ value"
#endif

static int fail(const char *what)
{
	fprintf(stderr, "pf_exec: %s: %s\n", what, strerror(errno));
	return 125;
}

static int seccomp_uring(int err)
{
	struct sock_filter f[] = {
		/* Another ABI than the one compiled for (x32, i386): allow, not ours to judge. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PF_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	/* Without it an unprivileged process may not install a filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return fail("PR_SET_SECCOMP");
	return 0;
}

int main(int argc, char **argv)
{
	int i, err = 0, rc;
	long nofile = -1, uid = -1;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--seccomp-uring") && i + 1 < argc) {
			const char *e = argv[++i];
			err = !strcmp(e, "ENOSYS") ? ENOSYS : !strcmp(e, "EPERM") ? EPERM : 0;
			if (!err) {
				fprintf(stderr, "pf_exec: --seccomp-uring ENOSYS or EPERM\n");
				return 125;
			}
		} else if (!strcmp(argv[i], "--nofile") && i + 1 < argc) {
			nofile = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--uid") && i + 1 < argc) {
			uid = atol(argv[++i]);
		} else {
			fprintf(stderr, "usage: pf_exec [--seccomp-uring ENOSYS|EPERM] "
					"[--nofile N] [--uid UID] -- PROG ARG...\n");
			return 125;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "pf_exec: no program after --\n");
		return 125;
	}
	if (nofile > 0) {
		struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return fail("setrlimit(RLIMIT_NOFILE)");
	}
	if (uid >= 0) {
		/* Groups first: once the uid is dropped they cannot be changed. */
		if (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
		    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
			return fail("dropping to --uid");
	}
	/* Last: the filter would also apply to what sets up the rest. */
	if (err && (rc = seccomp_uring(err)) != 0)
		return rc;
	execv(argv[i + 1], argv + i + 1);
	fprintf(stderr, "pf_exec: exec %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}
