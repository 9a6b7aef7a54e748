#!/usr/bin/env python3
"""The jobs a schedule made, read through the api, as one JSON object.

    schedule_runs.py URL SCHEDULE_ID [--key KEY] [--every-ms MS]

Lists every job of the caller's tenant (GET /v1/jobs, all pages), keeps
those whose schedule_id is SCHEDULE_ID, and prints

    {"count": n, "runs": [run_at ms, ... ascending], "duplicates": [ms, ...],
     "gaps": [[a, b], ...], "first": ms | null, "last": ms | null}

where a run is the job's run_at (the schedule's run it was made for),
duplicates are runs that have more than one job, and gaps (with
--every-ms) are consecutive runs further apart than MS.  Python standard
library only.
"""
import argparse
import datetime
import json
import urllib.parse
import urllib.request


def ms_of(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return int(round(t.timestamp() * 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("schedule")
    ap.add_argument("--key")
    ap.add_argument("--every-ms", type=int)
    a = ap.parse_args()
    headers = {"Authorization": "Bearer " + a.key} if a.key else {}
    runs, cursor = [], None
    while True:
        q = {"limit": "100"}
        if cursor:
            q["cursor"] = cursor
        req = urllib.request.Request(a.url + "/v1/jobs?" + urllib.parse.urlencode(q),
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            page = json.load(r)
        for job in page["jobs"]:
            if job.get("schedule_id") == a.schedule:
                runs.append(ms_of(job["run_at"]))
        cursor = page["next_cursor"]
        if not cursor:
            break
    runs.sort()
    seen, dups = set(), []
    for r in runs:
        if r in seen and r not in dups:
            dups.append(r)
        seen.add(r)
    uniq = sorted(seen)
    gaps = []
    if a.every_ms:
        gaps = [[x, y] for x, y in zip(uniq, uniq[1:]) if y - x != a.every_ms]
    print(json.dumps({"count": len(runs), "runs": runs, "duplicates": dups, "gaps": gaps,
                      "first": runs[0] if runs else None, "last": runs[-1] if runs else None}))


if __name__ == "__main__":
    main()
