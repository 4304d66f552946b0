"""`impasto stylize CONTENT STYLE -o OUT` — Gatys et al. optimisation-based style transfer.
`impasto stylize FOLDER STYLE -o OUTDIR` paints every photo in FOLDER with one style computation."""

# Blends, masks, colour and multi-scale options: see _MASK_HELP and add_stylize_options.

from __future__ import annotations

import argparse
import math
import sys
from contextlib import closing
from pathlib import Path

from ..checks import check_style_counts
from ..errors import ConfigError, ImageError
from ..images import SAVE_FORMATS, load_image
from ..output import check_output_path, check_outputs, save_image
from ..progress import Clock, Stage
from ..stylize import NAMED_INITS, StyleCache, StylizeConfig, stylize
from ..weights import load_cached
from .common import (
    ProgressBar,
    add_command,
    add_options,
    add_weights_option,
    config_from_args,
    finish,
    layer_list,
    positive_int,
)
from .faces import add_face_mask_option, check_face_mask
from .fast import IMAGE_SUFFIXES, _images_in


def register(sub) -> None:
    p = add_command(sub, "stylize", run)
    p.add_argument("content", help="content photo, or a folder of photos (then -o names a folder)")
    p.add_argument(
        "style",
        nargs="?",
        default=None,
        metavar="STYLE[:WEIGHT]",
        help="style image (painting); optional when --style is given",
    )
    p.add_argument(
        "--style",
        dest="styles",
        action="append",
        default=[],
        metavar="PATH[:WEIGHT]",
        help="a(nother) style image with an optional blend weight, e.g. --style starry.jpg:0.7 "
        "--style scream.jpg:0.3 (repeatable; weights default to 1 and are normalised to sum to 1)",
    )
    p.add_argument("--mask", dest="masks", action="append", default=[], metavar="IMAGE", help=_MASK_HELP)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image (.png, .jpg, .webp), or a folder when CONTENT is a folder",
    )
    add_stylize_options(p)
    add_face_mask_option(p)
    p.add_argument(
        "--format",
        default=".png",
        choices=sorted(SAVE_FORMATS),
        help="output format for a folder of photos (default .png)",
    )
    p.add_argument(
        "--save-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="also write the current image every N iterations (OUT.0100.png, ...)",
    )
    add_weights_option(p)


_MASK_HELP = (
    "region of the output for each style image, in order (repeatable; give exactly one mask per style "
    "image, else error). White = full style, black = no style; grey values are soft weights (features "
    "weighted by the mask). Regions no mask covers keep only the content (and TV) loss. Masks of "
    "another size are stretched to the output. With masks, a style's weight scales its own region's "
    "style loss instead of being normalised across styles (e.g. --style starry.jpg:0.2 --mask face.png "
    "styles a face lightly)"
)


def parse_style_spec(text: str) -> tuple[str, float | None]:
    """``path`` or ``path:weight`` → (path, weight). The weight is read only when the text after the
    last ':' is a number, so paths containing ':' keep working; an existing file wins over the split."""
    head, sep, tail = text.rpartition(":")
    if not sep or Path(text).exists() or not head:
        return text, None
    try:
        weight = float(tail)
    except ValueError:
        if Path(head).exists():
            raise ConfigError(f"blend weight '{tail}' in '{text}' is not a number", field="style") from None
        return text, None
    if not (math.isfinite(weight) and weight >= 0):
        raise ConfigError(f"blend weight in '{text}' must be zero or positive, got {tail}", field="style")
    return head, weight


def weighted_layers(text: str) -> tuple[tuple[str, float | None], ...]:
    """``relu1_1:0.2,relu2_1`` → ((name, weight or None), ...)."""
    items = []
    for part in layer_list(text):
        name, sep, w = part.partition(":")
        weight = None
        if sep:
            try:
                weight = float(w)
            except ValueError:
                raise argparse.ArgumentTypeError(f"layer weight '{w}' in '{part}' is not a number") from None
            if not (math.isfinite(weight) and weight > 0):
                raise argparse.ArgumentTypeError(f"layer weight in '{part}' must be positive, got {w}")
        items.append((name.strip(), weight))
    return tuple(items)


def _split_layers(value) -> tuple[tuple[str, ...], tuple[float, ...] | None]:
    pairs = [(v, None) if isinstance(v, str) else v for v in value]
    names = tuple(n for n, _ in pairs)
    if all(w is None for _, w in pairs):
        return names, None
    return names, tuple(1.0 if w is None else w for _, w in pairs)


def styles_from_args(args: argparse.Namespace) -> tuple[list[str], tuple[float, ...] | None]:
    specs = ([args.style] if args.style else []) + list(args.styles)
    if not specs:
        raise ConfigError("no style image: give STYLE or --style PATH[:WEIGHT]", field="style")
    return style_specs(specs)


def style_specs(specs: list[str]) -> tuple[list[str], tuple[float, ...] | None]:
    """``PATH[:WEIGHT]`` texts → (paths, blend weights or None when no weight was given)."""
    parsed = [parse_style_spec(s) for s in specs]
    paths = [p for p, _ in parsed]
    if all(w is None for _, w in parsed):
        return paths, None
    return paths, tuple(1.0 if w is None else w for _, w in parsed)


def config_from_cli(args: argparse.Namespace) -> StylizeConfig:
    """The StylizeConfig an argument namespace asks for (blend weights parsed from the style specs)."""
    content_layers, content_w = _split_layers(args.content_layers)
    style_layers, style_w = _split_layers(args.style_layers)
    _, blend = styles_from_args(args)
    return config_from_args(
        StylizeConfig,
        args,
        content_layers=content_layers,
        content_layer_weights=content_w,
        style_layers=style_layers,
        style_layer_weights=style_w,
        style_blend_weights=blend,
    )


def add_stylize_options(p: argparse.ArgumentParser) -> None:
    """Every StylizeConfig option, derived from its declaration; the layer lists take weights."""
    layers = {"type": weighted_layers, "metavar": "L1[:W],L2"}
    content = StylizeConfig.content_layers, "relu4_2 or relu3_2:0.5,relu4_2"
    style = StylizeConfig.style_layers, "relu1_1:2,relu2_1,relu3_1"
    add_options(
        p,
        StylizeConfig,
        custom={
            "content_layers": {**layers, "help": _layers_help(*content)},
            "style_layers": {**layers, "help": _layers_help(*style)},
        },
    )


def _layers_help(default: tuple[str, ...], example: str) -> str:
    return (
        f"VGG-19 layers by name, each with an optional weight (default 1), e.g. {example} "
        f"(default {','.join(default)})"
    )


def intermediate_path(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}.{step:04d}{out.suffix}")


def run(args: argparse.Namespace) -> int:
    """paint a photo in the style of a painting (Gatys et al.)

    Optimise an image so its VGG-19 content features match CONTENT and its Gram matrices match STYLE (Gatys et
    al. 2016).
    """
    styles, _ = styles_from_args(args)
    config = config_from_cli(args)
    check_face_mask(args.face_mask)
    if Path(args.content).is_dir():
        return run_folder(args, styles, config)
    face_mask = [args.face_mask] if args.face_mask else []
    init = () if args.init in NAMED_INITS else (args.init,)
    inputs = (args.content, *styles, *args.masks, *face_mask, *init)
    out = check_output_path(args.output, inputs=inputs)
    if args.save_every:  # every OUT.NNNN.png the run may write
        check_outputs(
            [out]
            + [intermediate_path(out, k) for k in range(args.save_every, config.iters + 1, args.save_every)],
            inputs,
        )
    masks = list(args.masks) or None
    check_style_counts(len(styles), masks=None if masks is None else len(masks))

    def save_intermediate(event) -> None:
        if args.save_every and event.step % args.save_every == 0 and event.image is not None:
            save_image(event.image, intermediate_path(out, event.step))

    vgg_weights = load_cached(args.weights)  # fetched on first use (message on stderr) before the bar starts
    with closing(ProgressBar("stylize", extra=save_intermediate)) as bar:
        result = stylize(
            args.content,
            styles,
            config,
            masks=masks,
            callback=bar,
            weights=vgg_weights,
            face_mask=args.face_mask,
        )
    save_image(result.image, out, alpha=result.alpha)
    done = f"wrote {out}" + (f" ({result.note})" if result.note else "")
    return finish(result.interrupted, done, f"wrote the best image so far to {out}")


# ------------------------------------------------------------------------------------------ folders


def run_folder(args: argparse.Namespace, styles: list[str], config: StylizeConfig) -> int:
    """Paint every photo of a folder into ``-o OUTDIR``: style targets computed once per scale, one
    progress bar, an unreadable photo reported and skipped, Ctrl-C keeping the photos finished."""
    folder, out = Path(args.content), Path(args.output)
    if out.suffix.lower() in SAVE_FORMATS:
        raise ImageError(
            f"content image '{folder}' is a directory; to paint every photo in it, give -o a folder, "
            f"not '{out}'",
            field="content",
        )
    files = _images_in(folder)
    if not files:
        raise ImageError(f"folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})", field="content")
    if out.exists() and not out.is_dir():
        raise ImageError(f"output '{out}' must be a folder when the content is a folder", field="output")
    if out.resolve() == folder.resolve():
        raise ImageError(
            f"output folder '{out}' is the input folder; refusing to overwrite the photos", field="output"
        )
    if not out.parent.is_dir():
        raise ImageError(f"output directory '{out.parent}' does not exist", field="output")
    if args.masks:
        raise ConfigError(
            "--mask gives a region of one photo; with a folder use --face-mask or none", field="mask"
        )
    if args.save_every:
        raise ConfigError("--save-every is for a single photo, not a folder", field="save_every")
    for i, style in enumerate(styles):  # a bad style image would otherwise look like a bad photo each time
        load_image(style, 16, what=f"style image {i + 1}" if len(styles) > 1 else "style image")
    vgg_weights = load_cached(args.weights)
    jobs = [(f, out / (f.stem + args.format)) for f in files]
    extra = [p for p in (args.face_mask, None if args.init in NAMED_INITS else args.init) if p]
    # a.jpg and a.png would both become a.png: refused before anything is written
    check_outputs([dst for _, dst in jobs], [*files, *styles, *extra])
    out.mkdir(exist_ok=True)
    for src, dst in jobs:
        check_output_path(dst, inputs=(src, *styles, *extra))
    cache = StyleCache()
    bar = ProgressBar(f"stylize {len(jobs)} photos")
    # one stage per photo; each photo's events (step over its whole schedule) relayed as that stage's
    per_photo = config.iters * len(config.sizes())
    progress = Clock([Stage("", per_photo)] * len(jobs), bar)
    written, skipped, interrupted = 0, 0, False
    try:
        for k, (src, dst) in enumerate(jobs):
            try:
                result = stylize(
                    src,
                    styles,
                    config,
                    callback=progress.relay(k),
                    weights=vgg_weights,
                    face_mask=args.face_mask,
                    cache=cache,
                )
            except ImageError as exc:
                print(f"impasto: skipped: {exc}", file=sys.stderr)
                skipped += 1
                continue
            if result.interrupted:  # Ctrl-C inside the optimisation: this photo is not finished
                interrupted = True
                break
            save_image(result.image, dst, alpha=result.alpha)
            written += 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    done = f"wrote {written} of {len(jobs)} images to {out}"
    if interrupted:
        print(f"impasto: interrupted; {done} (the photos finished before Ctrl-C)", file=sys.stderr)
        return 130
    print(done, file=sys.stderr)
    if skipped:
        raise ConfigError(f"{skipped} of {len(jobs)} photos could not be read")
    return 0
