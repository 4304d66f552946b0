"""Web service: seconds from submitting a `fast` job with a painting to its result being ready, at 512 px.

    .venv/bin/python benchmarks/arbitrary_latency.py [--jobs 5] [--size 512]

Starts a real `impasto serve` (one worker) on a free loopback port, submits the first job (which
loads the networks in the worker) and then ``--jobs`` more, each waiting for the previous; for each it
times POST /v1/jobs → GET /v1/jobs/ID reporting ``succeeded`` (polled every 20 ms), and prints the
median and the worst warm one with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
sys.path.insert(0, str(ROOT / "benchmarks"))
from _server import running_server, upload  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="impasto-latency-") as data:
        with running_server(Path(data)) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
            content = upload(EX / "tubingen.jpg", args.size, "JPEG", quality=92)
            painting = upload(EX / "starry_night.jpg", 512, "JPEG", quality=92)
            times = []
            for _ in range(args.jobs + 1):
                t = time.perf_counter()
                r = client.post(
                    "/v1/jobs",
                    data={"kind": "fast"},
                    files=[("content", ("c.jpg", content)), ("style", ("s.jpg", painting))],
                )
                r.raise_for_status()
                job_id = r.json()["id"]
                while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] not in (
                    "succeeded",
                    "failed",
                ):
                    time.sleep(0.02)
                if job["state"] != "succeeded":
                    raise SystemExit(f"job failed: {job['error']}")
                times.append(time.perf_counter() - t)
    warm = times[1:]
    load = os.getloadavg()
    print(
        f"fast job with a painting at {args.size} px: first (loads the networks) {times[0]:.2f} s; "
        f"then median {statistics.median(warm):.2f} s, worst {max(warm):.2f} s over {len(warm)} jobs "
        f"(load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
