"""`impasto stylize CONTENT STYLE -o OUT` — Gatys et al. optimisation-based style transfer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..images import check_output_path, save_image
from ..stylize import StylizeConfig, stylize
from ..weights import load_cached
from .common import ProgressBar, add_weights_option, config_from_args, layer_list, notify, number, positive_int

D = StylizeConfig()


def register(sub) -> None:
    p = sub.add_parser(
        "stylize", help="paint a photo in the style of a painting (Gatys et al.)",
        description="Optimise an image so its VGG-19 content features match CONTENT and its Gram "
        "matrices match STYLE (Gatys et al. 2016).",
    )
    p.add_argument("content", help="content photo")
    p.add_argument("style", help="style image (painting)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    add_stylize_options(p)
    p.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                   help="also write the current image every N iterations (OUT.0100.png, ...)")
    add_weights_option(p)
    p.set_defaults(run=run)


def add_stylize_options(p: argparse.ArgumentParser) -> None:
    """Options mirroring StylizeConfig; every default is read from it."""
    p.add_argument("--size", type=positive_int, default=D.size, help=f"longest side of the output (default {D.size})")
    p.add_argument("--iters", type=positive_int, default=D.iters, help=f"iterations (default {D.iters})")
    p.add_argument("--content-weight", type=number, default=D.content_weight, help=f"(default {D.content_weight})")
    p.add_argument("--style-weight", type=number, default=D.style_weight, help=f"(default {D.style_weight})")
    p.add_argument("--tv-weight", type=number, default=D.tv_weight, help=f"total variation weight (default {D.tv_weight})")
    p.add_argument("--content-layers", type=layer_list, default=D.content_layers, metavar="L1,L2",
                   help=f"(default {','.join(D.content_layers)})")
    p.add_argument("--style-layers", type=layer_list, default=D.style_layers, metavar="L1,L2",
                   help=f"(default {','.join(D.style_layers)})")
    p.add_argument("--style-scale", type=number, default=D.style_scale,
                   help=f"style image size relative to the output (default {D.style_scale})")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=D.optimizer, help=f"(default {D.optimizer})")
    p.add_argument("--lr", type=number, default=D.lr, help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", default=D.init, metavar="content|noise|PATH", help=f"starting image (default {D.init})")
    p.add_argument("--seed", type=int, default=D.seed, help=f"random seed (default {D.seed})")
    p.add_argument("--pool", choices=("max", "avg"), default=D.pool, help=f"VGG pooling (default {D.pool})")
    p.add_argument("--device", default=D.device, help="auto, cpu, cuda or mps (default auto)")


def intermediate_path(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}.{step:04d}{out.suffix}")


def run(args: argparse.Namespace) -> int:
    out = check_output_path(args.output, inputs=(args.content, args.style))
    config = config_from_args(StylizeConfig, args)

    def save_intermediate(event) -> None:
        if args.save_every and event.step % args.save_every == 0 and event.image is not None:
            save_image(event.image, intermediate_path(out, event.step))

    bar = ProgressBar("stylize", extra=save_intermediate)
    try:
        load_cached(args.weights, notify=notify)  # fetches on first use, with a message, before the bar
        result = stylize(args.content, args.style, config, callback=bar, weights=args.weights)
    finally:
        bar.close()
    save_image(result.image, out, alpha=result.alpha)
    if result.interrupted:
        print(f"impasto: interrupted; wrote the best image so far to {out}", file=sys.stderr)
        return 130
    print(f"wrote {out}", file=sys.stderr)
    return 0
