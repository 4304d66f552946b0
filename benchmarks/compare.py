"""Time impasto against pastiche 1.6.0 on the same content, style, size and iteration count.

    .venv/bin/python benchmarks/compare.py --size 512 --iters 10 --runs 3

Runs alternate (impasto bf16, impasto fp32, pastiche, impasto bf16, ...) in fresh processes so a
change in machine load hits every tool alike; the table shows medians. Also printed: achieved
GFLOP/s of the VGG-19 forward+backward against this machine's measured peak for 3×3 convolutions,
peak RSS of each process, and the final content/style losses of every result evaluated the same way
(impasto's default loss, float32 network). Pastiche lives in its own virtual environment
(``benchmarks/setup_pastiche.sh``). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PASTICHE_PY = ROOT / "benchmarks" / ".venv-pastiche" / "bin" / "python"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def vgg_gflop(h: int, w: int, last: str = "relu5_1") -> tuple[float, float]:
    """(forward, forward+backward-to-the-image) GFLOP of VGG-19 convolutions up to ``last``."""
    from impasto.weights import CONV_SHAPES

    fwd = 0.0
    scale = 1
    for name, (cin, cout) in CONV_SHAPES.items():
        block = int(name[4])
        scale = 2 ** (block - 1)
        fwd += 2 * cin * cout * 9 * (h // scale) * (w // scale)
        if name == "conv" + last[4:]:
            break
    return fwd / 1e9, 2 * fwd / 1e9  # the backward computes only the gradient to the input


def conv_peak(dtype: torch.dtype, seconds: float = 3.0) -> float:
    """Measured GFLOP/s of a 3×3, 256→256 channel convolution on 128² channels-last input."""
    x = torch.randn(1, 256, 128, 128).to(dtype=dtype, memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(dtype=dtype, memory_format=torch.channels_last)
    conv.requires_grad_(False)
    flop = 2 * 256 * 256 * 9 * 128 * 128
    with torch.no_grad():
        conv(x)
        best, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            conv(x)
            best = max(best, flop / (time.perf_counter() - t) / 1e9)
    return best


def evaluate(path: Path, content: str, style: str, size: int) -> dict[str, float]:
    """impasto's default loss (float32 network) of the image at ``path``."""
    from impasto.images import load_image, resize
    from impasto.stylize import StylizeConfig, make_loss, style_targets
    from impasto.vgg import feature_extractor

    config = StylizeConfig(size=size, precision="fp32")
    image = torch.load(path)
    c = resize(load_image(content, size).rgb, tuple(image.shape[-2:]))
    s = load_image(style, size).rgb
    vgg = feature_extractor(tuple(dict.fromkeys(config.content_layers + config.style_layers)))
    with torch.no_grad():
        total, parts = make_loss(vgg, config, c, style_targets(vgg, [s], None, config))(image.float())
    return {"content": float(parts["content"]), "style": float(parts["style"]), "total": float(total)}


def run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark worker failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", default=str(ROOT / "examples" / "tubingen.jpg"))
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads in every worker (0: torch's default)"
    )
    p.add_argument("--tools", default="bf16,fp32,pastiche", help="comma list of bf16, fp32, auto, pastiche")
    p.add_argument("--tile", type=int, default=None, help="impasto --tile SIZE (memory runs)")
    p.add_argument("--json", default=None, help="also write all raw results here")
    a = p.parse_args(argv)
    tools = a.tools.split(",")
    if "pastiche" in tools and not PASTICHE_PY.exists():
        raise SystemExit(f"pastiche venv missing: run benchmarks/setup_pastiche.sh (expected {PASTICHE_PY})")

    print(f"# {uptime()}")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, cpu capability "
        f"{torch.backends.cpu.get_cpu_capability()}"
    )
    peaks = {"fp32": conv_peak(torch.float32), "bf16": conv_peak(torch.bfloat16)}
    print(f"# measured conv 3x3 peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")

    results: dict[str, list[dict]] = {t: [] for t in tools}
    tmp = Path(tempfile.mkdtemp(prefix="impasto-bench-"))
    for r in range(a.runs):
        for tool in tools:
            save = tmp / f"{tool}-{r}.pt"
            common = [
                a.content,
                a.style,
                "--size",
                str(a.size),
                "--iters",
                str(a.iters),
                "--save",
                str(save),
                "--threads",
                str(a.threads),
            ]
            if tool == "pastiche":
                res = run([str(PASTICHE_PY), str(ROOT / "benchmarks" / "_pastiche_worker.py"), *common])
            else:
                extra = ["--tile", str(a.tile)] if a.tile else []
                res = run(
                    [
                        sys.executable,
                        str(ROOT / "benchmarks" / "_impasto_worker.py"),
                        *common,
                        "--precision",
                        tool,
                        *extra,
                    ]
                )
            res["losses"] = evaluate(save, a.content, a.style, a.size)
            res["uptime"] = uptime()
            results[tool].append(res)
            print(
                f"  run {r + 1} {tool:9s} {res['opt_s']:8.2f} s  {res['opt_s'] / res['iters']:6.3f} s/it  "
                f"evals {res['evals']:4d}  rss {res['peak_rss_mib']:6.0f} MiB  "
                f"style {res['losses']['style']:.4g}  content {res['losses']['content']:.4g}",
                flush=True,
            )

    h, w = results[tools[0]][0]["size"]
    _, fb = vgg_gflop(h, w)
    print(
        f"\n# {h}x{w}, {a.iters} iterations, {a.runs} alternating runs; VGG-19 fwd+bwd to relu5_1 = {fb:.0f} GFLOP"
    )
    print(
        "| tool | median s/iteration | median s/evaluation | CPU s/iteration | GFLOP/s (% of peak) | "
        "peak RSS MiB | fp32 style loss | fp32 content loss | fp32 total |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    med = {}
    for tool, rs in results.items():
        per_it = statistics.median(r["opt_s"] / r["iters"] for r in rs)
        per_ev = statistics.median(r["opt_s"] / r["evals"] for r in rs)
        cpu_it = statistics.median(r["cpu_s"] / r["iters"] for r in rs)
        rss = max(r["peak_rss_mib"] for r in rs)
        gfs = fb / per_ev
        peak = peaks["bf16" if rs[0]["dtype"] == "bf16" else "fp32"]
        losses = {k: statistics.median(r["losses"][k] for r in rs) for k in ("style", "content", "total")}
        med[tool] = (per_it, losses)
        print(
            f"| {tool} | {per_it:.3f} | {per_ev:.3f} | {cpu_it:.3f} | {gfs:.0f} ({100 * gfs / peak:.0f}% of "
            f"{rs[0]['dtype']}) | {rss:.0f} | {losses['style']:.5g} | {losses['content']:.5g} | "
            f"{losses['total']:.5g} |"
        )
    if "pastiche" in med:
        for tool in tools:
            if tool != "pastiche":
                print(
                    f"# speed-up per iteration, {tool} vs pastiche: {med['pastiche'][0] / med[tool][0]:.2f}x"
                )
    if "bf16" in med and "fp32" in med:
        d = {k: 100 * (med["bf16"][1][k] / med["fp32"][1][k] - 1) for k in ("style", "content", "total")}
        print(
            "# bf16 vs fp32 final losses (fp32-evaluated): "
            + ", ".join(f"{k} {v:+.2f}%" for k, v in d.items())
        )
    print(f"# {uptime()}")
    if a.json:
        Path(a.json).write_text(json.dumps({"peaks": peaks, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
