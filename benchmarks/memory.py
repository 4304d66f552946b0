"""Peak RSS of impasto at a given size: style targets, then L-BFGS iterations, in this process.

    .venv/bin/python benchmarks/memory.py --size 1024 --iters 2 --precision bf16

Reports the measured peak RSS, and the bound for a full run: L-BFGS keeps at most
``impasto.optimize.LBFGS_HISTORY_BYTES`` of history pairs, which fill up over the first iterations.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time
from pathlib import Path

import torch

from impasto.images import load_image
from impasto.optimize import lbfgs_history, optimize
from impasto.precision import apply as apply_precision
from impasto.precision import name
from impasto.stylize import StylizeConfig, make_loss, style_targets
from impasto.tiling import optimize_tiled
from impasto.vgg import feature_extractor

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--precision", default="auto")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print("#", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    config = StylizeConfig(size=a.size, iters=a.iters, precision=a.precision, device="cpu", tile=a.tile)
    c = load_image(ROOT / "examples" / "tubingen.jpg", a.size).rgb
    s = load_image(ROOT / "examples" / "starry_night.jpg", a.size).rgb
    vgg = feature_extractor(tuple(dict.fromkeys(config.content_layers + config.style_layers)))
    escalate = apply_precision(vgg, a.precision, "cpu")
    targets = style_targets(vgg, [s], None, config)
    t = time.perf_counter()
    if a.tile:
        res = optimize_tiled(
            c,
            c,
            lambda crop: make_loss(vgg, config, crop, targets),
            tile=a.tile,
            iters=a.iters,
            escalate=escalate,
        )
    else:
        res = optimize(c, make_loss(vgg, config, c, targets), iters=a.iters, escalate=escalate)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    numel = (a.tile or 1) ** 2 * 3 if a.tile else c.numel()
    hist = lbfgs_history(numel) * 2 * 4 * numel / 2**20
    print(
        f"size {tuple(c.shape[-2:])} {name(vgg.dtype)} tile={a.tile}: {res.steps} iterations in {dt:.1f} s, "
        f"peak RSS {peak:.0f} MiB; L-BFGS history bound {hist:.0f} MiB "
        f"(full-run bound {peak + hist:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
