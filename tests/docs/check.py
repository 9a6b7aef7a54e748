#!/usr/bin/env python3
"""The documentation check: README.md and docs/*.md against the code.

    check.py [--source DIR] [--build DIR] [CHECK ...]

CHECK is any of (default: env cli links):

  env     every HANGTIGHT_* name the binaries read or print (the C sources
          of api/ worker/ cli/ shared/, ./run, and the --help of every
          binary and CLI command in the build dir) is written in README.md
          or docs/; every flag of hangtight-api --help and hangtight-worker
          --help is in docs/operations.md.
  cli     every command `hangtight --help` lists has a heading in
          docs/cli.md naming `hangtight COMMAND`, and every flag of
          `hangtight COMMAND --help` is written in that heading's section.
  links   every relative link and image of README.md and docs/**/*.md
          resolves: the file exists, and a #fragment names a heading of the
          target (GitHub's slugs) or an explicit <a id>/<a name>.
  layout  every tracked source file (api/ worker/ cli/ shared/ migrations/
          cmake/ fuzz/*.c scripts/ and the top-level build and run files) is
          named in docs/layout.md, and every file path docs/layout.md names
          exists.

--self-test plants one defect for each check in copies of the inputs and
fails unless every check reports it (a check that cannot fail proves
nothing).  Python standard library only.  Exit 0 when clean, 1 with one
line per problem otherwise, 2 on usage or a missing binary.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ENV_RE = re.compile(r"\bHANGTIGHT_[A-Z0-9_]*[A-Z0-9]")
FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
FENCE_RE = re.compile(r"^[ \t]{0,3}(```+|~~~+)")
# [text](target "title") and ![alt](target); the text may hold one level of
# brackets (an image inside a link).
INLINE_LINK_RE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF_RE = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$")
HTML_ATTR_RE = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*\"([^\"]*)\"", re.I)
HTML_ID_RE = re.compile(r"<a\b[^>]*?\b(?:id|name)\s*=\s*\"([^\"]+)\"", re.I)
SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

BINARIES = ("hangtight-api", "hangtight-worker", "hangtight")
ENV_SOURCE_DIRS = ("api", "worker", "cli", "shared")
ENV_SOURCE_FILES = ("run",)
LAYOUT_DIRS = ("api", "worker", "cli", "shared", "migrations", "cmake", "scripts")
LAYOUT_TOP = ("CMakeLists.txt", "Dockerfile", "docker-compose.yml", "run", "test",
              ".ci/run", ".clang-format", "fuzz/CMakeLists.txt", "fuzz/run.sh",
              "tests/CMakeLists.txt", "tests/integration/lib.sh")
# What a path in docs/layout.md looks like: dir/name.ext, or a known file.
LAYOUT_PATH_RE = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.[a-z]+|run|test|Dockerfile)`")


class Problems:
    def __init__(self):
        self.lines = []

    def add(self, check, msg):
        self.lines.append(f"{check}: {msg}")

    def __bool__(self):
        return bool(self.lines)


# ---- reading markdown -------------------------------------------------------

def doc_files(source):
    """README.md and every docs/**/*.md, as paths relative to source."""
    out = ["README.md"] if os.path.exists(os.path.join(source, "README.md")) else []
    docs = os.path.join(source, "docs")
    for root, dirs, files in os.walk(docs):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".md"):
                out.append(os.path.relpath(os.path.join(root, f), source))
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def marked_lines(text):
    """(line number, line, in code) of a markdown text: in code is True for
    the lines of fenced code blocks, their fence lines included."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE_RE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * len(mark)
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
            yield n, line, True
            continue
        yield n, line, fence is not None


def prose_lines(text):
    """(line number, line) outside fenced code blocks, with inline code
    spans blanked so that links and names inside them are not taken."""
    for n, line, code in marked_lines(text):
        if not code:
            yield n, re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


def headings(text):
    """(level, raw heading text) of every ATX heading outside code blocks."""
    for _, line, code in marked_lines(text):
        h = None if code else HEADING_RE.match(line)
        if h:
            yield len(h.group(1)), h.group(2)


def heading_plain(raw):
    """The text GitHub renders for a heading: code spans keep their
    content, links keep their text, emphasis marks and tags go."""
    spans = []

    def keep(m):
        spans.append(m.group(2))
        return f"\0{len(spans) - 1}\0"

    s = re.sub(r"(`+)(.+?)\1", keep, raw)
    s = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = re.sub(r"<[^>]+>", "", s)
    s = re.sub(r"(\*{1,3})(\S(?:.*?\S)?)\1", r"\2", s)
    # Underscores emphasise only at word edges: delay_s stays delay_s.
    s = re.sub(r"(?<!\w)(_{1,3})(\S(?:.*?\S)?)\1(?!\w)", r"\2", s)
    s = s.replace("*", "")
    return re.sub(r"\0(\d+)\0", lambda m: spans[int(m.group(1))].strip(), s)


def slug(plain):
    """GitHub's heading anchor: lower case, every character that is not a
    letter, mark, digit, connector (_), space or hyphen dropped, spaces
    made hyphens."""
    s = plain.strip().lower()
    s = "".join(c for c in s if c.isalnum() or c in "_- " or unicode_mark(c))
    return s.replace(" ", "-")


def unicode_mark(c):
    import unicodedata
    return unicodedata.category(c).startswith("M")


def anchors(text):
    """Every fragment a link may name in this markdown text."""
    seen = {}
    out = set()
    for _, raw in headings(text):
        base = slug(heading_plain(raw))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    for _, line in prose_lines(text):
        out.update(HTML_ID_RE.findall(line))
    return out


# ---- the binaries ----------------------------------------------------------

def run_help(build, argv):
    exe = os.path.join(build, argv[0])
    if not os.access(exe, os.X_OK):
        raise FileNotFoundError(f"{exe} is missing: build the binaries first")
    r = subprocess.run([exe] + argv[1:] + ["--help"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} --help exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def cli_commands(top_help):
    """The commands `hangtight --help` lists: the indented first words of
    the lines between "commands:" and the next blank line."""
    out, inside = [], False
    for line in top_help.split("\n"):
        if line.strip() == "commands:":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = re.match(r"^\s+([a-z][a-z0-9-]*)\s", line)
            if m:
                out.append(m.group(1))
    return out


def collect_helps(build):
    """{name: --help text} of the api, the worker, the CLI and each command."""
    helps = {b: run_help(build, [b]) for b in BINARIES}
    for cmd in cli_commands(helps["hangtight"]):
        helps[f"hangtight {cmd}"] = run_help(build, ["hangtight", cmd])
    return helps


# ---- the checks --------------------------------------------------------------

def documented_text(source):
    return "\n".join(read(os.path.join(source, f)) for f in doc_files(source))


def env_names_in_sources(source):
    """{name: first place} for HANGTIGHT_* names in the binaries' sources."""
    found = {}
    paths = []
    for d in ENV_SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(source, d)):
            paths += [os.path.join(root, f) for f in sorted(files) if f.endswith((".c", ".h"))]
    paths += [os.path.join(source, f) for f in ENV_SOURCE_FILES
              if os.path.exists(os.path.join(source, f))]
    for p in paths:
        for n, line in enumerate(read(p).split("\n"), 1):
            for name in ENV_RE.findall(line):
                found.setdefault(name, f"{os.path.relpath(p, source)}:{n}")
    return found


def check_env(source, helps, problems):
    docs = documented_text(source)
    names = env_names_in_sources(source)
    for what, text in helps.items():
        for name in ENV_RE.findall(text):
            names.setdefault(name, f"`{what} --help`")
    if not names:
        problems.add("env", "no HANGTIGHT_* name found in the sources: the scan is broken")
    for name, where in sorted(names.items()):
        if not re.search(re.escape(name) + r"(?![A-Z0-9_])", docs):
            problems.add("env", f"{name} (read at {where}) is not documented in README.md or docs/")
    ops_path = os.path.join(source, "docs", "operations.md")
    ops = read(ops_path) if os.path.exists(ops_path) else ""
    for binary in ("hangtight-api", "hangtight-worker"):
        flags = set(FLAG_RE.findall(helps.get(binary, ""))) - {"--help"}
        if not flags:
            problems.add("env", f"no flag found in `{binary} --help`: the scan is broken")
        for flag in sorted(flags):
            if not re.search(re.escape(flag) + r"(?![\w-])", ops):
                problems.add("env", f"{binary} {flag} is not in docs/operations.md")


def sections(text):
    """[(level, plain heading, body text)] of a markdown text."""
    out, cur = [], None
    for _, line, code in marked_lines(text):
        h = None if code else HEADING_RE.match(line)
        if h:
            cur = [len(h.group(1)), heading_plain(h.group(2)), ""]
            out.append(cur)
        elif cur is not None:
            cur[2] += line + "\n"
    return out


def command_section(secs, cmd):
    """The body of the heading that names `hangtight CMD`, with its
    subsections, or None."""
    pat = re.compile(r"\bhangtight " + re.escape(cmd) + r"(?![\w-])")
    for i, (level, plain, _) in enumerate(secs):
        if pat.search(plain):
            body = ""
            for lvl, p, b in secs[i:]:
                if body and lvl <= level:
                    break
                body += p + "\n" + b
            return body
    return None


def check_cli(source, helps, problems):
    path = os.path.join(source, "docs", "cli.md")
    if not os.path.exists(path):
        problems.add("cli", "docs/cli.md is missing")
        return
    secs = sections(read(path))
    cmds = cli_commands(helps["hangtight"])
    if not cmds:
        problems.add("cli", "no command found in `hangtight --help`: the scan is broken")
    for cmd in cmds:
        body = command_section(secs, cmd)
        if body is None:
            problems.add("cli", f"`hangtight {cmd}` has no heading in docs/cli.md")
            continue
        for flag in sorted(set(FLAG_RE.findall(helps.get(f"hangtight {cmd}", ""))) - {"--help"}):
            if not re.search(re.escape(flag) + r"(?![\w-])", body):
                problems.add("cli", f"`hangtight {cmd} {flag}` is not in its section of docs/cli.md")
    for flag in sorted(set(FLAG_RE.findall(helps["hangtight"])) - {"--help"}):
        if not re.search(re.escape(flag) + r"(?![\w-])", read(path)):
            problems.add("cli", f"`hangtight {flag}` is not in docs/cli.md")


def check_links(source, problems):
    cache = {}

    def target_anchors(path):
        if path not in cache:
            cache[path] = anchors(read(path))
        return cache[path]

    for rel in doc_files(source):
        path = os.path.join(source, rel)
        text = read(path)
        for n, line in prose_lines(text):
            targets = INLINE_LINK_RE.findall(line) + HTML_ATTR_RE.findall(line)
            m = REF_DEF_RE.match(line)
            if m:
                targets.append(m.group(1))
            for t in targets:
                where = f"{rel}:{n}"
                if not t:
                    problems.add("links", f"{where}: empty link target")
                    continue
                if SCHEME_RE.match(t) or t.startswith("//"):
                    continue  # external: not checked here
                file_part, _, frag = t.partition("#")
                dest = path if not file_part else os.path.normpath(
                    os.path.join(os.path.dirname(path), file_part))
                if not os.path.realpath(dest).startswith(os.path.realpath(source) + os.sep):
                    problems.add("links", f"{where}: {t} points outside the repository")
                    continue
                if not os.path.exists(dest):
                    problems.add("links", f"{where}: {t}: no such file")
                    continue
                if not frag:
                    continue
                if dest.endswith(".md") and os.path.isfile(dest):
                    if frag not in target_anchors(dest):
                        problems.add("links", f"{where}: {t}: no heading with the anchor #{frag}")
                elif not re.fullmatch(r"L\d+(-L\d+)?", frag):
                    problems.add("links", f"{where}: {t}: a fragment into a non-markdown file")


def tracked_files(source):
    try:
        r = subprocess.run(["git", "-C", source, "ls-files", "-z"], capture_output=True,
                           check=True, timeout=60)
        files = [f for f in r.stdout.decode().split("\0") if f]
        # Files deleted in the work tree but not yet committed are gone.
        return [f for f in files if os.path.exists(os.path.join(source, f))]
    except (OSError, subprocess.CalledProcessError):
        out = []
        for root, dirs, fs in os.walk(source):
            dirs[:] = [d for d in dirs if not d.startswith((".git", "build", "var"))]
            out += [os.path.relpath(os.path.join(root, f), source) for f in fs]
        return out


def layout_sources(source):
    out = []
    for f in tracked_files(source):
        top = f.split("/", 1)[0]
        if (top in LAYOUT_DIRS and "/" in f) or f in LAYOUT_TOP or \
                (f.startswith("fuzz/") and f.endswith((".c", ".dict"))) or \
                f.startswith("api/dashboard/"):
            out.append(f)
    return sorted(out)


def check_layout(source, problems):
    path = os.path.join(source, "docs", "layout.md")
    if not os.path.exists(path):
        problems.add("layout", "docs/layout.md is missing")
        return
    text = read(path)
    files = layout_sources(source)
    if not files:
        problems.add("layout", "no source file found: the scan is broken")
    for f in files:
        if not re.search(r"`" + re.escape(f) + r"`", text):
            problems.add("layout", f"{f} is not in docs/layout.md")
    for n, line in enumerate(text.split("\n"), 1):
        for p in LAYOUT_PATH_RE.findall(line):
            if "*" in p or "<" in p:
                continue
            if not os.path.exists(os.path.join(source, p)):
                problems.add("layout", f"docs/layout.md:{n}: `{p}` does not exist")


CHECKS = {
    "env": lambda s, h, p: check_env(s, h, p),
    "cli": lambda s, h, p: check_cli(s, h, p),
    "links": lambda s, h, p: check_links(s, p),
    "layout": lambda s, h, p: check_layout(s, p),
}


def run_checks(source, helps, which):
    problems = Problems()
    for name in which:
        CHECKS[name](source, helps, problems)
    return problems


# ---- self-test -----------------------------------------------------------------

def copy_inputs(source, dest):
    """The files the checks read, copied as a plain tree (no git): every
    tracked file, and README.md and docs/ as they are on disk (new pages
    need not be committed yet)."""
    files = set(tracked_files(source)) | set(doc_files(source))
    for root, _, fs in os.walk(os.path.join(source, "docs")):
        files.update(os.path.relpath(os.path.join(root, f), source) for f in fs)
    for f in sorted(files):
        src = os.path.join(source, f)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dest, f)) or dest, exist_ok=True)
            shutil.copy2(src, os.path.join(dest, f))


def self_test(source, helps):
    """Plants a defect for each check in a copy and expects it reported."""
    failures = []

    def expect(name, which, plant, want):
        with tempfile.TemporaryDirectory(prefix="ht-docs-check-") as tmp:
            copy_inputs(source, tmp)
            h = dict(helps)
            plant(tmp, h)
            lines = run_checks(tmp, h, which).lines
            if not any(want in line for line in lines):
                failures.append(f"self-test {name}: expected a problem with {want!r}, got {lines}")

    def append(tmp, rel, text):
        with open(os.path.join(tmp, rel), "a", encoding="utf-8") as f:
            f.write(text)

    def rewrite(tmp, rel, old, new):
        p = os.path.join(tmp, rel)
        text = read(p)
        if old not in text:
            failures.append(f"self-test: {rel} has no {old!r} to plant a defect in")
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))

    # env: a variable a binary reads that no doc names.
    expect("env/source", ["env"],
           lambda t, h: append(t, "shared/config.h", "\n/* HANGTIGHT_PLANTED_SETTING */\n"),
           "HANGTIGHT_PLANTED_SETTING")
    expect("env/help", ["env"],
           lambda t, h: h.__setitem__("hangtight-worker", h["hangtight-worker"] +
                                      "  --planted-flag N   (HANGTIGHT_PLANTED_HELP)\n"),
           "HANGTIGHT_PLANTED_HELP")
    expect("env/flag", ["env"],
           lambda t, h: h.__setitem__("hangtight-api", h["hangtight-api"] + "  --planted-flag\n"),
           "--planted-flag")
    # cli: a command without its heading, a flag without its mention.
    cmds = cli_commands(helps["hangtight"])
    expect("cli/command", ["cli"],
           lambda t, h: h.__setitem__("hangtight", h["hangtight"].replace(
               "commands:\n", "commands:\n  planted    a command nobody documented\n", 1)) or
           h.__setitem__("hangtight planted", "usage: hangtight planted\n"),
           "`hangtight planted` has no heading")
    if cmds:
        expect("cli/flag", ["cli"],
               lambda t, h: h.__setitem__(f"hangtight {cmds[0]}",
                                          h[f"hangtight {cmds[0]}"] + "  --planted-option\n"),
               f"`hangtight {cmds[0]} --planted-option`")
    # links: a missing file, a missing anchor, a missing in-page anchor.
    expect("links/file", ["links"],
           lambda t, h: append(t, "README.md", "\nSee [nowhere](docs/planted-missing.md).\n"),
           "docs/planted-missing.md: no such file")
    expect("links/anchor", ["links"],
           lambda t, h: append(t, "README.md", "\nSee [there](docs/cli.md#planted-heading).\n"),
           "no heading with the anchor #planted-heading")
    expect("links/self", ["links"],
           lambda t, h: append(t, os.path.join("docs", "cli.md"), "\n[up](#planted-top)\n"),
           "#planted-top")
    expect("links/image", ["links"],
           lambda t, h: append(t, "README.md", "\n![x](docs/img/planted.png)\n"),
           "docs/img/planted.png: no such file")
    # layout: a new source file, and a file the doc names that is gone.
    expect("layout/new", ["layout"],
           lambda t, h: append(t, "shared/planted.c", "/* new */\n"),
           "shared/planted.c is not in docs/layout.md")
    expect("layout/gone", ["layout"],
           lambda t, h: os.remove(os.path.join(t, "shared", "clock.c")),
           "`shared/clock.c` does not exist")
    # The slugs: a known GitHub heading form must be found.
    sample = ("# Sync mode: `Prefer: wait=N` and `102 Processing`\n## A\n## A\n"
              "## Long poll: `If-None-Match` + `Prefer: wait=N`\n"
              "## Delays: delay_s and *run_at*\n## HTTP/1.1 _framing_ — [x](y.md)\n"
              "```\n# not a heading\n```\n")
    want = {"sync-mode-prefer-waitn-and-102-processing", "a", "a-1",
            "long-poll-if-none-match--prefer-waitn", "delays-delay_s-and-run_at",
            "http11-framing--x"}
    if anchors(sample) != want:
        failures.append(f"self-test slugs: {sorted(anchors(sample))} != {sorted(want)}")
    return failures


# ---- main --------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="check README.md and docs/ against the code")
    ap.add_argument("--source", default=os.environ.get("HT_SOURCE_DIR") or
                    os.path.normpath(os.path.join(here, "..", "..")))
    ap.add_argument("--build", default=os.environ.get("HT_BUILD_DIR"))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("checks", nargs="*", metavar="CHECK", help=" ".join(CHECKS))
    args = ap.parse_args()
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown check {unknown[0]!r}: choose from {', '.join(CHECKS)}")
    which = args.checks or ["env", "cli", "links"]
    needs_help = args.self_test or any(c in ("env", "cli") for c in which)
    helps = {}
    if needs_help:
        if not args.build:
            print("check.py: --build DIR (or HT_BUILD_DIR) is needed for the --help output",
                  file=sys.stderr)
            return 2
        try:
            helps = collect_helps(args.build)
        except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"check.py: {e}", file=sys.stderr)
            return 2
    if args.self_test:
        failures = self_test(args.source, helps)
        for f in failures:
            print(f)
        if not failures:
            print("docs self-test: every planted defect was reported")
        return 1 if failures else 0
    problems = run_checks(args.source, helps, which)
    for line in problems.lines:
        print(line)
    if problems:
        print(f"{len(problems.lines)} documentation problem(s)", file=sys.stderr)
        return 1
    print(f"docs: {', '.join(which)}: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
