"""Scale-out backend: seconds from SIGKILLing the worker that runs a job to the job running on the other.

    .venv/bin/python benchmarks/lease_recovery.py [--lease 30] [--iters 150]

A persistent redis-server, two `impasto worker --lease LEASE` processes and `impasto serve --redis URL
--workers 0` (the test suite's helpers, tests/service/); a 48 px `stylize` job; once it has run a few
steps, SIGKILL its worker's process group and time until the job's second attempt is running, then
wait for it to succeed (resumed from its checkpoint). Prints both and the machine's load.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.service import test_celery as tc
    from tests.service.conftest import EXAMPLES, Server, final, png_bytes, wait_for
    from tests.service.redis_server import RedisServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lease", type=float, default=30.0)
    ap.add_argument("--iters", type=int, default=150)
    args = ap.parse_args(argv)
    tc.LEASE = args.lease
    images = {
        "content": png_bytes(EXAMPLES / "tubingen.jpg", 48, fmt="JPEG"),
        "style": png_bytes(EXAMPLES / "starry_night.jpg", 48),
    }
    with tempfile.TemporaryDirectory(prefix="impasto-lease-") as tmp:
        root = Path(tmp)
        redis = RedisServer(root / "redis", persistent=True).start()
        workers = [tc.Worker(redis.url, f"m{i}", root / f"m{i}").start() for i in (1, 2)]
        api = Server(root / "api", "--redis", redis.url, "--workers", "0")
        try:
            for w in workers:
                w.wait_ready()
            api.start()
            with api.client() as client:
                job = tc.submit(client, images, "stylize", size=48, iters=args.iters)
                wait_for(
                    client,
                    job["id"],
                    lambda j: j["state"] == "running" and (j["progress"] or {}).get("step", 0) >= 3,
                )
                name = tc._worker_of(job, workers)
                next(w for w in workers if w.name == name).kill()
                killed = time.monotonic()
                wait_for(client, job["id"], lambda j: j["attempts"] == 2 or final(j), timeout=args.lease + 60)
                recovery = time.monotonic() - killed
                done = wait_for(client, job["id"], final, timeout=600)
        finally:
            api.stop()
            for w in workers:
                w.stop()
            redis.stop()
    print(
        f"lease {args.lease:g} s: recovery {recovery:.1f} s; then {done['state']} (attempt {done['attempts']}, "
        f"{done['progress']['stage'] or 'not resumed'})"
    )
    print(f"# {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
