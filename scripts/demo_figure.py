"""README's first picture: the `make demo` result beside its two inputs (writes docs/demo.jpg).

Usage: .venv/bin/python scripts/demo_figure.py [--result out/demo.png]
Without --result it renders the demo itself with the same settings as `make demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto import load_image, stylize
from impasto.figures import labelled_grid, save_figure

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "tubingen.jpg"
STYLE = ROOT / "examples" / "starry_night.jpg"
DEMO_ITERS = 100  # keep in step with the Makefile's `demo` target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--result", type=Path, help="an existing `make demo` output to show")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "demo.jpg")
    args = parser.parse_args()
    if args.result is not None:
        result = load_image(args.result).rgb
    else:
        result = stylize(CONTENT, STYLE, iters=DEMO_ITERS).image
    cells = [[load_image(CONTENT, 512).rgb, load_image(STYLE, 512).rgb, result]]
    figure = labelled_grid(
        cells,
        col_labels=["content: examples/tubingen.jpg", "style: examples/starry_night.jpg", "make demo: out/demo.png"],
        cell_size=(400, 300),
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
