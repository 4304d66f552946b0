"""Render the README pictures of "Any painting, instantly" into docs/arbitrary/ (run by `make gallery`).

Every picture is calls of the public API (:func:`impasto.fast.arbitrary.style_of` once per painting,
then :func:`impasto.fast.arbitrary.stylize_arbitrary_picture` per photo); the equivalent CLI commands
are in README.md ("Any painting, instantly").
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from _common import EX, PAINTINGS, PHOTOS, ROOT, save_row  # first: it puts src/ on the path
from impasto.fast.arbitrary import ArbitraryConfig, blend, style_of, stylize_arbitrary_picture
from impasto.figures import labelled_grid, save_figure
from impasto.images import load_image

DOCS = ROOT / "docs" / "arbitrary"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="longest side of each render (default 512)")
    args = ap.parse_args()
    DOCS.mkdir(parents=True, exist_ok=True)
    config = ArbitraryConfig(size=args.size)
    cpu = torch.device("cpu")
    t0 = time.perf_counter()
    # once per painting, for outputs of --size px (the vector depends on the output's scale)
    vectors = {p: style_of(EX / p, config, cpu, longest=args.size) for p in PAINTINGS}

    # 1. Every painting in examples/ on three photos, the paintings on top.
    rows = [[None] + [load_image(EX / p, 256).rgb for p in PAINTINGS]]
    for photo in PHOTOS:
        src = load_image(EX / photo, args.size).rgb
        rows.append(
            [src]
            + [stylize_arbitrary_picture(src, (), config, style_vector=vectors[p]).rgb for p in PAINTINGS]
        )
    names = [p.rsplit(".", 1)[0] for p in PAINTINGS]
    save_figure(
        labelled_grid(
            rows,
            row_labels=["painting", *[p.rsplit(".", 1)[0] for p in PHOTOS]],
            col_labels=["photo", *names],
            cell_size=(180, 135),
            title="impasto fast PHOTO --style-image PAINTING: any painting, one forward pass",
        ),
        DOCS / "paintings.jpg",
    )

    # 2. The strength dial: the photo's own style vector → the painting's (Ghiasi et al. 2017).
    src = load_image(EX / "tubingen.jpg", args.size).rgb
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0)
    cells = [src] + [
        stylize_arbitrary_picture(src, (), config, style_vector=vectors["starry_night.jpg"], strength=s).rgb
        for s in strengths
    ]
    save_row(
        cells,
        ["photo", *[f"--strength {s:g}" for s in strengths]],
        DOCS / "strength.jpg",
        title="--strength: the photo's own style vector interpolated towards starry_night's",
        cell_size=(200, 150),
    )

    # 3. Two paintings blended by interpolating their style vectors.
    a, b = "starry_night.jpg", "the_scream.jpg"
    weights = (1.0, 0.75, 0.5, 0.25, 0.0)
    cells = [
        stylize_arbitrary_picture(
            src, (), config, style_vector=blend([vectors[a], vectors[b]], (w, 1 - w))
        ).rgb
        for w in weights
    ]
    save_row(
        cells,
        [f"{w:g} / {1 - w:g}" for w in weights],
        DOCS / "blend.jpg",
        title=f"--style-image {a}:W --style-image {b}:1-W (style vectors interpolated)",
        cell_size=(200, 150),
    )
    print(f"wrote {DOCS}/paintings.jpg, strength.jpg, blend.jpg in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
