"""`impasto sweep CONTENT STYLE -o SHEET` — the content/style trade-off (Gatys et al. 2016, Figure 3)."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from ..figures import save_figure
from ..output import check_output_path
from ..sweep import SweepConfig, sweep
from ..weights import load_cached
from .common import ProgressBar, add_command, add_options, add_weights_option, config_from_args
from .reconstruct import check_all, prepare_each, write_each


def register(sub) -> None:
    p = add_command(sub, "sweep", run)
    p.add_argument("content", help="content photo")
    p.add_argument("style", help="style image (painting)")
    p.add_argument("-o", "--output", required=True, help="contact sheet (.png, .jpg, .webp)")
    add_options(p, SweepConfig)
    p.add_argument(
        "--each",
        metavar="DIR",
        default=None,
        help="also write every cell to DIR (created if missing) as row_R_col_C.png",
    )
    p.add_argument("--title", default=None, help="title line above the sheet")
    add_weights_option(p)


def run(args: argparse.Namespace) -> int:
    """contact sheet of the content/style trade-off (Gatys et al. 2016, Fig. 3)

    Stylise CONTENT with STYLE once per cell: rows of growing style-layer sets, columns of content/style
    weight ratios alpha/beta in the paper's normalisation (1/2 sum of squared feature errors for content; sum
    over layers of 1/L * 1/(4 N^2 M^2) sum of squared Gram errors for style). One network, the targets
    computed once, every cell from the same starting image.
    """
    inputs = (args.content, args.style)
    out = check_output_path(args.output, inputs=inputs)
    config = config_from_args(SweepConfig, args)
    names = [
        f"row_{r + 1}_col_{c + 1}.png"
        for r in range(len(config.layer_sets))
        for c in range(len(config.ratios))
    ]
    each = prepare_each(args.each, names, inputs)
    check_all(out, each, inputs)
    vgg_weights = load_cached(args.weights)  # fetched on first use (message on stderr) before the bar
    with closing(ProgressBar("sweep")) as bar:
        result = sweep(args.content, args.style, config, callback=bar, weights=vgg_weights)
    save_figure(result.figure(title=args.title), out)
    cells = [cell for row in result.cells for cell in row]
    n = write_each(each, cells)
    extra = f" and {n} images in {args.each}" if each else ""
    if result.interrupted:
        done = sum(c.image is not None for c in cells)
        print(
            f"impasto: interrupted; wrote {done}/{len(cells)} cells (the last one unfinished) to {out}{extra}",
            file=sys.stderr,
        )
        return 130
    print(f"wrote {out}{extra}", file=sys.stderr)
    return 0
