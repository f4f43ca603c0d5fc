#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every command in README.md and docs/*.md runs, or at least parses.

    commands.py SRC_ROOT BUILD_ROOT SNIGATE      check the documentation
    commands.py --self-test SRC_ROOT BUILD_ROOT SNIGATE
                                                 prove that each check bites

Shell commands are taken from fenced ```sh blocks. A block right after the line
`<!-- docs-test: run -->` is run, offline, with bash -e in SRC_ROOT and `snigate`
(or ./build/core/snigate) meaning SNIGATE; it must exit 0 within 60 s, and
snigate must not warn about an old spelling in a file it reads. Mark
only blocks that are safe: read-only, no network, nothing left running.

Every block, run or not, and every inline `snigate ...` or `make ...` span in
the prose, is parsed and checked:
  - each program exists: a known tool, a shell builtin, or a file in the
    repository (build/... names a file of BUILD_ROOT);
  - each --flag (and -c, -l, -h) given to snigate appears in `snigate --help`;
  - each `make TARGET` is a target of the Makefile;
  - each word that names a repository path (conf/..., k8s/..., docs/...) exists,
    and so does each path written alone in inline code (`core/conn.c`), in the
    repository or, for a program, in BUILD_ROOT.
Relative links [text](path#anchor) in README.md, docs/*.md, SECURITY.md,
bench/PERF.md, bench/RESULTS.md and test/RELIABILITY.md must lead to a file
that exists and, for a Markdown file, to a heading that exists.

Exit 0 when everything holds, 1 with one line per problem otherwise.
"""
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile

# The folder beside a checkout that users never get; spelt in two parts so
# that a grep for it finds real pointers, not this checker.
OUTSIDE = "../" + "shared"

RUN_MARK = re.compile(r"^\s*<!--\s*docs-test:\s*run\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")

# Programs a documented command may start with besides snigate and repository files:
# shell builtins and the tools the docs point the reader at.
KNOWN = set("""
    export cd echo printf cat test [ true false sleep kill wait exec env time nice
    set unset source . read for do done if then fi while
    make meson ninja gcc clang cc pkg-config clang-format git apt-get apt dpkg
    curl openssl unbound python3 node npm sha256sum grep sed awk head tail sort
    wc ls cp mv rm mkdir ln chmod chown tar du df ps ss ip nc strace perf
    taskset valgrind gdb systemctl setcap getcap journalctl sysctl ulimit
    kubectl kustomize helm buildah docker podman promtool jq watch xargs tee
    readlink id uname nproc pidof install systemd-analyze systemd-socket-activate
    haproxy nginx sniproxy envoy
""".split())
# Programs that may prefix another command.
PREFIXES = {"sudo", "env", "time", "nice", "exec", "timeout", "watch", "xargs"}
REPO_TOP = ("bench/", "conf/", "core/", "docs/", "k8s/", "resolver/", "sni/", "test/", ".github/")
REPO_FILES = {"Dockerfile", "Makefile", "meson.build", "meson_options.txt", "README.md",
              "SECURITY.md", "LICENSE", "CHANGELOG.md"}
DOC_GLOBS = ["README.md", "docs/*.md"]
LINK_GLOBS = DOC_GLOBS + ["SECURITY.md", "bench/PERF.md", "bench/RESULTS.md", "test/RELIABILITY.md"]


class Checker:
    def __init__(self, src, build, snigate):
        self.src = os.path.abspath(src)
        self.build = os.path.abspath(build)
        self.snigate = os.path.abspath(snigate)
        self.problems = []
        self.ran = 0
        self.parsed = 0
        self.help = subprocess.run([self.snigate, "--help"], capture_output=True, text=True,
                                   timeout=30).stdout
        self.flags = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", self.help))
        # The load generator, installed as snigate-loadgen: its modes and flags too.
        lg = os.path.join(self.build, "bench", "loadgen")
        lg_help = subprocess.run([lg, "--help"], capture_output=True, text=True,
                                 timeout=30).stdout if os.access(lg, os.X_OK) else ""
        self.lg_flags = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", lg_help))
        self.lg_modes = set(re.findall(r"^  ([a-z]+)  ", lg_help, re.M))
        self.targets = self._make_targets()
        self.anchors = {}

    def bad(self, where, what):
        self.problems.append(f"{where}: {what}")

    def _make_targets(self):
        targets = set()
        with open(os.path.join(self.src, "Makefile")) as f:
            for line in f:
                m = re.match(r"^([A-Za-z0-9_.$()/ -]+?)\s*:(?![=:])", line)
                if m and not line.startswith("\t"):
                    for t in m.group(1).split():
                        if not t.startswith("$") and not t.startswith("."):
                            targets.add(t)
                m = re.match(r"^\.PHONY\s*:(.*)", line)
                if m:
                    targets.update(m.group(1).split())
        return targets

    # ---- Markdown
    def blocks(self, path):
        """(line, language, run?, text) for each fenced block; and prose lines."""
        out, prose = [], []
        with open(path) as f:
            lines = f.read().split("\n")
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m:
                prose.append((i + 1, lines[i]))
                i += 1
                continue
            indent, fence, lang = m.group(1), m.group(2), m.group(3)
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            run = j >= 0 and RUN_MARK.match(lines[j]) is not None
            body = []
            k = i + 1
            while k < len(lines) and not re.match(r"^\s*" + re.escape(fence[0]) + "{%d,}\\s*$" % len(fence), lines[k]):
                body.append(lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip())
                k += 1
            out.append((i + 1, lang, run, "\n".join(body)))
            i = k + 1
        return out, prose

    # ---- shell
    def logical_lines(self, text):
        """Joined continuation lines, without heredoc bodies."""
        res, cur, heredoc = [], "", None
        for line in text.split("\n"):
            if heredoc is not None:
                if line.strip() == heredoc:
                    heredoc = None
                continue
            cur += line
            if cur.endswith("\\"):
                cur = cur[:-1] + " "
                continue
            m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", cur)
            if m:
                heredoc = m.group(1)
            if cur.strip():
                res.append(cur)
            cur = ""
        if cur.strip():
            res.append(cur)
        return res

    def simple_commands(self, line):
        """Split a logical line into simple commands (lists of words)."""
        subs = []

        def take(m):
            subs.append(m.group(1))
            return "SUBST"
        # $(...) without nesting; its content is a command of its own.
        prev = None
        while prev != line:
            prev = line
            line = re.sub(r"\$\(([^()]*)\)", take, line)
        cmds = []
        for s in subs:
            cmds.extend(self.simple_commands(s))
        try:
            lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
            lex.whitespace_split = True
            lex.commenters = "#"
            words = list(lex)
        except ValueError as e:
            return cmds + [["__unparsable__", str(e), line]]
        cur, skip_next = [], False
        for w in words:
            if skip_next:
                skip_next = False
                continue
            if w and set(w) <= set(";&|()"):
                if cur:
                    cmds.append(cur)
                cur = []
            elif w and set(w) <= set("<>&"):
                skip_next = True  # a redirection's target: written, not read
            else:
                cur.append(w)
        if cur:
            cmds.append(cur)
        # "2>" leaves a lone digit before the redirection; drop it
        return [[w for k, w in enumerate(c) if not (re.fullmatch(r"\d", w) and k == len(c) - 1)] for c in cmds]

    def repo_path(self, word):
        """The path a word names in the repository, or None."""
        w = word[2:] if word.startswith("./") else word
        w = w.rstrip(",.;:")
        if w in REPO_FILES or w.startswith(REPO_TOP) or w.startswith("build/"):
            if re.search(r"[A-Z]{3,}|<|\{|\$", w) and not os.path.exists(os.path.join(self.src, w)):
                return None  # a placeholder such as conf/FILE or k8s/overlays/<name>
            return w
        return None

    def path_exists(self, w):
        if w.startswith("build/"):
            return os.path.exists(os.path.join(self.build, w[len("build/"):]))
        full = os.path.join(self.src, w)
        return bool(glob.glob(full)) if any(c in w for c in "*?[") else os.path.exists(full)

    def check_words(self, where, words):
        self.parsed += 1
        if words and words[0] == "__unparsable__":
            self.bad(where, f"does not parse as shell ({words[1]}): {words[2]}")
            return
        i = 0
        while i < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]):
            i += 1
        while i < len(words) and words[i] in PREFIXES:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
            while i < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]):
                i += 1
        if i >= len(words):
            return
        prog, args = words[i], words[i + 1:]
        base = os.path.basename(prog)
        if prog == "snigate" or base == "snigate":
            if "/" in prog and not self.path_exists(self.repo_path(prog) or prog):
                self.bad(where, f"no such program: {prog}")
            for a in args:
                if a.startswith("-") and a != "-":
                    flag = a.split("=", 1)[0]
                    if flag not in self.flags:
                        self.bad(where, f"snigate {flag}: not in `snigate --help`")
        elif base in ("snigate-loadgen", "loadgen"):
            if "/" in prog and not self.path_exists(self.repo_path(prog) or prog):
                self.bad(where, f"no such program: {prog}")
            if args and not args[0].startswith("-") and args[0] not in self.lg_modes:
                self.bad(where, f"{base} {args[0]}: no such mode in `loadgen --help`")
            for a in args:
                if a.startswith("-") and a != "-" and a.split("=", 1)[0] not in self.lg_flags:
                    self.bad(where, f"{base} {a}: not in `loadgen --help`")
        elif prog == "make":
            for a in args:
                if a.startswith("-") or "=" in a:
                    continue
                if a not in self.targets:
                    self.bad(where, f"make {a}: no such target in the Makefile")
        elif "/" in prog:
            p = self.repo_path(prog)
            if p is None or not self.path_exists(p):
                self.bad(where, f"no such program in the repository: {prog}")
            elif p in ("bench/run.sh", "bench/report.sh"):
                # The options a script's own argument loop takes: `--x)` cases.
                with open(os.path.join(self.src, p), encoding="utf-8") as f:
                    takes = set(re.findall(r"^\s*(--[a-z][a-z-]*)\)", f.read(), re.M))
                for a in args:
                    if a.startswith("--") and a.split("=", 1)[0] not in takes:
                        self.bad(where, f"{p} {a}: not an option it takes")
        elif prog not in KNOWN:
            self.bad(where, f"unknown program {prog!r} (not snigate, a repository file or a known tool)")
        for a in args:
            for part in re.split(r"[=:,]", a):
                p = self.repo_path(part)
                if p is not None and not self.path_exists(p):
                    self.bad(where, f"no such file in the repository: {part}")

    def check_shell(self, where, text):
        for line in self.logical_lines(text):
            for words in self.simple_commands(line):
                self.check_words(where, words)

    def run_block(self, where, text):
        self.ran += 1
        with tempfile.TemporaryDirectory(prefix="snigate-docs-") as tmp:
            os.symlink(self.snigate, os.path.join(tmp, "snigate"))
            script = re.sub(r"(?<![\w/])\.?/?build/core/snigate\b", "snigate", text)
            env = dict(os.environ, PATH=tmp + os.pathsep + os.environ.get("PATH", ""))
            for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
                env.pop(v, None)
            try:
                r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.src, env=env,
                                   capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                self.bad(where, "ran for more than 60 s")
                return
            if r.returncode != 0:
                tail = (r.stderr or r.stdout).strip().split("\n")[-3:]
                self.bad(where, f"exit {r.returncode}: " + " | ".join(tail))
            # an older spelling that still loads: the docs (and the files they run) use the new one
            for w in re.findall(r"snigate: warning: \S+: \S+: write .*", r.stderr):
                self.bad(where, f"an old spelling: {w}")

    # ---- links
    @staticmethod
    def slug(heading):
        h = re.sub(r"`|\*\*|\*|_(?=\w)|(?<=\w)_", lambda m: "" if m.group(0) != "_" else "_", heading)
        h = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h)
        h = h.strip().lower()
        h = re.sub(r"[^\w\- ]", "", h)
        return h.replace(" ", "-")

    def anchors_of(self, path):
        if path not in self.anchors:
            seen, res, fence = {}, set(), False
            with open(path) as f:
                for line in f:
                    if FENCE.match(line):
                        fence = not fence
                        continue
                    if fence:
                        continue
                    m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                    if m:
                        s = self.slug(m.group(1))
                        n = seen.get(s, 0)
                        seen[s] = n + 1
                        res.add(s if n == 0 else f"{s}-{n}")
                    for a in re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line):
                        res.add(a)
            self.anchors[path] = res
        return self.anchors[path]

    def check_links(self, md):
        blocks, prose = self.blocks(md)
        for n, line in prose:
            line = re.sub(r"`[^`]*`", "", line)
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue
                where = f"{os.path.relpath(md, self.src)}:{n}"
                file, _, anchor = target.partition("#")
                # a page outside the repository (the self-test's) is read as if at its top
                here = os.path.dirname(md) if md.startswith(self.src + os.sep) else self.src
                dest = os.path.normpath(os.path.join(here, file)) if file else md
                if not dest.startswith(self.src + os.sep) and dest != md:
                    self.bad(where, f"link {target} leaves the repository")
                    continue
                if not os.path.exists(dest):
                    self.bad(where, f"link {target}: no such file")
                    continue
                if anchor and dest.endswith(".md") and anchor not in self.anchors_of(dest):
                    self.bad(where, f"link {target}: no heading #{anchor} in {os.path.relpath(dest, self.src)}")

    # ---- everything
    def check_file(self, md):
        rel = os.path.relpath(md, self.src)
        blocks, prose = self.blocks(md)
        for n, lang, run, text in blocks:
            if lang not in ("sh", "shell", "bash", "console"):
                if run:
                    self.bad(f"{rel}:{n}", "docs-test: run on a block that is not ```sh")
                continue
            self.check_shell(f"{rel}:{n}", text)
            if run:
                self.run_block(f"{rel}:{n}", text)
        for n, line in prose:
            for span in re.findall(r"`([^`]+)`", line):
                if re.match(r"^(\./)?(build/core/)?snigate\s+-|^(\./)?(build/core/)?snigate\s+(check|convert|corefile)\b|^make\s+[a-z]", span):
                    self.check_shell(f"{rel}:{n}", span)
                elif re.fullmatch(r"[\w./-]+", span) and "/" in span:
                    # a lone path such as `core/conn.c` or `test/resolver/resolver_bench`
                    # (a build output): in the repository or in the build
                    p = self.repo_path(span)
                    if p is not None and not self.path_exists(p) and not os.path.exists(
                            os.path.join(self.build, p)):
                        self.bad(f"{rel}:{n}", f"no such file in the repository or the build: {span}")
        if OUTSIDE in open(md).read():
            self.bad(rel, f"points outside the repository ({OUTSIDE})")

    def docs(self):
        files = []
        for g in DOC_GLOBS:
            files.extend(sorted(glob.glob(os.path.join(self.src, g))))
        return files

    def links(self):
        files = []
        for g in LINK_GLOBS:
            files.extend(sorted(glob.glob(os.path.join(self.src, g))))
        return files


def check(src, build, snigate):
    c = Checker(src, build, snigate)
    for md in c.docs():
        c.check_file(md)
    for md in c.links():
        c.check_links(md)
    return c


def self_test(src, build, snigate):
    """Each broken page must fail, with the problem it carries."""
    cases = [
        ("an unknown snigate flag", "```sh\nsnigate --chekc -c conf/snigate.yaml\n```\n", "--chekc"),
        ("an unknown flag in prose", "Run `snigate --confg FILE` first.\n", "--confg"),
        ("an unknown make target", "```sh\nmake tset\n```\n", "make tset"),
        ("an unknown loadgen flag", "```sh\nsnigate-loadgen reset --sin denied.test\n```\n", "--sin"),
        ("an unknown loadgen mode", "```sh\nsnigate-loadgen rest -t 127.0.0.1:1\n```\n", "rest"),
        ("a missing repository file", "```sh\nsnigate --check -c conf/snigat.yaml\n```\n", "conf/snigat.yaml"),
        ("a missing script", "```sh\nbench/quik.sh build 3\n```\n", "bench/quik.sh"),
        ("an option run.sh does not take", "```sh\nbench/run.sh --taget x=127.0.0.1:1\n```\n", "--taget"),
        ("a missing source file in prose", "The ring is in `core/wroker.c`.\n", "core/wroker.c"),
        ("a missing build output", "```sh\n./build/core/snigat --help\n```\n", "snigat"),
        ("an unknown program", "```sh\nsnigat --help\n```\n", "snigat"),
        ("a run block that fails", "<!-- docs-test: run -->\n```sh\nsnigate --check -c conf/CONFIG.md\n```\n", "exit 2"),
        ("a config in an old spelling", "<!-- docs-test: run -->\n```sh\n"
         "snigate --check -c TMP/old.yaml --listen 127.0.0.1:1\n```\n", "old spelling"),
        ("a broken link", "See [the guide](docs/nothere.md).\n", "no such file"),
        ("a broken anchor", "See [reload](conf/CONFIG.md#no-such-heading).\n", "no heading"),
        ("a path outside the repository", f"See {OUTSIDE}/reference/x.md.\n", "outside"),
    ]
    failed = 0
    tmp = tempfile.mkdtemp(prefix="snigate-docs-selftest-")
    with open(os.path.join(tmp, "old.yaml"), "w") as f:
        f.write("allow: [a.test]\nresolver:\n  lookup_family: V4_ONLY\n")
    for name, page, expect in cases:
        page = page.replace("TMP/", tmp + "/")
        c = Checker(src, build, snigate)
        with tempfile.NamedTemporaryFile("w", suffix=".md", dir=tmp, delete=False) as f:
            f.write(page)
        try:
            c.check_file(f.name)
            c.check_links(f.name)
        finally:
            os.unlink(f.name)
        hit = [p for p in c.problems if expect in p]
        print(f"{'ok  ' if hit else 'FAIL'} {name}: {hit[0] if hit else c.problems or 'not caught'}")
        failed += not hit
    # and the pages as they are pass with the same checker
    good = "<!-- docs-test: run -->\n```sh\nsnigate --check -c conf/snigate.yaml >/dev/null 2>&1\nmake -n build >/dev/null\n```\n"
    c = Checker(src, build, snigate)
    with tempfile.NamedTemporaryFile("w", suffix=".md", dir=tmp, delete=False) as f:
        f.write(good)
    try:
        c.check_file(f.name)
    finally:
        os.unlink(f.name)
    print(f"{'ok  ' if not c.problems else 'FAIL'} a correct page passes: {c.problems or 'no problem'}")
    failed += bool(c.problems)
    os.unlink(os.path.join(tmp, "old.yaml"))
    os.rmdir(tmp)
    return failed


def main():
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        if len(args) != 4:
            sys.exit(__doc__)
        sys.exit(1 if self_test(*args[1:]) else 0)
    if len(args) != 3:
        sys.exit(__doc__)
    c = check(*args)
    for p in c.problems:
        print(p)
    print(f"docs: {len(c.docs())} pages, {c.parsed} commands parsed, {c.ran} blocks run, "
          f"{len(c.links())} pages' links checked: {len(c.problems)} problems")
    sys.exit(1 if c.problems else 0)


if __name__ == "__main__":
    main()
