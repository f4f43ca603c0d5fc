#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# results_json.py: bench/run.sh's raw files -> results.json, one record per
# run, each with the machine it ran on, the versions of what ran, and the
# workload's parameters, so that runs can be compared without this repository's
# scripts.
#
# usage: results_json.py OUT.json RAW...
#
# A raw file is "# key: value" header lines, then one line per run of
# space-separated key=value pairs (cfg, target, rep, wl, exit, wall, then
# loadgen's result line). Numbers stay numbers; "nopid=1" (a target with no
# process to read) drops the CPU and memory figures rather than report zeros.
import json
import re
import sys

CPU_MEM = ("cpu", "cpu_us", "cpu_s_gib", "rss_b", "pss_b")
MACHINE = ("label", "cpus", "cpu-model", "memory", "kernel", "os")


def number(v):
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def read_raw(path):
    head, versions, workloads, runs = {}, {}, {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("#"):
                m = re.match(r"# version (\S+): (.*)", line)
                if m:
                    versions[m.group(1)] = m.group(2)
                    continue
                m = re.match(r"# workload (\S+) (\S+): (.*)", line)
                if m:
                    workloads[(m.group(1), m.group(2))] = m.group(3)
                    continue
                m = re.match(r"# (started|finished) (.*?); uptime: *(.*)", line)
                if m:
                    head[m.group(1)] = m.group(2)
                    head[m.group(1) + "_load"] = m.group(3).split("load average:")[-1].strip()
                    continue
                m = re.match(r"# ([a-z-]+): (.*)", line)
                if m:
                    head[m.group(1)] = m.group(2)
                    continue
                for k, v in re.findall(r"(\w+)=(\S+)", line):
                    head.setdefault(k, v)
                continue
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            runs.append(kv)
    return head, versions, workloads, runs


def records(path):
    head, versions, workloads, runs = read_raw(path)
    machine = {k.replace("-", "_"): number(head[k]) if k == "cpus" else head[k]
               for k in MACHINE if k in head}
    run_info = {
        "raw_file": path,
        "started": head.get("started"),
        "finished": head.get("finished"),
        "load_at_start": head.get("started_load"),
        "quick": head.get("quick") == "1",
        "reps": number(head.get("reps", "0")),
    }
    out = []
    for kv in runs:
        target = kv.pop("target", "?")
        cfg = kv.pop("cfg", "?")
        wl = kv.pop("wl", "?")
        nopid = kv.pop("nopid", None) == "1"
        rec = {
            "machine": machine,
            "run": run_info,
            "target": target,
            "version": versions.get(target),
            "config": cfg,
            # An external target runs with the threads it was started with.
            "threads": None if (versions.get(target) or "").startswith("external")
            else 1 if cfg == "1t" else machine.get("cpus"),
            "workload": wl,
            "loadgen_args": workloads.get((cfg, wl)),
            "rep": number(kv.pop("rep", "0")),
            "exit": number(kv.pop("exit", "0")),
            "wall_s": number(kv.pop("wall", "0")),
            "mode": kv.pop("mode", None),
            "cpu_measured": not nopid and target != "direct",
        }
        if nopid:
            for k in CPU_MEM:
                kv.pop(k, None)
        rec["metrics"] = {k: number(v) for k, v in kv.items()}
        out.append(rec)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: results_json.py OUT.json RAW...")
    recs = []
    for raw in sys.argv[2:]:
        recs.extend(records(raw))
    doc = {
        "format": "snigate-bench/1",
        "about": "one record per run of bench/run.sh; metrics are loadgen's result "
                 "fields (loadgen --help), CPU and memory those of the target's processes",
        "records": recs,
    }
    # One record a line: a new run's file diffs line by line against the last.
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("{\n")
        for k in ("format", "about"):
            f.write(f" {json.dumps(k)}: {json.dumps(doc[k])},\n")
        f.write(' "records": [\n')
        f.write(",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in recs))
        f.write("\n ]\n}\n")


if __name__ == "__main__":
    main()
