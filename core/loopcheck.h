/* SPDX-License-Identifier: MIT */
/*
 * loopcheck: the startup check for a DNS loop. An egress DNS that rewrites
 * allowlisted names to the gateway is what the clients use; if the gateway's
 * own resolver is that DNS too, every allowed name resolves back to the
 * gateway, and each connection would come back in. The upstream policy
 * refuses those connections anyway (POLICY_SELF); this check says why, once,
 * at start. Best effort: on a side thread, for at most two seconds, and any
 * failure just skips it.
 */
#ifndef SNIGATE_CORE_LOOPCHECK_H
#define SNIGATE_CORE_LOOPCHECK_H

#include "conf/conf.h"
#include "resolver/policy.h"

struct loopcheck;

/*
 * Ask c's resolver for every exact allowlisted name and warn about answers
 * that pol calls POLICY_SELF. pol is borrowed: it must outlive
 * loopcheck_stop(). Returns the running check, or NULL when it could not
 * start (nothing to stop then).
 */
struct loopcheck *loopcheck_start(const struct conf *c, const struct upstream_policy *pol);
/* Stop the check if it still runs, wait for its thread and free it. NULL is ignored. */
void loopcheck_stop(struct loopcheck *lc);

#endif
