"""`impasto texture STYLE -o OUT --size WxH` — texture synthesis (Gatys et al. 2015)."""

from __future__ import annotations

import argparse

from ..images import check_output_path, check_outputs, save_image
from ..texture import TextureConfig, parse_size, synthesize_texture, tile
from ..weights import load_cached
from .common import (
    ProgressBar,
    add_device_options,
    add_weights_option,
    config_from_args,
    finish,
    layer_list,
    notify,
    number,
    positive_int,
)

D = TextureConfig()


def register(sub) -> None:
    p = sub.add_parser(
        "texture",
        help="synthesise a texture from an image, at any size (Gatys et al. 2015)",
        description="Optimise white noise until its VGG-19 Gram matrices match STYLE's (style loss only, "
        "Gatys et al. 2015). The output size is independent of the source's; --tileable makes it "
        "wrap around seamlessly.",
    )
    p.add_argument("style", help="source image (a painting, a photo of a material, ...)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    p.add_argument(
        "--size",
        default=f"{D.width}x{D.height}",
        metavar="WxH",
        help=f"output width x height, or one number for a square (default {D.width}x{D.height})",
    )
    p.add_argument(
        "--style-size",
        type=positive_int,
        default=D.style_size,
        metavar="PX",
        help="longest side the source is resized to before its statistics are taken; sets the "
        f"scale of the pattern (default {D.style_size})",
    )
    p.add_argument("--iters", type=positive_int, default=D.iters, help=f"iterations (default {D.iters})")
    p.add_argument(
        "--style-layers",
        type=layer_list,
        default=D.style_layers,
        metavar="L1,L2",
        help=f"layers whose Gram matrices are matched (default {','.join(D.style_layers)})",
    )
    p.add_argument(
        "--style-weight",
        type=number,
        default=D.style_weight,
        help=f"scale of the style loss, > 0 (default {D.style_weight})",
    )
    p.add_argument(
        "--pool",
        choices=("max", "avg"),
        default=D.pool,
        help=f"VGG pooling (default {D.pool}, as Gatys et al. for textures)",
    )
    p.add_argument(
        "--tileable",
        action="store_true",
        help="seamless texture: convolutions wrap around the edges (sides must be multiples of 16 "
        "with the default layers; cannot start from an --init image)",
    )
    p.add_argument(
        "--tiled-preview",
        metavar="PATH",
        default=None,
        help="also write the texture tiled 2x2, to check the seams by eye",
    )
    p.add_argument(
        "--init",
        default=D.init,
        metavar="noise|PATH",
        help="start from seeded white noise (default) or from an image",
    )
    p.add_argument(
        "--optimizer", choices=("lbfgs", "adam"), default=D.optimizer, help=f"(default {D.optimizer})"
    )
    p.add_argument(
        "--lr", type=number, default=D.lr, help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)"
    )
    p.add_argument("--seed", type=int, default=D.seed, help=f"noise seed (default {D.seed})")
    add_device_options(p, D.device, D.precision)
    add_weights_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inputs = (args.style,) + ((args.init,) if args.init != "noise" else ())
    out = check_output_path(args.output, inputs=inputs)
    preview = check_output_path(args.tiled_preview, inputs=inputs) if args.tiled_preview else None
    check_outputs((out, preview), inputs)
    width, height = parse_size(args.size)
    config = config_from_args(TextureConfig, args, width=width, height=height)
    bar = ProgressBar("texture")
    try:
        load_cached(args.weights, notify=notify)
        result = synthesize_texture(args.style, config, callback=bar, weights=args.weights)
    finally:
        bar.close()
    save_image(result.image, out)
    if preview is not None:
        save_image(tile(result.image, 2, 2), preview)
    also = f" and {preview}" if preview else ""
    return finish(result.interrupted, f"wrote {out}{also}", f"wrote the best texture so far to {out}{also}")
