#!/usr/bin/env python3
"""Checks tests/cases/cron/next.txt without hangtight's code.

For each row it walks forward over instants (each second for expressions
with a seconds field, each minute otherwise) from just after `after`, turns
each instant into the zone's wall clock with Python's zoneinfo (the system
tz database), and stops at the first instant where the schedule fires by
the rules of docs/schedules.md, stated here over instants:

  - the wall time at instant t matches, and t is its first occurrence
    (zoneinfo's fold is 0) or the hour field begins with '*';
  - or t is the instant of a forward change and one of the wall times the
    change skips, [t + offset before, t + offset after), matches.

Days whose date cannot match are skipped whole when no offset change comes
within two days.  Prints "N rows agree" and exits 0, or lists each row whose
expected value differs and exits 1.

usage: cron_oracle.py [next.txt]
"""
import datetime as dt
import os
import sys
from zoneinfo import ZoneInfo

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


def value(text, names, base):
    if text.isdigit():
        return int(text)
    return names.index(text.upper()) + base


def field(text, lo, hi, star_hi, names=(), base=0):
    out = set()
    for item in text.split(","):
        body, _, step = item.partition("/")
        step = int(step) if step else 1
        if body == "*":
            a, b = lo, star_hi
        elif "-" in body:
            x, y = body.split("-")
            a, b = value(x, names, base), value(y, names, base)
            if names is DAYS and y.upper() == "SUN" and a > 0:
                b = 7
        else:
            a = value(body, names, base)
            b = star_hi if "/" in item else a
        out.update(range(a, b + 1, step))
    return out


class Cron:
    def __init__(self, expr):
        expr = MACROS.get(expr.lower(), expr)
        f = expr.split()
        if len(f) == 5:
            f = ["0"] + f
        self.seconds = set(field(f[0], 0, 59, 59))
        self.minutes = field(f[1], 0, 59, 59)
        self.hours = field(f[2], 0, 23, 23)
        self.doms = field(f[3], 1, 31, 31)
        self.months = field(f[4], 1, 12, 12, MONTHS, 1)
        self.dows = {d % 7 for d in field(f[5], 0, 7, 6, DAYS, 0)}
        self.both = f[3].startswith("*") or f[5].startswith("*")
        self.hour_star = f[2].startswith("*")
        self.step = 1 if len(expr.split()) == 6 else 60

    def date_ok(self, d):
        if d.month not in self.months:
            return False
        dom = d.day in self.doms
        dow = (d.isoweekday() % 7) in self.dows
        return (dom and dow) if self.both else (dom or dow)

    def matches(self, w):
        return (self.date_ok(w) and w.hour in self.hours and w.minute in self.minutes
                and w.second in self.seconds)


def utc(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


def offset(t, zone):
    return int(utc(t).astimezone(zone).utcoffset().total_seconds())


def fires(c, zone, t):
    w = utc(t).astimezone(zone)
    if c.matches(w.replace(tzinfo=None)) and (w.fold == 0 or c.hour_star):
        return True
    before, after = offset(t - 1, zone), offset(t, zone)
    if after > before:
        naive = utc(t).replace(tzinfo=None)
        s = before
        while s < after:
            if c.matches(naive + dt.timedelta(seconds=s)):
                return True
            s += c.step
    return False


def first_after(c, zone, after_s):
    t = int(after_s // 1) + 1
    t += (-t) % c.step
    limit = t + 60 * 366 * 86400
    while t < limit:
        w = utc(t).astimezone(zone)
        if not c.date_ok(w) and offset(t, zone) == offset(t + 2 * 86400, zone):
            nxt = dt.datetime.combine(w.date() + dt.timedelta(days=1), dt.time(), tzinfo=zone)
            t = int(nxt.timestamp())
            continue
        if fires(c, zone, t):
            return t
        t += c.step
    return None


def parse_instant(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../cases/cron/next.txt")
    rows = bad = 0
    for n, line in enumerate(open(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        expr, zone, after, want, _why = (x.strip() for x in line.split("|"))
        rows += 1
        got = first_after(Cron(expr), ZoneInfo(zone), parse_instant(after))
        if got != parse_instant(want):
            bad += 1
            shown = utc(got).astimezone(ZoneInfo(zone)).isoformat() if got is not None else None
            print(f"line {n}: {expr} | {zone} | {after}: table says {want}, zoneinfo walk "
                  f"gives {shown}")
    if bad:
        print(f"{bad} of {rows} rows disagree")
        return 1
    print(f"{rows} rows agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
