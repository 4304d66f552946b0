"""Render the README picture of portraits (``--faces off`` next to ``--faces auto``) into
docs/portraits/ (run by `make gallery`).

Each cell is one call of the public API (:func:`impasto.stylize.stylize`, and
:func:`impasto.fast.stylize_fast` for the last row); the CLI commands are in README.md ("Portraits").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto import faces  # noqa: E402
from impasto.figures import labelled_grid, save_figure  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.stylize import stylize  # noqa: E402

EX = ROOT / "examples"
DOCS = ROOT / "docs" / "portraits"
PORTRAIT = "brad_pitt.jpg"
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="longest side of each render (default 256)")
    ap.add_argument("--iters", type=int, default=150, help="L-BFGS iterations per render (default 150)")
    ap.add_argument("--portrait", default=PORTRAIT, help=f"photo in examples/ (default {PORTRAIT})")
    args = ap.parse_args()
    DOCS.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    photo = EX / args.portrait
    pic = load_image(photo, args.size)
    found = faces.detect(pic)
    overlay = faces.draw(pic, found)
    rows, labels = [], []
    for style in STYLES:
        cells = [overlay, load_image(EX / style, args.size).rgb]
        for mode in ("off", "auto"):
            cells.append(stylize(photo, EX / style, size=args.size, iters=args.iters, faces=mode).image)
            print(f"{style} --faces {mode}: {time.perf_counter() - t0:.0f} s", flush=True)
        rows.append(cells)
        labels.append(style.rsplit(".", 1)[0].replace("-matisse", ""))
    title = (
        f"impasto stylize --faces off | auto ({args.size} px, {args.iters} iterations; "
        f"face style {_default('face_style')}, face content x{_default('face_content')})"
    )
    grid = labelled_grid(
        rows,
        row_labels=labels,
        col_labels=["photo (detected face)", "style", "--faces off", "--faces auto"],
        cell_size=(240, 300),
        title=title,
    )
    save_figure(grid, DOCS / "faces.jpg")
    print(f"wrote {DOCS / 'faces.jpg'} in {time.perf_counter() - t0:.0f} s")
    return 0


def _default(name: str):
    from impasto.stylize import StylizeConfig

    return getattr(StylizeConfig(), name)


if __name__ == "__main__":
    sys.exit(main())
