"""`impasto sweep CONTENT STYLE -o SHEET` — the content/style trade-off (Gatys et al. 2016, Figure 3)."""

from __future__ import annotations

import argparse
import sys

from ..figures import save_figure
from ..images import check_output_path
from ..sweep import SweepConfig, format_ratio, sweep
from ..weights import load_cached
from .common import ProgressBar, add_weights_option, config_from_args, layer_list, notify
from .reconstruct import add_synthesis_options, check_all, prepare_each, write_each

D = SweepConfig()


def ratio_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 1e-5,1e-3, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected comma-separated numbers such as 1e-5,1e-3")
    return values


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="contact sheet of the content/style trade-off (Gatys et al. 2016, Fig. 3)",
        description="Stylise CONTENT with STYLE once per cell: rows of growing style-layer sets, columns of "
        "content/style weight ratios alpha/beta in the paper's normalisation (1/2 sum of squared feature "
        "errors for content; sum over layers of 1/L * 1/(4 N^2 M^2) sum of squared Gram errors for style). "
        "One network, the targets computed once, every cell from the same starting image.",
    )
    p.add_argument("content", help="content photo")
    p.add_argument("style", help="style image (painting)")
    p.add_argument("-o", "--output", required=True, help="contact sheet (.png, .jpg, .webp)")
    p.add_argument(
        "--ratios",
        type=ratio_list,
        default=D.ratios,
        metavar="R1,R2",
        help=f"content/style weight ratios, one column each (default "
        f"{','.join(format_ratio(r) for r in D.ratios)})",
    )
    p.add_argument(
        "--rows",
        type=layer_list,
        default=D.rows,
        metavar="L1,L2",
        help=f"style layers; row k uses the first k of them (default {','.join(D.rows)})",
    )
    p.add_argument("--content-layer", default=D.content_layer, help=f"(default {D.content_layer})")
    p.add_argument(
        "--init",
        choices=("noise", "content"),
        default=D.init,
        help=f"every cell starts from the same white noise (paper) or from the photo (default {D.init})",
    )
    add_synthesis_options(p, D)
    p.add_argument(
        "--each",
        metavar="DIR",
        default=None,
        help="also write every cell to DIR (created if missing) as row_R_col_C.png",
    )
    p.add_argument("--title", default=None, help="title line above the sheet")
    add_weights_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
    bar = ProgressBar("sweep")
    try:
        load_cached(args.weights, notify=notify)
        result = sweep(args.content, args.style, config, callback=bar, weights=args.weights)
    finally:
        bar.close()
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
