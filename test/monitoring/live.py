#!/usr/bin/env python3
"""The monitoring kit against a real snigate and a real Prometheus, on loopback.

  live.py            (meson: SNIGATE_BIN, LOADGEN_BIN set; exit 77 where the
                     prometheus server is not installed: `make promtool`)

1. snigate starts with one loopback listener, an allowlist of one name and
   its admin endpoint on 127.0.0.1:0 (the port is read from its ready line).
2. Every metric the rules and the dashboard use is one snigate's /metrics
   declares (a # TYPE line).
3. Prometheus (.cache/prometheus/usr/bin/prometheus, or on PATH) scrapes it
   every second and evaluates k8s/monitoring/prometheusrule.yaml's groups
   every second. The rules run as shipped, nothing shortened: the deny-rate
   alert is checked for "pending or firing", and it is pending as soon as its
   expression holds, whatever its `for:`.
4. Every rule evaluates with health "ok" and no lastError; no alert is
   active with the gateway idle, for several evaluations; every dashboard
   query is accepted by Prometheus.
5. A `loadgen reset` spray of a denied name: SnigateDenyRateJump turns
   pending or firing, and no other alert does; the rules still evaluate
   cleanly with the deny series present.
Bounded: every wait has a deadline, the whole run an alarm at 100 s, and
every process started here is stopped (and its files removed) on the way out.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
RULES = os.path.join(SRC, "k8s", "monitoring", "prometheusrule.yaml")
DASHBOARD = os.path.join(SRC, "k8s", "monitoring", "dashboard.json")
DENY_ALERT = "SnigateDenyRateJump"


def skip(why):
    print(f"monitoring live: skipped: {why}")
    sys.exit(77)


class Fail(Exception):
    pass


passed = 0


def ok(msg):
    global passed
    passed += 1
    print(f"ok   {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_for(what, fn, deadline_s, every=0.2):
    """Call fn until it returns something true; its value, or Fail after deadline_s."""
    end = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            last = e
        if time.monotonic() > end:
            raise Fail(f"{what}: not within {deadline_s:g} s" + (f" (last error: {last})" if last else ""))
        time.sleep(every)


class Procs:
    """Processes started here: stopped in reverse order, SIGKILL after 10 s."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"note {name} (pid {p.pid}) ignored SIGTERM for 10 s: killed")
                p.kill()
                p.wait()


def extract_rules(out):
    text = subprocess.run([os.path.join(HERE, "extract-rules.sh"), RULES], check=True,
                          capture_output=True, text=True).stdout
    with open(out, "w") as f:
        f.write(text)
    return text


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append(("annotation " + a["name"], a["expr"]))
    return out


def grafana_to_promql(expr):
    # The dashboard's variables as Grafana fills them for "All"; the series
    # scraped here carry neither namespace nor pod, which ".*" matches.
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
            .replace("$namespace", ".*").replace("$pod", ".*"))


def metric_names(exprs):
    names = set()
    for e in exprs:
        names |= set(re.findall(r"\b((?:snigate|process)_[a-z0-9_]+)\b", e))
    return names


def main():
    gw_bin = os.environ.get("SNIGATE_BIN") or os.path.join(SRC, "build", "core", "snigate")
    lg_bin = os.environ.get("LOADGEN_BIN") or os.path.join(SRC, "build", "bench", "loadgen")
    prom_bin = shutil.which("prometheus") or os.path.join(SRC, ".cache", "prometheus", "usr", "bin", "prometheus")
    if not os.access(prom_bin, os.X_OK):
        skip("the prometheus server is not installed (make promtool unpacks it into .cache/prometheus)")
    for b in (gw_bin, lg_bin):
        if not os.access(b, os.X_OK):
            raise Fail(f"{b}: not built")

    tmp = tempfile.mkdtemp(prefix="snigate-mon-live.")
    procs = Procs()
    logs = {}
    try:
        run(tmp, procs, logs, gw_bin, lg_bin, prom_bin)
    except Fail as e:
        print(f"FAIL {e}")
        for name, path in logs.items():
            try:
                with open(path, errors="replace") as f:
                    tail = f.read()[-3000:]
            except OSError:
                continue
            if tail.strip():
                print(f"---- {name} (last lines)\n{tail}")
        print(f"{passed} passed, 1 failed")
        return 1
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, 0 failed")
    return 0


def run(tmp, procs, logs, gw_bin, lg_bin, prom_bin):
    # ---- 1. snigate
    lport, uport, dport = free_port(), free_port(), free_port()
    conf = os.path.join(tmp, "snigate.yaml")
    with open(conf, "w") as f:
        f.write(f"""listeners:
  - address: 127.0.0.1:{lport}
    upstream_port: {uport}
allow: [allowed.test]
resolver:
  forwarders: ["127.0.0.1:{dport}"]   # nobody answers: nothing here is resolved
admin:
  address: 127.0.0.1:0
  control: {{address: "off"}}   # nothing here needs it; its default port is fixed
log:
  access: false
""")
    argv = [gw_bin, "-c", conf, "--threads", "2"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    logs["snigate stderr"] = os.path.join(tmp, "snigate.err")
    gw = procs.start("snigate", argv, stdout=subprocess.DEVNULL, stderr=open(logs["snigate stderr"], "w"))

    def ready_line():
        if gw.poll() is not None:
            raise Fail(f"snigate exited with {gw.returncode} before it was ready")
        with open(logs["snigate stderr"]) as f:
            m = re.search(r"snigate: ready: .* admin (\d+\.\d+\.\d+\.\d+:\d+)", f.read())
        return m and m.group(1)

    admin = wait_for("snigate's ready line", ready_line, 20)
    ok(f"snigate ready, listener 127.0.0.1:{lport}, admin {admin}")

    # ---- 2. the metrics the kit uses exist
    _, text = http_get(f"http://{admin}/metrics")
    declared = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            declared[m.group(1)] = m.group(2)
    rules_text = extract_rules(os.path.join(tmp, "rules.yaml"))
    dash = dashboard_exprs()

    def family(name):
        if name in declared:
            return name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and declared.get(name[: -len(suf)]) == "histogram":
                return name[: -len(suf)]
        return None

    for what, exprs in (("the rules", [rules_text]), ("the dashboard", [e for _, e in dash])):
        used = metric_names(exprs)
        missing = sorted(n for n in used if not family(n))
        if missing:
            raise Fail(f"{what} use metrics snigate's /metrics does not declare: {', '.join(missing)}")
        ok(f"{what}: all {len(used)} metrics used are declared by snigate's /metrics")

    # ---- 3. Prometheus
    pport = free_port()
    pconf = os.path.join(tmp, "prometheus.yml")
    with open(pconf, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [{os.path.join(tmp, "rules.yaml")}]
scrape_configs:
  - job_name: snigate
    static_configs:
      - targets: ["{admin}"]
""")
    logs["prometheus log"] = os.path.join(tmp, "prometheus.log")
    prom = procs.start("prometheus", [
        prom_bin, f"--config.file={pconf}", f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
        f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(logs["prometheus log"], "w"))
    base = f"http://127.0.0.1:{pport}"

    def api(path, **params):
        url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        _, body = http_get(url, timeout=5)
        j = json.loads(body)
        if j.get("status") != "success":
            raise Fail(f"{path}: {j}")
        return j["data"]

    def prom_ready():
        if prom.poll() is not None:
            raise Fail(f"prometheus exited with {prom.returncode}")
        return http_get(base + "/-/ready")[0] == 200

    wait_for("prometheus /-/ready", prom_ready, 30)
    ok(f"prometheus ready on 127.0.0.1:{pport}, scraping {admin} every 1 s")

    def scraped():
        r = api("/api/v1/query", query='up{job="snigate"}')["result"]
        return r and r[0]["value"][1] == "1"

    wait_for("a successful scrape of snigate", scraped, 20)

    def rules():
        return [r for g in api("/api/v1/rules")["groups"] for r in g["rules"]]

    def all_evaluated_ok():
        rs = rules()
        for r in rs:
            if r.get("health") == "err" or r.get("lastError"):
                raise Fail(f"rule {r.get('name')}: health {r.get('health')}: {r.get('lastError')}")
        return rs if rs and all(r.get("health") == "ok" for r in rs) else None

    # ---- 4. rules healthy, nothing active while idle, dashboard queries accepted
    rs = wait_for("every rule evaluated", all_evaluated_ok, 20)
    n_alerts = len(re.findall(r"^\s*- alert: ", rules_text, re.M))
    if len(rs) != n_alerts:
        raise Fail(f"prometheus loaded {len(rs)} rules, the manifest has {n_alerts} alerts")
    ok(f"all {len(rs)} rules loaded and evaluated: health ok, no lastError")

    def active():
        return {a["labels"]["alertname"]: a for a in api("/api/v1/alerts")["alerts"]
                if a["state"] in ("pending", "firing")}

    # SnigateNoReadyReplica is pending from absent() until the first scrape is
    # evaluated; wait for the idle gateway to show no alert at all.
    wait_for("no alert active with the gateway idle", lambda: not active() or None, 15, every=0.5)
    quiet_end = time.monotonic() + 4
    while time.monotonic() < quiet_end:
        a = active()
        if a:
            raise Fail(f"alerts active with the gateway idle: {sorted(a)}")
        time.sleep(0.5)
    ok("no alert pending or firing with the gateway idle (4 s of 1 s evaluations)")

    for title, expr in dash:
        try:
            api("/api/v1/query", query=grafana_to_promql(expr))
        except urllib.error.HTTPError as e:
            raise Fail(f"dashboard panel {title!r}: prometheus refuses {expr!r}: {e.read().decode()[:300]}")
    ok(f"all {len(dash)} dashboard queries accepted by prometheus")

    # ---- 5. the spray
    logs["loadgen output"] = os.path.join(tmp, "loadgen.out")
    t0 = time.monotonic()
    lg = procs.start("loadgen", [lg_bin, "reset", "-t", f"127.0.0.1:{lport}", "--sni", "denied.test",
                                 "-d", "30", "--rate", "300", "-q"],
                     stdout=open(logs["loadgen output"], "w"), stderr=subprocess.STDOUT)

    def deny_alert():
        if lg.poll() is not None:
            raise Fail(f"loadgen reset exited with {lg.returncode} before the alert")
        a = active()
        others = sorted(set(a) - {DENY_ALERT})
        if others:
            raise Fail(f"alerts active under a deny spray besides {DENY_ALERT}: {others}")
        return a.get(DENY_ALERT)

    alert = wait_for(f"{DENY_ALERT} pending or firing under the spray", deny_alert, 30, every=0.5)
    lg.send_signal(signal.SIGTERM)
    lg.wait(timeout=10)
    value = float(alert["value"])
    if alert["labels"].get("severity") != "warning" or not value > 1:
        raise Fail(f"{DENY_ALERT}: labels {alert['labels']}, value {value}")
    ok(f"{DENY_ALERT} {alert['state']} {time.monotonic() - t0:.1f} s into a 300/s spray of a denied "
       f"name ({value:.2f} denials/s over 5m, severity warning), no other alert active")

    deny = api("/api/v1/query", query='sum(snigate_connections_total{job="snigate",decision="deny"})')["result"]
    if not deny or float(deny[0]["value"][1]) < 1:
        raise Fail(f"snigate_connections_total{{decision=\"deny\"}} after the spray: {deny}")
    rs = all_evaluated_ok()
    if not rs:
        raise Fail("a rule is no longer healthy after the spray")
    ok(f"after the spray ({float(deny[0]['value'][1]):.0f} denials counted) all {len(rs)} rules still evaluate cleanly")


if __name__ == "__main__":
    def alarm(*_):
        raise Fail("the whole run passed its 100 s bound")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(100)
    try:
        sys.exit(main())
    except Fail as e:
        print(f"FAIL {e}")
        sys.exit(1)
