"""Web service throughput on both backends: jobs per minute for tiny `fast` jobs with 1 and 2 workers,
and submit latency (p50/p95) under 100 concurrent submissions while the workers are busy.

    .venv/bin/python benchmarks/service_throughput.py [--jobs 50] [--size 32] [--concurrent 100]
        [--backends embedded,redis] [--workers 1,2]

For each backend and worker count: a real `impasto serve` on a free loopback port (embedded: SQLite +
local workers; redis: a redis-server of its own, append-only file on, and `impasto serve --redis URL
--workers N`, i.e. N local Celery workers); one warm-up job per worker (loads the network), then
``--jobs`` jobs submitted at once and timed from the first submit to the last ``succeeded``; every job
must succeed with one attempt. Then, with 2 workers, ``--concurrent`` submissions from as many threads at
once: each request's latency (POST /v1/jobs → 202). Prints a Markdown table and the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import free_port, running_server, upload

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    port = free_port()
    cmd = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    cmd += ["--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def submit(client: httpx.Client, content: bytes, size: int) -> tuple[str, float]:
    started = time.perf_counter()
    r = client.post(
        "/v1/jobs", data={"kind": "fast", "size": str(size)}, files=[("content", ("c.jpg", content))]
    )
    if r.status_code != 202:
        raise RuntimeError(f"submit answered {r.status_code}: {r.text}")
    return r.json()["id"], time.perf_counter() - started


def wait_all(client: httpx.Client, ids: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    pending, done = set(ids), {}
    while pending:
        for job_id in list(pending):
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                done[job_id] = job
                pending.discard(job_id)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} job(s) not finished after {timeout:.0f} s")
        time.sleep(0.05)
    return [done[i] for i in ids]


def wait_workers(client: httpx.Client, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/healthz").json().get("workers") != n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} worker(s) not up after {timeout:.0f} s")
        time.sleep(0.2)


def concurrent_submits(
    client: httpx.Client, content: bytes, size: int, n: int
) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    errors: list[str] = []
    gate = threading.Barrier(n)

    def one() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
            gate.wait()
            try:
                job_id, seconds = submit(own, content, size)
            except Exception as exc:  # counted, not hidden
                errors.append(str(exc))
                return
            latencies.append(seconds)
            ids.append(job_id)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} submissions failed: {errors[0]}")
    return latencies, ids


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_one(backend: str, workers: int, args, content: bytes, root: Path) -> dict:
    data = root / f"{backend}-{workers}"
    serve_args = [
        "--workers",
        str(workers),
        "--threads",
        "1",
        "--max-queue",
        str(args.jobs + args.concurrent + 10),
    ]
    with contextlib.ExitStack() as stack:
        if backend == "redis":
            rdir = data.with_name(data.name + "-redis")
            rdir.mkdir(parents=True)
            serve_args += ["--redis", stack.enter_context(redis_server(rdir))]
        url, _ = stack.enter_context(running_server(data, *serve_args, log=root / f"{data.name}.log"))
        with httpx.Client(base_url=url, timeout=120) as client:
            wait_workers(client, workers)
            wait_all(client, [submit(client, content, args.size)[0] for _ in range(workers)], 300)  # warm-up
            started = time.perf_counter()
            ids = [submit(client, content, args.size)[0] for _ in range(args.jobs)]
            jobs = wait_all(client, ids, 600)
            seconds = time.perf_counter() - started
            bad = [j for j in jobs if j["state"] != "succeeded" or j["attempts"] != 1]
            if bad:
                raise RuntimeError(f"{len(bad)} job(s) did not succeed once: {bad[0]}")
            row = {"backend": backend, "workers": workers, "jobs": args.jobs, "seconds": seconds}
            row["per_minute"] = args.jobs / seconds * 60
            if workers == max(args.workers):
                latencies, more = concurrent_submits(client, content, args.size, args.concurrent)
                row["p50"], row["p95"] = percentile(latencies, 50), percentile(latencies, 95)
                row["max"] = max(latencies)
                wait_all(client, more, 900)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--backends", default="embedded,redis")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    content = upload(ROOT / "examples" / "tubingen.jpg", args.size, "JPEG", quality=92)
    os.environ["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    rows = []
    with tempfile.TemporaryDirectory(prefix="impasto-throughput-") as tmp:
        for backend in args.backends.split(","):
            for workers in args.workers:
                load = os.getloadavg()[0]
                row = run_one(backend, workers, args, content, Path(tmp))
                row["load"] = f"{load:.2f} → {os.getloadavg()[0]:.2f}"
                rows.append(row)
                print(f"# {row}", file=sys.stderr, flush=True)
    print(
        f"| backend | workers | {args.jobs} jobs, s | jobs/min | submit p50 s | submit p95 s | max s | load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = f"{r['p50']:.3f} | {r['p95']:.3f} | {r['max']:.3f}" if "p50" in r else "– | – | –"
        print(
            f"| {r['backend']} | {r['workers']} | {r['seconds']:.1f} | {r['per_minute']:.0f} | {lat} | {r['load']} |"
        )
    print(f"# {args.concurrent} concurrent submissions, {args.size} px fast jobs, torch 1 thread per worker")
    print(
        f"# {time.strftime('%H:%M:%S')} {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
