"""Time to quality at 1024 px: single scale vs coarse-to-fine (issue 4).

    .venv/bin/python benchmarks/multiscale_ttq.py [--size 1024] [--iters 500] [--coarse-iters 150]

1. Reference: one scale at ``--size`` from the content image, ``--iters`` L-BFGS iterations; its final
   total loss is the quality bar L*.
2. Coarse-to-fine: ``--coarse-iters`` iterations at size/4 and size/2 (``impasto stylize --scales 2
   --start-size S/4 --size S/2``), the result saved as PNG and used as ``--init`` of a run at full size
   that stops as soon as its total loss reaches L* (or after ``--iters`` iterations).

Both at the default loss and precision (``auto``), Tübingen × Starry Night. The full-size loss of both
runs is the same function (same content image, same style targets), so the losses compare directly.
Wall time of the coarse-to-fine route includes every stage and its setup. Prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from impasto.optimize import Cancelled, ProgressEvent
from impasto.output import save_image
from impasto.stylize import StylizeConfig, stylize

ROOT = Path(__file__).resolve().parents[1]
CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Recorder:
    """Keeps (seconds since ``t0``, total loss) of every step; optionally stops at a loss."""

    def __init__(self, t0: float, stop_at: float | None = None) -> None:
        self.t0, self.stop_at, self.trace = t0, stop_at, []

    def __call__(self, event: ProgressEvent) -> None:
        total = float(event.losses["total"])
        self.trace.append((time.perf_counter() - self.t0, total, event.stage, event.step))
        if event.step % 25 == 0:  # a trace as it goes: these runs take up to an hour
            print(
                f"  {self.trace[-1][0]:7.1f} s  {event.stage or 'single scale'} step {event.step}: "
                f"total {total:.5g}",
                flush=True,
            )
        if self.stop_at is not None and total <= self.stop_at:
            raise Cancelled


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--coarse-iters", type=int, default=150)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    # Started in the background (`&`), SIGINT is ignored; let SIGTERM stop a run like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"# {uptime()}\n# torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    t0 = time.perf_counter()
    ref = Recorder(t0)
    stylize(CONTENT, STYLE, StylizeConfig(size=a.size, scales=1, iters=a.iters), callback=ref)
    t_ref, l_ref = ref.trace[-1][0], ref.trace[-1][1]
    print(
        f"single scale {a.size} px, {a.iters} iterations: {t_ref:.1f} s, final total loss {l_ref:.5g}",
        flush=True,
    )
    print(f"# {uptime()}", flush=True)

    t0 = time.perf_counter()
    coarse = Recorder(t0)
    half = a.size // 2
    res = stylize(
        CONTENT,
        STYLE,
        StylizeConfig(size=half, scales=2, start_size=half // 2, iters=a.coarse_iters),
        callback=coarse,
    )
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tmp) / "coarse.png"
        save_image(res.image, init)
        t_coarse = time.perf_counter() - t0
        fine = Recorder(t0, stop_at=l_ref)
        stylize(
            CONTENT, STYLE, StylizeConfig(size=a.size, scales=1, iters=a.iters, init=str(init)), callback=fine
        )
    t_ms, l_ms, _, steps = fine.trace[-1]
    reached = l_ms <= l_ref
    print(
        f"coarse-to-fine: {half // 2} and {half} px x {a.coarse_iters} iterations ({t_coarse:.1f} s), then "
        f"{steps} iterations at {a.size} px: {t_ms:.1f} s in all, total loss {l_ms:.5g} "
        f"({'reached' if reached else 'did NOT reach'} {l_ref:.5g})"
    )
    print(f"time ratio coarse-to-fine / single scale: {t_ms / t_ref:.2f} (target <= 0.33)")
    # Where the single-scale run stood at the moment coarse-to-fine finished, for context.
    at = [loss for t, loss, *_ in ref.trace if t <= t_ms]
    if at:
        print(f"single scale after {t_ms:.0f} s had total loss {at[-1]:.5g}")
    print(f"# {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
