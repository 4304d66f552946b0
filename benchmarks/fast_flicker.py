"""Video flicker of fast networks: plain, stability-trained, and with `impasto video --temporal`.

    .venv/bin/python benchmarks/fast_flicker.py --plain impasto-6 --stable impasto-6-stable --temporal 0.8

The test clips are made here, no download: a 360x240 window over a BSDS500 *test* photo (held out from
training; examples/golden_gate.jpg or --photo), 48 frames, fresh Gaussian sensor noise (sigma 2/255)
in every frame. Three camera motions:

- ``static``: the camera does not move, so every change of the output is flicker (noise amplified
  into changing brush strokes).
- ``slow pan``: 1 px per frame to the right.
- ``fast pan``: ≈ 3 px right and ≈ 1 px down per frame.

Two flicker measures, both relative to the same measure on the input frames:

- ``flicker`` (the issue's): mean absolute change between consecutive output frames. On a moving
  camera it mostly counts how much texture moves, and it *rewards* strokes that stay fixed to the
  frame while the scene slides under them (the "shower door" look of a plain network on a pan).
- ``flicker, motion-compensated``: the same after undoing the camera motion, which is known exactly
  here (whole pixels); what is left is change that is not motion. On the static clip the two agree.

Style loss (training layers, against the style painting) is measured on every sixth frame and averaged.
Rows with ``+ temporal w`` run each frame through ``impasto.fast.video.stylize_frame`` with a
``TemporalBlender(w)`` (stride-phase alignment + flow-guided blending), as ``impasto video`` does.
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
from impasto.fast.temporal import TemporalBlender  # noqa: E402
from impasto.fast.video import stylize_frame  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.vgg import feature_extractor  # noqa: E402

STYLE_FILES = [
    "starry_night",
    "the_scream",
    "shipwreck",
    "seated-nude",
    "woman-with-hat-matisse",
    "picasso_selfport1907",
]
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def make_clip(photo: Path, motion: str, frames: int = 48, size=(240, 360), noise=2 / 255, seed=0):
    """((frames, 3, h, w) clip, [(x, y) window position per frame]): a window moving over the photo by
    whole pixels, with fresh noise in every frame."""
    img = load_image(photo, 640).rgb
    h, w = size
    gen = torch.Generator().manual_seed(seed)
    _, _, H, W = img.shape
    out, pos = [], []
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
        pos.append((x, y))
    return torch.cat(out), pos


def change(frames: torch.Tensor) -> float:
    return float((frames[1:] - frames[:-1]).abs().mean())


def compensated_change(frames: torch.Tensor, pos) -> float:
    """Mean absolute change between consecutive frames after undoing the (known, whole-pixel) camera
    motion: what is left is flicker, not motion (the warping error of Lai et al. 2018 with exact flow)."""
    total = 0.0
    _, _, h, w = frames.shape
    for t in range(1, len(frames)):
        dx, dy = pos[t][0] - pos[t - 1][0], pos[t][1] - pos[t - 1][1]
        # pixel (i, j) of frame t is pixel (i + dy, j + dx) of frame t - 1
        cur = frames[t, :, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        prev = frames[t - 1, :, max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        total += float((cur - prev).abs().mean())
    return total / (len(frames) - 1)


def steady(model, clip: torch.Tensor, style, weight: float, precision: str) -> torch.Tensor:
    """The frames ``impasto video --temporal weight`` writes for this clip (before encoding)."""
    blender = TemporalBlender(weight)
    frames = [
        stylize_frame(
            model,
            x.mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy(),
            style,
            precision=precision,
            blender=blender,
        )
        for x in clip
    ]
    return torch.cat(frames)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plain", required=True)
    ap.add_argument("--stable", action="append", default=[], help="a stability-trained model (repeatable)")
    ap.add_argument(
        "--temporal",
        action="append",
        type=float,
        default=[],
        help="also measure each model with flow-guided temporal blending of this weight (repeatable)",
    )
    ap.add_argument("--photo", default=str(ROOT / "examples" / "golden_gate.jpg"))
    ap.add_argument("--styles", default="all", help="comma-separated style indices, or all")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    motions = ("static", "slow pan", "fast pan")
    clips = {m: make_clip(Path(args.photo), m) for m in motions}
    # Every row is a model and a temporal weight (0 = the plain per-frame output).
    labels = ["plain"] + [Path(s).stem for s in args.stable]
    models = dict(zip(labels, [load(args.plain)] + [load(s) for s in args.stable], strict=True))
    rows = [(lab, 0.0) for lab in labels] + [(lab, wt) for lab in labels for wt in args.temporal]
    name = lambda row: row[0] + (f" + temporal {row[1]:g}" if row[1] else "")  # noqa: E731
    names = models["plain"].styles
    indices = range(len(names)) if args.styles == "all" else [int(i) for i in args.styles.split(",")]
    vgg = feature_extractor(LAYERS)
    grams = {}
    for i in indices:
        painting = load_image(ROOT / "examples" / f"{STYLE_FILES[i]}.jpg", 256).rgb
        with torch.no_grad():
            grams[i] = {k: losses.gram(v) for k, v in vgg(painting, LAYERS).items()}
    # results[motion][row][style] = (flicker, compensated flicker, style loss)
    results = {m: {row: {} for row in rows} for m in motions}
    for motion, (clip, pos) in clips.items():
        base, base_comp = change(clip), compensated_change(clip, pos)
        for lab, model in models.items():
            for i in indices:
                w = style_vector(str(i), model.styles)
                raw = torch.cat(
                    [
                        apply(model, clip[j : j + 8], w, 1.0, precision=args.precision)
                        for j in range(0, len(clip), 8)
                    ]
                )
                for row in rows:
                    if row[0] != lab:
                        continue
                    out = steady(model, clip, w, row[1], args.precision) if row[1] else raw
                    with torch.no_grad():
                        f = vgg(out[::6].contiguous(), LAYERS)
                        sl = sum(
                            float(losses.style_loss(f[k], grams[i][k].expand(f[k].shape[0], -1, -1)))
                            for k in LAYERS
                        )
                    results[motion][row][i] = (
                        change(out) / base,
                        compensated_change(out, pos) / base_comp,
                        sl,
                    )
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    print(
        f"Clips: 48 frames 360x240 over {Path(args.photo).name}, sensor noise 2/255 per frame; network in "
        f"{args.precision}. Input change: "
        + ", ".join(f"{m} {change(c):.4f}" for m, (c, _) in clips.items())
        + "; after motion compensation: "
        + ", ".join(f"{m} {compensated_change(c, p):.4f}" for m, (c, p) in clips.items())
        + ".\n"
    )
    print(
        "| clip | model | flicker | vs plain | flicker, motion-compensated | vs plain | style loss | vs plain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    plain = ("plain", 0.0)
    for motion in motions:
        ref = [mean([v[k] for v in results[motion][plain].values()]) for k in range(3)]
        for row in rows:
            vals = [mean([v[k] for v in results[motion][row].values()]) for k in range(3)]
            rel = [
                "" if row == plain else f"{(v / r - 1) * 100:+.0f} %" for v, r in zip(vals, ref, strict=True)
            ]
            print(
                f"| {motion} | {name(row)} | {vals[0]:.2f} | {rel[0]} | {vals[1]:.2f} | {rel[1]} | {vals[2]:.4g} | {rel[2]} |"
            )
    print("\nPer style (flicker on the static / slow pan / fast pan clips):\n")
    print("| style | " + " | ".join(name(row) for row in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for i in indices:
        cells = [" / ".join(f"{results[m][row][i][0]:.2f}" for m in motions) for row in rows]
        print(f"| {names[i]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
