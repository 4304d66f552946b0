"""README's first picture: the `make demo` result beside its two inputs (writes docs/demo.jpg).

Usage: make demo && .venv/bin/python scripts/demo_figure.py [--result out/demo.png]
It shows the image `make demo` wrote, so the demo's settings live in one place (the Makefile).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from impasto import load_image
from impasto.figures import labelled_grid, save_figure

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "tubingen.jpg"
STYLE = ROOT / "examples" / "starry_night.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--result", type=Path, default=ROOT / "out" / "demo.png", help="the `make demo` output"
    )
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "demo.jpg")
    args = parser.parse_args()
    if not args.result.is_file():
        print(f"demo_figure: {args.result} does not exist; run `make demo` first", file=sys.stderr)
        sys.exit(2)
    result = load_image(args.result).rgb
    cells = [[load_image(CONTENT, 512).rgb, load_image(STYLE, 512).rgb, result]]
    figure = labelled_grid(
        cells,
        col_labels=[
            "content: examples/tubingen.jpg",
            "style: examples/starry_night.jpg",
            "make demo: out/demo.png",
        ],
        cell_size=(400, 300),
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
