"""Portraits: what `--faces auto` does to the face and to the rest, against `--faces off`.

For every portrait (an image of examples/ and, when present, ../shared/images/content/ in which the
detector finds a face) in three styles, painted with `impasto stylize` at modest settings:

- found: does the same detector still find the face in the painting (a box overlapping the
  photo's face box by IoU >= 0.3)?
- content in face: relu4_2 content loss (MSE against the photo's features) inside the face box;
- style outside: the style loss (relu1_1 ... relu5_1 Gram MSE, summed) of the painting outside the
  face box, masked as Gatys et al. 2017 do.

    nice python benchmarks/portraits.py --size 192 --iters 60

Prints a Markdown table (one row per portrait and style) and the totals; `--json FILE` keeps the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto import faces, losses  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.masks import fit_mask  # noqa: E402
from impasto.stylize import StylizeConfig, stylize  # noqa: E402
from impasto.vgg import feature_extractor  # noqa: E402

SHARED = ROOT.parent / "shared" / "images" / "content"
STYLES = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")


def portraits() -> list[Path]:
    seen, out = set(), []
    for folder in (ROOT / "examples", SHARED):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.jpg")):
            if p.name in seen or p.name in STYLES:
                continue
            seen.add(p.name)
            if faces.detect(load_image(p, 512)):
                out.append(p)
    return out


def iou(a: faces.Face, b: faces.Face) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def box_mask(face: faces.Face, hw: tuple[int, int]) -> torch.Tensor:
    m = torch.zeros(1, 1, *hw)
    m[..., round(face.y) : round(face.y + face.h), round(face.x) : round(face.x + face.w)] = 1.0
    return m


def measure(vgg, config, image, content, style_grams, original_face) -> dict:
    hw = tuple(image.shape[-2:])
    inside = box_mask(original_face, hw)
    with torch.no_grad():
        f = vgg(image, config.content_layers + config.style_layers)
        fc = vgg(content, config.content_layers)
    layer = config.content_layers[0]
    m = fit_mask(inside, tuple(f[layer].shape[-2:]))
    content_face = float(losses.content_loss(f[layer], fc[layer], m) / m.mean().clamp_min(1e-8))
    style_out = sum(
        float(losses.style_loss(f[name], style_grams[name], fit_mask(1 - inside, tuple(f[name].shape[-2:]))))
        for name in config.style_layers
    )
    found = any(iou(g, original_face) >= 0.3 for g in faces.detect(image))
    return {"found": found, "content_face": content_face, "style_outside": style_out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this portrait (file name; repeatable)",
    )
    args = ap.parse_args()
    config = StylizeConfig(size=args.size, iters=args.iters)
    vgg = feature_extractor(config.content_layers + config.style_layers)
    rows, t0 = [], time.perf_counter()
    people = [p for p in portraits() if not args.only or p.name in args.only]
    print(
        f"portraits: {', '.join(p.name for p in people)}; styles: {', '.join(STYLES)}; "
        f"{args.size} px, {args.iters} iterations",
        file=sys.stderr,
    )
    for photo in people:
        content = load_image(photo, args.size).rgb
        found = faces.detect(content)
        if not found:  # a face too small to find at this size (Escher's reflection below ~300 px)
            print(f"  {photo.name}: no face found at {args.size} px; skipped", file=sys.stderr)
            continue
        original = found[0]
        for style_name in STYLES:
            style = load_image(ROOT / "examples" / style_name, args.size).rgb
            with torch.no_grad():
                grams = {k: losses.gram(v) for k, v in vgg(style, config.style_layers).items()}
            row = {"portrait": photo.name, "style": style_name}
            for mode in ("off", "auto"):
                image = stylize(photo, ROOT / "examples" / style_name, config, faces=mode).image
                row[mode] = measure(vgg, config, image, content, grams, original)
            rows.append(row)
            print(
                f"  {photo.name} × {style_name}: {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    print(
        "| portrait | style | face found off / auto | content in face off → auto | style outside off → auto |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        off, auto = r["off"], r["auto"]
        yes = lambda v: "yes" if v else "no"  # noqa: E731
        print(
            f"| {r['portrait']} | {r['style']} | {yes(off['found'])} / {yes(auto['found'])} | "
            f"{off['content_face']:.3g} → {auto['content_face']:.3g} ({auto['content_face'] / off['content_face'] - 1:+.0%}) | "
            f"{off['style_outside']:.3g} → {auto['style_outside']:.3g} ({auto['style_outside'] / off['style_outside'] - 1:+.1%}) |"
        )
    n = len(rows)
    found = [sum(r[m]["found"] for r in rows) for m in ("off", "auto")]
    print(
        f"\nface found in {found[0]}/{n} paintings with --faces off, {found[1]}/{n} with --faces auto; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"size": args.size, "iters": args.iters, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
