"""The command line benchmarks/compare.py gives both timed workers (_impasto_worker.py and
_pastiche_worker.py); standard library only, as the pastiche worker runs without impasto."""

from __future__ import annotations

import argparse


def worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--save", required=True, help="where to write the final image (.pt, float RGB [0,1])")
    return p
