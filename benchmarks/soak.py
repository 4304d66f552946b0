"""Soak test of `impasto serve` (issue 13): a bounded stream of mixed tiny jobs while worker processes
are SIGKILLed and the disk (a tmpfs holding the data directory) fills up and frees again. Passes when
every accepted job ends `succeeded` exactly once (one `succeeded` line per job in the workers' log, one
row per job in the queue, a result for each) and the server never stopped answering.

    sudo .venv/bin/python benchmarks/soak.py                   # make soak: 40 jobs, about 5 minutes
    sudo .venv/bin/python benchmarks/soak.py --jobs 12 --kill-every 5 --fill-every 20

Needs root (it mounts a tmpfs, and unmounts it at the end); loopback only; stops by itself (--deadline).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import running_server, upload, worker_pids
from impasto.service.queue import SQLiteJobStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def job_mix(rng: random.Random, content: bytes, style: bytes, fast_model: str | None):
    """(fields, files) of one small job: stylize, texture, dream or a fast network."""
    kinds = ["stylize", "stylize", "texture", "dream"] + (["fast"] if fast_model else [])
    kind = rng.choice(kinds)
    c, s = ("content", ("c.jpg", content)), ("style", ("s.png", style))
    if kind == "stylize":
        return {"kind": kind, "size": str(rng.choice((32, 40, 48))), "iters": str(rng.randint(2, 8))}, [c, s]
    if kind == "texture":
        return {"kind": kind, "width": "32", "height": "32", "iters": str(rng.randint(2, 6))}, [s]
    if kind == "dream":
        return {"kind": kind, "size": "40", "octaves": "2", "steps": str(rng.randint(2, 4)), "jitter": "4"}, [
            c
        ]
    return {"kind": kind, "model": fast_model, "style_index": "0", "size": "48"}, [c]


def fill(path: Path) -> int:
    """Write until ENOSPC; returns the bytes written."""
    n = 0
    with open(path, "ab", buffering=0) as fh:
        for size in (1 << 20, 1 << 12):
            try:
                while True:
                    n += fh.write(b"\0" * size)
            except OSError:
                continue
    return n


def busy_worker(rng: random.Random, proc, queue: SQLiteJobStore) -> int | None:
    """The pid of a worker in the middle of a job that has not been interrupted yet (a job interrupted
    three times is failed on purpose, as poisonous; the soak does not aim for that)."""
    try:
        jobs = [j for j in queue.list(state="running") if j.attempts < 2 and j.worker]
    except Exception:
        return None
    if not jobs:
        return None
    wanted = rng.choice(jobs).worker
    for pid in worker_pids(proc):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--id" in argv and argv[argv.index(b"--id") + 1].decode() == wanted:
            return pid
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=40, help="jobs to get accepted (default 40)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--kill-every",
        type=float,
        default=12.0,
        help="seconds between SIGKILLs of a worker in the middle of a job",
    )
    p.add_argument("--fill-every", type=float, default=30.0, help="seconds between disk fills")
    p.add_argument("--full-for", type=float, default=5.0, help="seconds the disk stays full")
    p.add_argument("--disk-mb", type=int, default=64, help="size of the tmpfs holding the data directory")
    p.add_argument("--deadline", type=float, default=540.0, help="give up after this many seconds")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="impasto-soak-") as tmp:
        disk = Path(tmp) / "disk"
        disk.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={args.disk_mb}m", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            print(f"soak: cannot mount a tmpfs ({r.stderr.strip()}); run as root", file=sys.stderr)
            return 2
        try:
            return run(args, rng, disk, Path(tmp) / "server.log")
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)


def run(args, rng: random.Random, disk: Path, log: Path) -> int:
    content = upload(EXAMPLES / "tubingen.jpg", 48, "JPEG")
    style = upload(EXAMPLES / "starry_night.jpg", 48, "PNG")
    filler = disk / "filler"
    counts: collections.Counter = collections.Counter()
    accepted: list[str] = []
    stop = threading.Event()
    started = time.monotonic()
    server_args = (
        "--workers",
        str(args.workers),
        "--threads",
        "1",
        "--min-free-mb",
        "8",
        "--max-queue",
        "200",
    )
    with running_server(disk / "data", *server_args, log=log) as (url, proc):
        client = httpx.Client(base_url=url, timeout=30.0)
        queue = SQLiteJobStore(disk / "data")  # read by the chaos thread: which worker runs which job
        styles = client.get("/v1/styles").json()["models"]
        fast_model = styles[0]["name"] if styles and styles[0]["styles"] else None

        def chaos() -> None:
            next_kill = time.monotonic() + args.kill_every
            next_fill = time.monotonic() + args.fill_every / 2
            while not stop.wait(0.2):
                now = time.monotonic()
                if now >= next_kill and (pid := busy_worker(rng, proc, queue)) is not None:
                    os.kill(pid, signal.SIGKILL)
                    counts["worker kills (mid-job)"] += 1
                    next_kill = now + args.kill_every * rng.uniform(0.5, 1.5)
                if now >= next_fill:
                    fill(filler)
                    counts["disk fills"] += 1
                    h = client.get("/healthz").json()
                    counts["healthz degraded while full"] += h["status"] == "degraded"
                    stop.wait(args.full_for)
                    filler.unlink()
                    next_fill = time.monotonic() + args.fill_every * rng.uniform(0.7, 1.3)

        chaos_thread = threading.Thread(target=chaos, daemon=True)
        chaos_thread.start()
        try:
            while len(accepted) < args.jobs and time.monotonic() - started < args.deadline:
                fields, files = job_mix(rng, content, style, fast_model)
                r = client.post("/v1/jobs", data=fields, files=files)
                counts[f"submit {r.status_code}"] += 1
                if r.status_code == 202:
                    accepted.append(r.json()["id"])
                elif r.status_code not in (429, 507):
                    print(f"soak: unexpected {r.status_code}: {r.text}", file=sys.stderr)
                    counts["unexpected responses"] += 1
                time.sleep(rng.uniform(0.2, 1.5))
            states: dict[str, dict] = {}
            while time.monotonic() - started < args.deadline:
                states = {j: client.get(f"/v1/jobs/{j}").json() for j in accepted}
                if all(s["state"] in ("succeeded", "failed", "cancelled") for s in states.values()):
                    break
                time.sleep(1.0)
        finally:
            stop.set()
            chaos_thread.join(30)
            if filler.exists():
                filler.unlink()
        listed = [j["id"] for j in client.get("/v1/jobs", params={"limit": 500}).json()["jobs"]]
        results = sum(client.get(f"/v1/jobs/{j}/result").status_code == 200 for j in accepted)
        alive = proc.poll() is None
    elapsed = time.monotonic() - started

    text = log.read_text(errors="replace")
    succeeded_lines = collections.Counter(re.findall(r"job ([0-9a-f]{32}) succeeded", text))
    runs = collections.Counter(re.findall(r"job ([0-9a-f]{32}) \(\w+\) started", text))
    by_state = collections.Counter(s["state"] for s in states.values())
    attempts = collections.Counter(s["attempts"] for s in states.values())
    problems = []
    if len(accepted) < args.jobs:
        problems.append(f"only {len(accepted)} of {args.jobs} jobs accepted before the deadline")
    if by_state.get("succeeded", 0) != len(accepted):
        bad = {j: (s["state"], s["error"]) for j, s in states.items() if s["state"] != "succeeded"}
        problems.append(f"not all accepted jobs succeeded: {bad}")
    twice = {j: n for j, n in succeeded_lines.items() if n != 1}
    if twice or set(succeeded_lines) != set(accepted):
        problems.append(
            f"succeeded lines per job not exactly one: {twice}, "
            f"{len(set(accepted) - set(succeeded_lines))} missing"
        )
    if sorted(listed) != sorted(accepted):
        problems.append(
            f"queue lists {len(listed)} jobs ({len(set(listed))} distinct) for {len(accepted)} accepted"
        )
    if results != len(accepted):
        problems.append(f"{results} results for {len(accepted)} accepted jobs")
    if not alive:
        problems.append("the server died")
    figures = {
        "accepted": len(accepted),
        "states": dict(by_state),
        "results": results,
        "runs started": sum(runs.values()),
        "attempts histogram": dict(sorted(attempts.items())),
        **{k: v for k, v in sorted(counts.items())},
        "elapsed s": round(elapsed, 1),
        "jobs per minute": round(len(accepted) / elapsed * 60, 1),
        "server alive": alive,
        "problems": problems,
    }
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    if problems:
        print(f"soak: FAILED ({len(problems)} problem(s)); server log kept at {log}", file=sys.stderr)
        keep = Path("out") / "soak-server.log"
        keep.parent.mkdir(exist_ok=True)
        keep.write_text(text)
        return 1
    kills = counts["worker kills (mid-job)"]
    print(
        f"soak: ok — {len(accepted)} jobs, each succeeded exactly once, through {kills} worker "
        f"kills and {counts['disk fills']} disk fills",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
