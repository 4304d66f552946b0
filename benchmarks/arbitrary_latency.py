"""Web service: seconds from submitting a `fast` job with a painting to its result being ready, at 512 px.

    .venv/bin/python benchmarks/arbitrary_latency.py [--jobs 5] [--size 512]

Starts a real `impasto serve` (one worker) on a free loopback port, submits the first job (which
loads the networks in the worker) and then ``--jobs`` more, each waiting for the previous; for each it
times POST /v1/jobs → GET /v1/jobs/ID reporting ``succeeded`` (polled every 20 ms), and prints the
median and the worst warm one with the machine's load.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"


def jpeg(path: Path, size: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
        return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="impasto-latency-")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impasto",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            data,
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/healthz").json().get("workers"):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            content, painting = jpeg(EX / "tubingen.jpg", args.size), jpeg(EX / "starry_night.jpg", 512)
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
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
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
