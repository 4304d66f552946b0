"""`impasto reconstruct content|style IMAGE -o GRID` — Gatys et al. 2016, Figure 1."""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path

from ..errors import ImageError
from ..figures import save_figure
from ..options import option_named
from ..output import check_output_path, check_outputs, save_image
from ..reconstruct import CONTENT_LAYERS, STYLE_LAYERS, ReconstructConfig, reconstruct
from ..weights import load_cached
from .common import ProgressBar, add_command, add_options, add_weights_option, config_from_args, finish


def register(sub) -> None:
    p = add_command(
        sub,
        "reconstruct",
        run,
        description="Reconstruct IMAGE from white noise. 'content': match the features of one layer per cell "
        f"({', '.join(CONTENT_LAYERS)}). 'style': match the Gram matrices of a growing layer set per cell "
        f"({{{STYLE_LAYERS[0]}}}, {{{STYLE_LAYERS[0]}, {STYLE_LAYERS[1]}}}, ... up to {STYLE_LAYERS[-1]}). "
        "Writes one labelled grid image.",
    )
    kind = option_named(ReconstructConfig, "kind")
    p.add_argument("kind", choices=kind.choices, help=kind.help)
    p.add_argument("image", help="image to reconstruct")
    p.add_argument("-o", "--output", required=True, help="grid image (.png, .jpg, .webp)")
    p.add_argument(
        "--each",
        metavar="DIR",
        default=None,
        help="also write every reconstruction to DIR (created if missing) as KIND_N_LAYER.png",
    )
    add_options(p, ReconstructConfig)
    p.add_argument("--no-original", action="store_true", help="leave the original out of the grid")
    add_weights_option(p)


def prepare_each(directory: str | None, names: list[str], inputs: tuple[str, ...]) -> list[Path]:
    """Check (and create) the --each directory and the paths of its files, before any work."""
    if directory is None:
        return []
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ImageError(f"--each '{d}' exists and is not a directory")
    if not d.exists():
        parent = d.parent if str(d.parent) else Path(".")
        if not parent.is_dir():
            raise ImageError(f"--each: parent directory '{parent}' does not exist")
        d.mkdir()
    return [check_output_path(d / name, inputs=inputs) for name in names]


def check_all(out, each: list[Path], inputs: tuple[str, ...]) -> None:
    """The grid and the --each files: none an input, no two the same file."""
    check_outputs((out, *each), inputs)


def write_each(paths: list[Path], cells) -> int:
    written = 0
    for path, cell in zip(paths, cells, strict=False):  # no paths without --each
        if cell.image is not None:
            save_image(cell.image, path)
            written += 1
    return written


def run(args: argparse.Namespace) -> int:
    """what each VGG-19 layer keeps of an image (Gatys et al. 2016, Fig. 1)"""
    out = check_output_path(args.output, inputs=(args.image,))
    config = config_from_args(ReconstructConfig, args)
    names = [f"{config.kind}_{i + 1}_{layers[-1]}.png" for i, layers in enumerate(config.layer_sets)]
    each = prepare_each(args.each, names, (args.image,))
    check_all(out, each, (args.image,))
    vgg_weights = load_cached(args.weights)  # fetched on first use (message on stderr) before the bar
    with closing(ProgressBar("reconstruct")) as bar:
        result = reconstruct(args.image, config, callback=bar, weights=vgg_weights)
    save_figure(result.figure(with_original=not args.no_original), out)
    n = write_each(each, result.cells)
    extra = f" and {n} images in {args.each}" if each else ""
    done = sum(c.image is not None for c in result.cells)
    return finish(
        result.interrupted,
        f"wrote {out}{extra}",
        f"wrote {done}/{len(result.cells)} cells (the last one unfinished) to {out}{extra}",
    )
