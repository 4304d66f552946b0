"""The fine diagonal hatching of a fast network, measured: spectral energy on its stride-4 lattice.

    .venv/bin/python benchmarks/hatching.py [--size 512] [--gatys-iters 50] [--model impasto-6 ...]

A network that downsamples by 4 (two stride-2 convolutions) and upsamples by 4 can paint a pattern of
period 4 px whose phase is fixed to its grid. Such a pattern puts its energy on the frequencies that
are multiples of ¼ cycle/px: (±¼, 0), (0, ±¼), (±¼, ±¼), (±½, ...) — the "stride-4 lattice". The
measure is the share of an output's spectral energy (luminance, mean removed, Hann-windowed, so an
image's own edges do not leak) that lies within ``--band`` frequency bins of a lattice point other
than DC. A photo or a Gatys result (pixels optimised directly, no grid) is the reference: what an
image without a grid has in those bands anyway.

Rows: each ``--model`` (a shipped name or a .safetensors file) on ``--photos`` × its styles (mean
share, and the Starry Night × Tübingen pair alone, the clearest case), the Magenta arbitrary-style
network (same pairs, the paintings as style images), Gatys on the one pair (``--gatys-iters`` L-BFGS
iterations, cached in ``--cache``), and the photos themselves. ``--peaks`` lists the strongest lattice
points of the first model's pair. ``--losses`` adds, per fast network, the VGG-19 yardstick of
``fast_vs_stl.py`` / ``arbitrary_vs_stl.py`` (style loss to the painting at the output's size, content
loss to the photo; Gatys et al.'s layers and the training layers), geometric means over the pairs — so
less hatching is not bought with worse style transfer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

from _common import EX, PHOTOS  # noqa: E402
from _common import IMPASTO6_FILES as STYLE_FILES  # noqa: E402
from impasto.fast import load, style_vector  # noqa: E402
from impasto.fast.infer import apply  # noqa: E402
from impasto.images import load_image  # noqa: E402

STRIDE = 4


def luminance(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] → (H, W) float64 Rec. 601 luma."""
    r, g, b = image[0].double().numpy()
    return 0.299 * r + 0.587 * g + 0.114 * b


def lattice_mask(h: int, w: int, band: int, stride: int = STRIDE) -> np.ndarray:
    """Boolean (H, W) over ``np.fft.fftfreq`` bins: within ``band`` bins (Chebyshev) of a non-DC
    multiple of 1/stride cycle/px on each axis (frequencies wrap, so ±½ is one point)."""

    def near(n: int) -> tuple[np.ndarray, np.ndarray]:
        f = np.fft.fftfreq(n) * n  # frequency in bins
        step = n / stride  # one lattice step in bins
        k = np.round(f / step)
        return np.abs(f - k * step) <= band, k

    (ny, ky), (nx, kx) = near(h), near(w)
    on = ny[:, None] & nx[None, :]
    dc = (ky[:, None] == 0) & (kx[None, :] == 0)
    return on & ~dc


def lattice_share(image: torch.Tensor, band: int = 1) -> float:
    """Share (0-1) of the image's spectral energy (luma, mean removed, Hann window) in the lattice bands."""
    y = luminance(image)
    y = y - y.mean()
    h, w = y.shape
    y = y * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(y)) ** 2
    power[0, 0] = 0.0
    return float(power[lattice_mask(h, w, band)].sum() / power.sum())


def peaks(image: torch.Tensor, top: int = 4) -> list[tuple[str, float]]:
    """The strongest exact lattice points: ("(fy, fx)" in cycles/px, share of the energy)."""
    y = luminance(image)
    y = (y - y.mean()) * np.outer(np.hanning(y.shape[0]), np.hanning(y.shape[1]))
    power = np.abs(np.fft.fft2(y)) ** 2
    power[0, 0] = 0.0
    h, w = y.shape
    total = power.sum()
    found = []
    for ky in range(-STRIDE // 2 + 1, STRIDE // 2 + 1):
        for kx in range(-STRIDE // 2 + 1, STRIDE // 2 + 1):
            if (ky, kx) == (0, 0) or h % STRIDE or w % STRIDE:
                continue
            e = power[(ky * h // STRIDE) % h, (kx * w // STRIDE) % w]
            found.append((f"({ky / STRIDE:+.2f}, {kx / STRIDE:+.2f})", float(e / total)))
    return sorted(found, key=lambda t: -t[1])[:top]


def photo(name: str, size: int) -> torch.Tensor:
    x = load_image(EX / name, size).rgb
    h, w = (s // STRIDE * STRIDE for s in x.shape[-2:])  # whole lattice periods: the points are exact bins
    return x[..., :h, :w].contiguous()


def gatys(content: torch.Tensor, painting: Path, iters: int, cache: Path) -> torch.Tensor:
    path = cache / f"gatys-{painting.stem}-{content.shape[-1]}x{content.shape[-2]}-{iters}.png"
    if path.exists():
        return load_image(path).rgb
    from impasto.output import save_image
    from impasto.stylize import stylize

    result = stylize(content, str(painting), size=max(content.shape[-2:]), iters=iters)
    save_image(result.image, path)
    return result.image


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="longest side of the photos (default 512)")
    ap.add_argument("--photos", type=int, default=3, help="how many photos (default 3)")
    ap.add_argument("--model", action="append", default=None, help="model name or file; repeatable")
    ap.add_argument("--band", type=int, default=1, help="half-width of a lattice band in bins (default 1)")
    ap.add_argument("--gatys-iters", type=int, default=50, help="0 = no Gatys row")
    ap.add_argument("--no-arbitrary", action="store_true", help="skip the Magenta arbitrary-style network")
    ap.add_argument("--precision", default="fp32", help="the fast networks' arithmetic (default fp32)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "impasto-hatching")
    ap.add_argument("--peaks", action="store_true", help="list the strongest lattice points")
    ap.add_argument("--losses", action="store_true", help="the VGG-19 style/content yardstick per network")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    cpu = torch.device("cpu")
    photos = {p: photo(p, args.size) for p in PHOTOS[: args.photos]}
    first = photos[PHOTOS[0]]
    rows: list[tuple[str, float, float]] = []  # (label, mean share over pairs, share on the pair)
    pair_images: dict[str, torch.Tensor] = {}
    scores: dict[str, list[dict[str, tuple[float, float]]]] = {}
    yard = None
    if args.losses:
        from arbitrary_vs_stl import Yardstick

        yard = Yardstick()
    for model in args.model or ["impasto-6"]:
        loaded = load(model)
        shares, pair = [], float("nan")
        for pname, x in photos.items():
            for k, name in enumerate(loaded.styles):
                out = apply(loaded, x, style_vector(str(k), loaded.styles), 1.0, cpu, args.precision)
                s = lattice_share(out, args.band)
                shares.append(s)
                if pname == PHOTOS[0] and name == "starry_night":
                    pair, pair_images[model] = s, out
                if yard is not None and name in STYLE_FILES:
                    scores.setdefault(model, []).append(yard.score(out, pname, x, STYLE_FILES[name]))
        rows.append((f"{model} ({len(shares)} pairs)", float(np.mean(shares)), pair))
        print(f"# {rows[-1]} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    if not args.no_arbitrary:
        from impasto.fast.arbitrary import ArbitraryConfig, paint, style_of

        shares, pair = [], float("nan")
        for pname, x in photos.items():
            for name, file in STYLE_FILES.items():
                vec = style_of(EX / file, ArbitraryConfig(), cpu, longest=max(x.shape[-2:]))
                out = paint(x, vec, 1.0, device=cpu, precision=args.precision)
                shares.append(lattice_share(out, args.band))
                if pname == PHOTOS[0] and name == "starry_night":
                    pair = shares[-1]
        rows.append((f"Magenta arbitrary network ({len(shares)} pairs)", float(np.mean(shares)), pair))
    if args.gatys_iters:
        g = gatys(first, EX / "starry_night.jpg", args.gatys_iters, args.cache)
        rows.append(
            (
                f"Gatys, {args.gatys_iters} L-BFGS iterations (the one pair)",
                float("nan"),
                lattice_share(g, args.band),
            )
        )
    own = [lattice_share(x, args.band) for x in photos.values()]
    rows.append((f"the photos ({len(own)})", float(np.mean(own)), own[0]))

    load1 = os.getloadavg()
    print(
        f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, photos at {args.size} px "
        f"(cropped to multiples of {STRIDE}), band ±{args.band} bins, load {load1[0]:.1f}._\n"
    )
    print("| output | lattice share, mean over pairs | Starry Night × Tübingen |")
    print("|---|---|---|")
    for label, mean, pair in rows:
        cell = lambda v: "–" if np.isnan(v) else f"{100 * v:.3f} %"  # noqa: E731
        print(f"| {label} | {cell(mean)} | {cell(pair)} |")
    if scores:
        gm = lambda v: float(np.exp(np.mean(np.log(np.maximum(v, 1e-12)))))  # noqa: E731
        print("\nVGG-19 yardstick (geometric means over the pairs; lower is better):\n")
        print(
            "| network | pairs | style, Gatys layers | content, Gatys layers | style, training layers | content, training layers |"
        )
        print("|---|---|---|---|---|---|")
        for model, rows_ in scores.items():
            cells = [
                f"{gm([r[label][i] for r in rows_]):.4g}"
                for label in ("Gatys layers", "training layers")
                for i in (0, 1)
            ]
            print(f"| {model} | {len(rows_)} | " + " | ".join(cells) + " |")
    if args.peaks and pair_images:
        model, img = next(iter(pair_images.items()))
        print(f"\nStrongest lattice points, {model}, Starry Night × Tübingen (share of the energy):\n")
        for where, share in peaks(img):
            print(f"- {where} cycles/px: {100 * share:.3f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
