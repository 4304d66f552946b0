"""Render the README pictures of the fast style networks into docs/fast/ (run by `make gallery`).

Every picture is one call of the public API (:func:`impasto.fast.stylize_fast`) with the shipped
model; the equivalent CLI commands are in README.md ("Fast style networks").
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import EX, IMPASTO6_FILES, PHOTOS, ROOT, save_row  # first: it puts src/ on the path
from impasto.fast import available_models, load, stylize_fast
from impasto.figures import labelled_grid, save_figure
from impasto.images import load_image

DOCS = ROOT / "docs" / "fast"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="longest side of each render (default 512)")
    ap.add_argument("--model", default=None, help="model name or path (default: the shipped default)")
    args = ap.parse_args()
    DOCS.mkdir(parents=True, exist_ok=True)
    loaded = load(args.model)
    names = loaded.styles
    t0 = time.perf_counter()

    # 1. Every style on three photos, with the paintings on top.
    paintings = [load_image(EX / IMPASTO6_FILES[n], 256).rgb if n in IMPASTO6_FILES else None for n in names]
    rows = [[None, *paintings]]
    for photo in PHOTOS:
        src = load_image(EX / photo, args.size).rgb
        rows.append([src] + [stylize_fast(src, model=args.model, style=str(i)) for i in range(len(names))])
    grid = labelled_grid(
        rows,
        row_labels=["painting", *[p.rsplit(".", 1)[0] for p in PHOTOS]],
        col_labels=["photo", *names],
        cell_size=(200, 150),
        title=f"{loaded.path.stem}: {len(names)} styles in one network (impasto fast --style K)",
    )
    save_figure(grid, DOCS / "styles.jpg")

    # 2. Blending two styles by interpolating their normalisation parameters.
    src = load_image(EX / "tubingen.jpg", args.size).rgb
    a, b = 0, min(3, len(names) - 1)
    weights = (1.0, 0.75, 0.5, 0.25, 0.0)
    cells = [stylize_fast(src, model=args.model, style=f"{a}:{w},{b}:{1 - w}") for w in weights]
    save_row(
        cells,
        [f"{a}:{w:g},{b}:{1 - w:g}" for w in weights],
        DOCS / "blend.jpg",
        title=f"--style blends: {names[a]} → {names[b]} (conditional instance norm γ, β interpolated)",
    )

    # 3. Strength: a pixel blend between the photo and the stylized image.
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0)
    cells = [stylize_fast(src, model=args.model, style="1", strength=s) for s in strengths]
    save_row(
        cells,
        [f"--strength {s:g}" for s in strengths],
        DOCS / "strength.jpg",
        title=f"--strength with style 1 ({names[1]})",
    )
    # 4. Video: a slow pan (1 px per frame, sensor noise), frame by frame against `--temporal 0.8`.
    video_steadiness(loaded, args.model)
    print(
        f"wrote {DOCS}/styles.jpg, blend.jpg, strength.jpg, video.jpg in {time.perf_counter() - t0:.0f} s "
        f"with {loaded.path.name} ({[m.name for m in available_models()]})"
    )
    return 0


def video_steadiness(loaded, model: str | None, frames: int = 12) -> None:
    """Two consecutive frames of a noisy 1 px/frame pan, and what changed between them once the pan
    is undone (×4), for the plain per-frame network and for `impasto video --temporal 0.8`."""
    import torch

    from impasto.fast import style_vector
    from impasto.fast.temporal import TemporalBlender
    from impasto.fast.video import stylize_frame

    photo = load_image(EX / "golden_gate.jpg", 640).rgb
    h, w = 240, 360
    y0, x0 = (photo.shape[2] - h) // 2, (photo.shape[3] - w) // 2 - frames
    gen = torch.Generator().manual_seed(0)
    clip = []
    for t in range(frames):
        crop = photo[0, :, y0 : y0 + h, x0 + t : x0 + t + w]
        noisy = (crop + torch.randn(crop.shape, generator=gen) * 2 / 255).clamp(0, 1)
        clip.append(noisy.mul(255).round().byte().permute(1, 2, 0).numpy())
    style = style_vector("0", loaded.styles)
    rows = []
    for blender in (None, TemporalBlender(0.8)):
        outs = [stylize_frame(loaded, f, style, precision="fp32", blender=blender) for f in clip]
        a, b = outs[-2], outs[-1]
        diff = ((b[..., :, :-1] - a[..., :, 1:]).abs() * 4).clamp(0, 1)  # pixel j of b is pixel j+1 of a
        rows.append([a, b, diff])
    grid = labelled_grid(
        rows,
        row_labels=["each frame on its own", "--temporal 0.8"],
        col_labels=["frame t-1", "frame t", "change with the pan undone (x4)"],
        cell_size=(300, 200),
        title=f"impasto video on a 1 px/frame pan with sensor noise ({loaded.styles[0]})",
    )
    save_figure(grid, DOCS / "video.jpg")


if __name__ == "__main__":
    sys.exit(main())
