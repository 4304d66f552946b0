"""Video flicker of fast networks: a plain network against stability-trained ones, at their style loss.

    .venv/bin/python benchmarks/fast_flicker.py --plain impasto-6 --stable impasto-6-stable [--stable B ...]

The test clips are made here, no download: a 360x240 window over a BSDS500 *test* photo (held out from
training; examples/golden_gate.jpg or --photo), 48 frames, fresh Gaussian sensor noise (sigma 2/255)
in every frame. Three camera motions, because the measure mixes two things:

- ``static``: the camera does not move, so every change of the output is flicker (noise amplified
  into changing brush strokes).
- ``slow pan``: 1 px per frame to the right.
- ``fast pan``: ≈ 3 px right and ≈ 1 px down per frame. Here the picture itself moves so much
  (input change 0.061 without noise, 0.063 with) that the measure is mostly how much texture and
  contrast the stylized picture has, not flicker.

Flicker = mean absolute change between consecutive output frames / the same for the input frames.
Style loss (training layers, against the style painting) is measured on every sixth frame and averaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto import losses  # noqa: E402
from impasto.fast import load, style_vector  # noqa: E402
from impasto.fast.infer import apply  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.stylize import feature_extractor  # noqa: E402

STYLE_FILES = ["starry_night", "the_scream", "shipwreck", "seated-nude", "woman-with-hat-matisse", "picasso_selfport1907"]
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def make_clip(photo: Path, motion: str, frames: int = 48, size=(240, 360), noise=2 / 255, seed=0) -> torch.Tensor:
    """(frames, 3, h, w): a window moving over the photo by whole pixels, with per-frame noise."""
    img = load_image(photo, 640).rgb
    h, w = size
    gen = torch.Generator().manual_seed(seed)
    _, _, H, W = img.shape
    out = []
    for t in range(frames):
        if motion == "static":
            x, y = (W - w) // 2, (H - h) // 2
        elif motion == "slow pan":
            x, y = (W - w) // 2 - frames // 2 + t, (H - h) // 2
        elif motion == "fast pan":  # the clip of the first measurements (RESULTS.md, earlier runs)
            x, y = round((W - w) * t / (frames - 1) * 0.5), round((H - h) * 0.25 * t / (frames - 1))
        else:
            raise ValueError(motion)
        crop = img[:, :, y : y + h, x : x + w]
        out.append((crop + torch.randn(crop.shape, generator=gen) * noise).clamp(0, 1))
    return torch.cat(out)


def change(frames: torch.Tensor) -> float:
    return float((frames[1:] - frames[:-1]).abs().mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plain", required=True)
    ap.add_argument("--stable", required=True, action="append", help="a stability-trained model (repeatable)")
    ap.add_argument("--photo", default=str(ROOT / "examples" / "golden_gate.jpg"))
    ap.add_argument("--styles", default="all", help="comma-separated style indices, or all")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    motions = ("static", "slow pan", "fast pan")
    clips = {m: make_clip(Path(args.photo), m) for m in motions}
    labels = ["plain"] + [Path(s).stem for s in args.stable]
    models = dict(zip(labels, [load(args.plain)] + [load(s) for s in args.stable]))
    names = models["plain"].styles
    indices = range(len(names)) if args.styles == "all" else [int(i) for i in args.styles.split(",")]
    vgg = feature_extractor(LAYERS)
    grams = {}
    for i in indices:
        painting = load_image(ROOT / "examples" / f"{STYLE_FILES[i]}.jpg", 256).rgb
        with torch.no_grad():
            grams[i] = {k: losses.gram(v) for k, v in vgg(painting, LAYERS).items()}
    # results[motion][label][style] = (flicker, style loss)
    results = {m: {lab: {} for lab in labels} for m in motions}
    for motion, clip in clips.items():
        base = change(clip)
        for lab, model in models.items():
            for i in indices:
                w = style_vector(str(i), model.styles)
                out = torch.cat([apply(model, clip[j : j + 8], w, 1.0, precision=args.precision)
                                 for j in range(0, len(clip), 8)])
                with torch.no_grad():
                    f = vgg(out[::6], LAYERS)
                    sl = sum(float(losses.style_loss(f[k], grams[i][k].expand(f[k].shape[0], -1, -1))) for k in LAYERS)
                results[motion][lab][i] = (change(out) / base, sl)
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    print(f"Clips: 48 frames 360x240 over {Path(args.photo).name}, sensor noise 2/255 per frame; network in "
          f"{args.precision}. Input change: " + ", ".join(f"{m} {change(c):.4f}" for m, c in clips.items()) + ".\n")
    print("| clip | model | mean flicker | vs plain | mean style loss | vs plain |")
    print("|---|---|---|---|---|---|")
    for motion in motions:
        fp = mean([v[0] for v in results[motion]["plain"].values()])
        sp = mean([v[1] for v in results[motion]["plain"].values()])
        for lab in labels:
            fl = mean([v[0] for v in results[motion][lab].values()])
            sl = mean([v[1] for v in results[motion][lab].values()])
            rel = "" if lab == "plain" else f"{(fl / fp - 1) * 100:+.0f} %"
            rels = "" if lab == "plain" else f"{(sl / sp - 1) * 100:+.0f} %"
            print(f"| {motion} | {lab} | {fl:.2f} | {rel} | {sl:.4g} | {rels} |")
    print("\nPer style (flicker on the static / slow pan / fast pan clips):\n")
    print("| style | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for i in indices:
        cells = [" / ".join(f"{results[m][lab][i][0]:.2f}" for m in motions) for lab in labels]
        print(f"| {names[i]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
