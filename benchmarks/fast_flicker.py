"""Video flicker of fast networks: plain network vs the same network fine-tuned with the stability loss
of Gupta et al. 2017, at a similar style loss.

    .venv/bin/python benchmarks/fast_flicker.py --plain A.safetensors --stable B.safetensors [--style 0]

The test clip is made here, no download: a 360x240 window panning slowly across a BSDS500 *test* photo
(held out from training) from examples/ or --photo, with Gaussian sensor noise (sigma 2/255) per frame,
48 frames. Flicker = mean absolute change between consecutive output frames / the same for input frames.
Style loss is measured per frame against the style painting (training layers) and averaged.
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
from impasto.images import load_image  # noqa: E402
from impasto.stylize import feature_extractor  # noqa: E402

STYLE_FILES = ["starry_night", "the_scream", "shipwreck", "seated-nude", "woman-with-hat-matisse", "picasso_selfport1907"]


def make_clip(photo: Path, frames: int = 48, size=(240, 360), noise=2 / 255, seed=0) -> torch.Tensor:
    img = load_image(photo, 640).rgb
    h, w = size
    gen = torch.Generator().manual_seed(seed)
    _, _, H, W = img.shape
    out = []
    for t in range(frames):
        x = round((W - w) * t / (frames - 1) * 0.5)
        y = round((H - h) * 0.25 * t / (frames - 1))
        crop = img[:, :, y : y + h, x : x + w]
        out.append((crop + torch.randn(crop.shape, generator=gen) * noise).clamp(0, 1))
    return torch.cat(out)


def change(frames: torch.Tensor) -> float:
    return float((frames[1:] - frames[:-1]).abs().mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plain", required=True)
    ap.add_argument("--stable", required=True)
    ap.add_argument("--photo", default=str(ROOT / "examples" / "golden_gate.jpg"))
    ap.add_argument("--styles", default="all", help="comma-separated style indices, or all")
    args = ap.parse_args()
    clip = make_clip(Path(args.photo))
    base = change(clip)
    models = {"plain": load(args.plain), "stability fine-tuned": load(args.stable)}
    names = models["plain"].styles
    indices = range(len(names)) if args.styles == "all" else [int(i) for i in args.styles.split(",")]
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    vgg = feature_extractor(layers)
    print(f"Clip: {clip.shape[0]} frames {clip.shape[3]}x{clip.shape[2]} panning over {Path(args.photo).name} "
          f"with noise; input change {base:.4f}.\n")
    print("| style | model | flicker (output change / input change) | mean style loss |")
    print("|---|---|---|---|")
    summary = {k: [] for k in models}
    for i in indices:
        painting = load_image(ROOT / "examples" / f"{STYLE_FILES[i]}.jpg", 256).rgb
        with torch.no_grad():
            grams = {k: losses.gram(v) for k, v in vgg(painting, layers).items()}
        for label, m in models.items():
            w = style_vector(str(i), m.styles)
            with torch.no_grad():
                out = torch.cat([m.net(clip[j : j + 8], w) for j in range(0, len(clip), 8)])
                f = vgg(out[::6], layers)
                sl = sum(float(losses.style_loss(f[k], grams[k].expand(f[k].shape[0], -1, -1))) for k in layers)
            flick = change(out) / base
            summary[label].append((flick, sl))
            print(f"| {names[i]} | {label} | {flick:.2f} | {sl:.4g} |")
    p = summary["plain"]
    s = summary["stability fine-tuned"]
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    fp, fs = mean([a for a, _ in p]), mean([a for a, _ in s])
    print(f"\nMean flicker: plain {fp:.2f}, stability fine-tuned {fs:.2f} ({(1 - fs / fp) * 100:.0f}% lower); "
          f"mean style loss: plain {mean([b for _, b in p]):.4g}, fine-tuned {mean([b for _, b in s]):.4g}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
