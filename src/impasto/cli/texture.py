"""`impasto texture STYLE -o OUT --size WxH` — texture synthesis (Gatys et al. 2015)."""

from __future__ import annotations

import argparse
from contextlib import closing

from ..output import check_output_path, check_outputs, save_image
from ..texture import TextureConfig, parse_size, synthesize_texture, tile
from ..weights import load_cached
from .common import ProgressBar, add_command, add_options, add_weights_option, config_from_args, finish

D = TextureConfig()


def register(sub) -> None:
    p = add_command(sub, "texture", run)
    p.add_argument("style", help="source image (a painting, a photo of a material, ...)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    p.add_argument(
        "--size",
        default=f"{D.width}x{D.height}",
        metavar="WxH",
        help=f"output width x height, or one number for a square (default {D.width}x{D.height})",
    )
    add_options(p, TextureConfig, skip=("width", "height"))
    p.add_argument(
        "--tiled-preview",
        metavar="PATH",
        default=None,
        help="also write the texture tiled 2x2, to check the seams by eye",
    )
    add_weights_option(p)


def run(args: argparse.Namespace) -> int:
    """synthesise a texture from an image, at any size (Gatys et al. 2015)

    Optimise white noise until its VGG-19 Gram matrices match STYLE's (style loss only, Gatys et al. 2015).
    The output size is independent of the source's; --tileable makes it wrap around seamlessly.
    """
    inputs = (args.style,) + ((args.init,) if args.init != "noise" else ())
    out = check_output_path(args.output, inputs=inputs)
    preview = check_output_path(args.tiled_preview, inputs=inputs) if args.tiled_preview else None
    check_outputs((out, preview), inputs)
    width, height = parse_size(args.size)
    config = config_from_args(TextureConfig, args, width=width, height=height)
    vgg_weights = load_cached(args.weights)  # fetched on first use (message on stderr) before the bar
    with closing(ProgressBar("texture")) as bar:
        result = synthesize_texture(args.style, config, callback=bar, weights=vgg_weights)
    save_image(result.image, out)
    if preview is not None:
        save_image(tile(result.image, 2, 2), preview)
    also = f" and {preview}" if preview else ""
    return finish(result.interrupted, f"wrote {out}{also}", f"wrote the best texture so far to {out}{also}")
