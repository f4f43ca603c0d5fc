#!/usr/bin/env python3
"""Write snigate's seccomp profile: the container runtimes' default profile plus
the three io_uring system calls snigate is built on.

containerd 2.0 (RuntimeDefault in Kubernetes), Docker 25 and podman/buildah
removed io_uring_setup/enter/register from their default profiles, so under
RuntimeDefault snigate stops at start with "io_uring setup failed: Function not
implemented". This profile keeps everything else of the default.

Input: a moby-format default profile (Debian's containers-common ships one at
/usr/share/containers/seccomp.json). Its capability- and architecture-dependent
rules are resolved for snigate's container: capabilities dropped except
NET_BIND_SERVICE, x86-64 or arm64. Output: the plain runtime-spec form
(defaultAction, architectures, syscalls with names/action/args/errnoRet) that
containerd, CRI-O, runc, crun and buildah all load.

    k8s/seccomp/generate.py [/usr/share/containers/seccomp.json] > k8s/seccomp/snigate.json
"""
import json
import sys

CAPS = {"CAP_NET_BIND_SERVICE"}
ARCHES = {"amd64", "x32", "x86", "arm64", "arm"}
IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]


def applies(rule):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= CAPS:
        return False
    if exc.get("caps") and set(exc["caps"]) & CAPS:
        return False
    if inc.get("arches") and not set(inc["arches"]) & ARCHES:
        return False
    if exc.get("arches") and set(exc["arches"]) & ARCHES:
        return False
    return not inc.get("minKernel") and not exc.get("minKernel")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(src) as f:
        default = json.load(f)
    allow, rules = set(IO_URING), []
    for rule in default["syscalls"]:
        if not applies(rule):
            continue
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args") and "errnoRet" not in rule:
            allow.update(rule["names"])
            continue
        out = {"names": sorted(rule["names"]), "action": rule["action"]}
        if rule.get("args"):
            out["args"] = rule["args"]
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        rules.append(out)
    profile = {
        "defaultAction": default.get("defaultAction", "SCMP_ACT_ERRNO"),
        "defaultErrnoRet": default.get("defaultErrnoRet", 1),
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": sorted(allow), "action": "SCMP_ACT_ALLOW"}] + rules,
    }
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
