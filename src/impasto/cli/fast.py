"""`impasto fast CONTENT -o OUT [--model M] [--style k | --style 0:0.5,3:0.5] [--strength s]` —
stylize with a trained fast network; CONTENT may be a folder (then OUT is a folder too).
`impasto fast CONTENT --style-image PAINTING[:W] ... -o OUT` paints with any painting instead
(Ghiasi et al. 2017's arbitrary-style networks, :mod:`impasto.fast.arbitrary`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, ImageError
from ..fast.arbitrary import ArbitraryConfig
from ..fast.infer import FastConfig, load, style_vector, stylize_picture
from ..images import SAVE_FORMATS
from ..output import check_output_path, check_outputs, save_image
from .common import add_command, add_options, config_from_args
from .faces import add_face_mask_option, check_face_mask

D = FastConfig()
#: ``--style-size`` is the arbitrary-style network's, which only ``--style-image`` uses.
STYLE_SIZE_HELP = (
    "with --style-image: N = the painting centre-cropped to a square of N px for the style predictor, as "
    "Magenta feeds it (trained at 256); default: the whole painting at the output's scale"
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def register(sub) -> None:
    p = add_command(sub, "fast", run)
    p.add_argument("content", help="content photo, or a folder of photos")
    p.add_argument(
        "-o", "--output", required=True, help="output image (.png/.jpg/.webp), or a folder for a folder input"
    )
    add_options(p, FastConfig)
    add_style_image_options(
        p,
        "paint with any painting instead of the model's styles (Ghiasi et al. 2017); repeat to blend "
        "paintings, e.g. --style-image starry.jpg:0.7 --style-image scream.jpg:0.3 (weights default to 1 "
        "and are normalised)",
    )
    p.add_argument(
        "--format",
        default=".jpg",
        choices=sorted(SAVE_FORMATS),
        help="output format for folder input (default .jpg)",
    )
    add_face_mask_option(p)


def add_style_image_options(p: argparse.ArgumentParser, help: str) -> None:
    """``--style-image PATH[:WEIGHT]`` (repeatable) and the arbitrary-style network's ``--style-size``."""
    p.add_argument(
        "--style-image", dest="style_images", action="append", default=[], metavar="PATH[:WEIGHT]", help=help
    )
    add_options(p, ArbitraryConfig, only=("style_size",), custom={"style_size": {"help": STYLE_SIZE_HELP}})


def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def _jobs(args: argparse.Namespace) -> tuple[list[tuple[Path, Path]], bool]:
    """(source, destination) pairs for a file or a folder of photos (checked before any work)."""
    content = Path(args.content)
    out = Path(args.output)
    if content.is_dir():
        files = _images_in(content)
        if not files:
            raise ImageError(f"folder '{content}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if out.exists() and not out.is_dir():
            raise ImageError(f"output '{out}' must be a folder when the input is a folder")
        if out.resolve() == content.resolve():
            raise ImageError(f"output folder '{out}' is the input folder; refusing to overwrite the inputs")
        jobs = [(f, out / (f.stem + args.format)) for f in files]
    else:
        if not content.exists():
            raise ImageError(f"content image '{content}' does not exist")
        jobs = [(content, out)]
    return jobs, content.is_dir()


def run(args: argparse.Namespace) -> int:
    """stylize in milliseconds with a trained fast network (default: the shipped model)

    Stylize photos with a feed-forward network (Johnson et al. 2016) holding several styles (Dumoulin et al.
    2017). CONTENT may be a file or a folder; with a folder, OUT is a folder.
    """
    if args.style_images:
        return _run_arbitrary(args)
    config = config_from_args(FastConfig, args)
    jobs, folder = _jobs(args)
    loaded = load(config.model)  # bad model files fail here, before any work
    style_vector(config.style, loaded.styles)  # as do bad style indices
    check_face_mask(args.face_mask)  # and a face mask that is not an image
    face_mask = (args.face_mask,) if args.face_mask else ()
    return _paint_all(
        args,
        jobs,
        folder,
        lambda src: stylize_picture(src, config, face_mask=args.face_mask),
        inputs=face_mask,
    )


def _run_arbitrary(args: argparse.Namespace) -> int:
    """``--style-image``: one style vector for the blend of paintings, computed once for every photo."""
    from ..device import resolve_device
    from ..fast.arbitrary import style_cache, stylize_arbitrary_picture
    from .stylize import style_specs

    if args.style != D.style or args.model != D.model:
        raise ConfigError(
            "--style-image paints with the given paintings; it does not take --style or --model",
            field="style_image",
        )
    paths, weights = style_specs(args.style_images)
    config = config_from_args(ArbitraryConfig, args, style_weights=weights)
    jobs, folder = _jobs(args)
    for path in paths:
        if not Path(path).is_file():
            raise ImageError(f"style image '{path}' does not exist", field="style_image")
    vec = style_cache(
        paths, config, resolve_device(config.device)
    )  # bad paintings fail here, before any output
    return _paint_all(
        args,
        jobs,
        folder,
        lambda src: stylize_arbitrary_picture(src, (), config, style_vector=vec),
        inputs=tuple(paths),
    )


def _paint_all(
    args: argparse.Namespace, jobs: list[tuple[Path, Path]], folder: bool, paint, inputs: tuple = ()
) -> int:
    out = Path(args.output)
    check_outputs(
        [dst for _, dst in jobs], [*(src for src, _ in jobs), *inputs]
    )  # e.g. a.jpg and a.png → one a.jpg
    if folder:
        out.mkdir(parents=True, exist_ok=True)
    for src, dst in jobs:
        check_output_path(dst, inputs=(src, *inputs))
    from tqdm import tqdm

    failed = 0
    for src, dst in tqdm(jobs, desc="fast", unit="img", file=sys.stderr, disable=len(jobs) == 1 or None):
        try:
            pic = paint(src)
        except ImageError as exc:
            if len(jobs) == 1:
                raise
            print(f"impasto: skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        save_image(pic.rgb, dst, alpha=pic.alpha)
    done = len(jobs) - failed
    where = out if folder else jobs[0][1]
    print(f"wrote {done} image{'s' if done != 1 else ''} to {where}", file=sys.stderr)
    if failed:
        raise ConfigError(f"{failed} of {len(jobs)} inputs could not be read")
    return 0
