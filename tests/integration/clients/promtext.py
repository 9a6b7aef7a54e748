#!/usr/bin/env python3
"""A strict checker of the Prometheus text exposition format 0.0.4, for
tests/integration/test_metrics.sh (stricter than Prometheus itself: what it
tolerates we treat as a bug).

    promtext.py [--tsv] < page

Exits 1 with the line and the reason on the first violation; otherwise
prints every sample as one JSON object {"name{l1=\"v1\",...}": value, ...}
(labels sorted by name; +Inf/-Inf/NaN as strings) for jq, or with --tsv
one "key<TAB>value" line per sample (integral values without a fraction)
for a shell's read.

Checked: every line is a HELP, a TYPE or a sample (no blank lines, no other
comments, final newline); metric and label names; label values use only
the escapes \\ \" \n; HELP escapes only \\ and \n; each family has exactly
one HELP and one TYPE, before its samples, and its samples are contiguous;
counter samples are named as their family (ending in _total) and are >= 0;
histograms have only _bucket/_sum/_count, buckets with an le label in
increasing order with non-decreasing counts, ending with le="+Inf" equal to
_count; no sample appears twice.
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def die(lineno, line, why):
    sys.stderr.write("promtext: line %d: %s\n  %r\n" % (lineno, why, line))
    sys.exit(1)


def parse_value(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[s]
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError("bad value %r" % s)
    return float(s)


def parse_sample(line):
    """name, [(label, value)], value string."""
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
    if not m:
        raise ValueError("bad metric name")
    name, i = m.group(1), m.end()
    labels = []
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            if line[i] == "}":
                i += 1
                break
            m = re.match(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", line[i:])
            if not m:
                raise ValueError("bad label name at %d" % i)
            lname = m.group(1)
            i += m.end()
            val = []
            while True:
                if i >= len(line):
                    raise ValueError("unterminated label value")
                c = line[i]
                if c == "\\":
                    nxt = line[i + 1:i + 2]
                    if nxt not in ("\\", '"', "n"):
                        raise ValueError("bad escape \\%s" % nxt)
                    val.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                elif c == "\n":
                    raise ValueError("raw newline in a label value")
                else:
                    val.append(c)
                    i += 1
            labels.append((lname, "".join(val)))
            if line[i] == ",":
                i += 1
                if line[i] == "}":  # a trailing comma: legal, but we never write it
                    raise ValueError("trailing comma in labels")
            elif line[i] != "}":
                raise ValueError("expected , or } at %d" % i)
    if i >= len(line) or line[i] != " ":
        raise ValueError("expected one space before the value")
    rest = line[i + 1:].split(" ")
    if len(rest) not in (1, 2) or any(r == "" for r in rest):
        raise ValueError("expected: value [timestamp]")
    parse_value(rest[0])
    if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
        raise ValueError("bad timestamp")
    names = [l for l, _ in labels]
    if len(set(names)) != len(names):
        raise ValueError("a label appears twice")
    return name, labels, rest[0]


def key(name, labels):
    inner = ",".join('%s="%s"' % (l, v.replace("\\", "\\\\").replace('"', '\\"')
                                  .replace("\n", "\\n")) for l, v in sorted(labels))
    return name + ("{%s}" % inner if labels else "")


def main():
    text = sys.stdin.read()
    if not text.endswith("\n"):
        die(0, text[-40:], "the page does not end with a newline")
    families = {}  # name -> {"help", "type", "done"}
    current = None  # the family whose samples are being read
    out = {}
    hist = {}  # (family, labels without le) -> [(le, count)], sum, count
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            die(n, line, "blank line")
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) (.*)", line)
            if not m:
                die(n, line, "a comment that is not HELP or TYPE")
            kind, name, rest = m.groups()
            if not NAME.match(name):
                die(n, line, "bad metric name")
            f = families.setdefault(name, {"help": None, "type": None, "done": False})
            if f["done"] or (current and current != name):
                if f["done"]:
                    die(n, line, "HELP/TYPE after the family's samples")
            if kind == "HELP":
                if f["help"] is not None:
                    die(n, line, "second HELP")
                if re.search(r"\\[^\\n]|\\$", rest):
                    die(n, line, "bad escape in HELP")
                f["help"] = rest
            else:
                if f["type"] is not None:
                    die(n, line, "second TYPE")
                if rest not in TYPES:
                    die(n, line, "unknown type")
                f["type"] = rest
            if current and current != name:
                families[current]["done"] = True
            current = name
            continue
        try:
            name, labels, value = parse_sample(line)
        except (ValueError, IndexError) as e:
            die(n, line, str(e))
        fam = None
        for suffix in ("", "_bucket", "_sum", "_count"):
            base = name[: len(name) - len(suffix)] if suffix and name.endswith(suffix) else name
            if (suffix == "" or name.endswith(suffix)) and base in families:
                if suffix and families[base]["type"] not in ("histogram", "summary"):
                    continue
                fam = base
                break
        if fam is None:
            die(n, line, "sample without HELP/TYPE")
        f = families[fam]
        if f["help"] is None or f["type"] is None:
            die(n, line, "family without both HELP and TYPE")
        if f["done"] or current != fam:
            die(n, line, "samples of a family are not contiguous")
        k = key(name, labels)
        if k in out:
            die(n, line, "duplicate sample")
        v = parse_value(value)
        out[k] = value if value in ("+Inf", "-Inf", "NaN") else v
        if f["type"] == "counter":
            if name != fam or not fam.endswith("_total"):
                die(n, line, "counter sample not named <family>_total")
            if not v >= 0:
                die(n, line, "negative counter")
        if f["type"] == "histogram":
            rest_labels = tuple(sorted((l, x) for l, x in labels if l != "le"))
            h = hist.setdefault((fam, rest_labels), {"buckets": [], "sum": None, "count": None})
            if name == fam + "_bucket":
                le = [x for l, x in labels if l == "le"]
                if len(le) != 1:
                    die(n, line, "bucket without le")
                bound = parse_value(le[0])
                if h["buckets"] and (bound <= h["buckets"][-1][0] or v < h["buckets"][-1][1]):
                    die(n, line, "buckets not increasing / counts decreasing")
                if h["count"] is not None or h["sum"] is not None:
                    die(n, line, "bucket after _sum/_count")
                h["buckets"].append((bound, v))
            elif name == fam + "_sum":
                h["sum"] = v
            elif name == fam + "_count":
                h["count"] = v
            else:
                die(n, line, "histogram sample that is not _bucket/_sum/_count")
            if any(l == "le" for l, _ in labels) and name != fam + "_bucket":
                die(n, line, "le label outside a bucket")
    for (fam, _), h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != math.inf:
            die(0, fam, "histogram without a +Inf bucket")
        if h["count"] is None or h["sum"] is None:
            die(0, fam, "histogram without _sum and _count")
        if b[-1][1] != h["count"]:
            die(0, fam, "+Inf bucket differs from _count")
    for name, f in families.items():
        if f["help"] is None or f["type"] is None:
            die(0, name, "family without both HELP and TYPE")
    if sys.argv[1:] == ["--tsv"]:
        for k in sorted(out):
            v = out[k]
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            sys.stdout.write("%s\t%s\n" % (k, v))
        return
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


main()
