"""Report latency on the `whodid demo` data set, over HTTP: cold (the first
request of a fresh server, no Redis) and cached (p50 of 20 repeats).

    DATABASE_URL=... whodid demo --people 100000 --project demo
    DATABASE_URL=... python -m bench.demo_reports --read-key rk_...

Prints one row per report. Uses `whodid serve` on a free port (one worker)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx

FUNNEL = """query($from: DateTime!, $to: DateTime!) { funnel(input: {
  steps: [{event: "Visited Site"}, {event: "Viewed Pricing Page"}, {event: "Signed Up"}, {event: "Billed"}]
  from: $from, to: $to, segmentBy: {personProperty: "Pricing Page Experiment"}}) {
  cached steps { people } segments { value conversionRate comparison { pValue probabilityToBeatBaseline } } } }"""
COHORT = """query($from: DateTime!, $to: DateTime!) { cohort(input: {cohortEvent: "Signed Up", returnEvent: "Logged In",
  from: $from, to: $to, cohortPeriod: WEEK, bucket: WEEK, buckets: 12}) { cached rows { size cells { people } } } }"""
REVENUE = """query($from: DateTime!, $to: DateTime!) { revenueReport(input: {from: $from, to: $to, interval: MONTH}) {
  cached total payingPeople series { total } bySource { value total } topPeople(first: 10) { totalCount } } }"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--read-key", required=True)
    parser.add_argument("--port", type=int, default=18790)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(args.port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        to = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        variables = {"from": (to - timedelta(days=190)).isoformat(), "to": to.isoformat()}
        headers = {"Authorization": f"Bearer {args.read_key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            print(f"{'report':8} {'cold ms':>9} {'cached p50 ms':>14}")
            for name, query in (("funnel", FUNNEL), ("cohort", COHORT), ("revenue", REVENUE)):
                started = time.perf_counter()
                first = client.post("/graphql", json={"query": query, "variables": variables}).json()
                cold = (time.perf_counter() - started) * 1000
                assert not first.get("errors"), first
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    again = client.post("/graphql", json={"query": query, "variables": variables}).json()
                    times.append((time.perf_counter() - started) * 1000)
                    assert next(iter(again["data"].values()))["cached"] is True
                print(f"{name:8} {cold:9.0f} {statistics.median(times):14.2f}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
