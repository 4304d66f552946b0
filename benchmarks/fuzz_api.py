"""Schemathesis against a real `impasto serve` (issue 13): every operation of the served OpenAPI spec,
generated valid and invalid requests, `--checks all` but use_after_free (DELETE cancels a job, see
benchmarks/schemathesis.toml). Bounded by examples per operation and a time budget.

    .venv/bin/python benchmarks/fuzz_api.py                                  # make fuzz-api (the large run)
    .venv/bin/python benchmarks/fuzz_api.py --max-examples 5 --max-time 60   # make schemathesis-smoke (CI)

The server runs with small limits (64 px, 5 iterations) so that the jobs schemathesis manages to submit
finish quickly on the workers. Exit status: schemathesis's (non-zero on any failed check: a 5xx, a
response that does not match the spec, ...). The report (JSON with the request counts) goes to --report-dir.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import running_server

CONFIG = Path(__file__).resolve().with_name("schemathesis.toml")
LIMITS = ("--max-size", "64", "--max-iters", "5", "--max-queue", "20", "--max-upload-mb", "2")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-examples", type=int, default=1000, help="test cases per operation and phase")
    p.add_argument("--max-time", type=float, default=540, help="seconds for the whole schemathesis run")
    p.add_argument("--workers", default="2", help="schemathesis' concurrent clients")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--phases", default=None, help="schemathesis phases, e.g. 'stateful' (default: all)")
    p.add_argument("--report-dir", type=Path, default=Path("out/schemathesis"))
    args = p.parse_args(argv)
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(exe).exists():
        print("fuzz_api: schemathesis is not installed (pip install 'impasto[dev]')", file=sys.stderr)
        return 2
    args.report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="impasto-fuzz-api-") as tmp:
        log = args.report_dir / "server.log"
        log.unlink(missing_ok=True)
        with running_server(Path(tmp) / "data", "--threads", "1", *LIMITS, log=log) as (url, proc):
            cmd = [
                exe,
                "--config-file",
                str(CONFIG),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "use_after_free",  # DELETE cancels; see schemathesis.toml
                "--max-examples",
                str(args.max_examples),
                "--max-time",
                str(int(args.max_time)),
                "--workers",
                args.workers,
                "--no-color",
                "--request-timeout",
                "30",
                "--generation-database",
                "none",
                "--report",
                "json",
                "--report-dir",
                str(args.report_dir),
            ]
            if args.seed is not None:
                cmd += ["--seed", str(args.seed)]
            if args.phases:
                cmd += ["--phases", args.phases]
            started = time.monotonic()
            code = subprocess.call(cmd)
            alive = proc.poll() is None
        print(
            f"fuzz_api: schemathesis exit {code} after {time.monotonic() - started:.0f} s; server "
            f"{'alive' if alive else 'DEAD'}; report in {args.report_dir}",
            file=sys.stderr,
        )
    return code if alive else 1


if __name__ == "__main__":
    sys.exit(main())
