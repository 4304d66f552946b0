"""`impasto dream IMAGE -o OUT` and `impasto dream-zoom IMAGE -o OUT.gif|.mp4` — DeepDream on VGG-19."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from ..dream import DreamConfig, check_animation_path, dream, dream_zoom, save_animation
from ..images import load_image
from ..optimize import ProgressEvent
from ..output import check_output_path, save_image
from ..weights import load_cached
from .common import ProgressBar, add_command, add_options, add_weights_option, config_from_args, finish


def size_option(text: str) -> int | None:
    """``--size N`` or ``--size original`` (None: the input's own size)."""
    if text == "original":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in pixels or 'original', got {text!r}") from None


#: The animation's options, which only dream-zoom takes.
ZOOM_OPTIONS = ("frames", "zoom", "fps")


def register(sub) -> None:
    p = add_command(sub, "dream", run_dream)
    p.add_argument("image", help="input image")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    add_dream_options(p, zoom=False)

    z = add_command(sub, "dream-zoom", run_zoom)
    z.add_argument("image", help="input image (the first frame)")
    z.add_argument("-o", "--output", required=True, help="output animation (.gif or .mp4)")
    add_dream_options(z, zoom=True)


def add_dream_options(p: argparse.ArgumentParser, *, zoom: bool) -> None:
    """Every DreamConfig option, derived from its declaration (the animation's only with ``zoom``)."""
    add_options(
        p,
        DreamConfig,
        skip=() if zoom else ZOOM_OPTIONS,
        custom={
            "layers": {"flags": ("--layer", "--layers")},
            "size": {"type": size_option},
            "preserve_color": {"flags": ("--preserve-color", "--preserve-colour")},
        },
    )
    p.add_argument(
        "--guide",
        metavar="IMAGE",
        default=None,
        help="guided dreaming: push each position towards its best-matching feature of IMAGE",
    )
    add_weights_option(p)


class DreamBar(ProgressBar):
    """One tqdm bar over all octaves (and frames); the ETA is the library's, weighted by pixels.
    Without a terminal, plain progress lines as :class:`~impasto.cli.common.ProgressBar` writes them."""

    def _bar(self, event: ProgressEvent, shown: dict[str, str]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=event.total,
                desc=self.desc,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
            )
        self.bar.n = event.step
        eta = "?" if event.eta is None else _clock(event.eta)
        value = event.losses.get("objective", float("nan"))
        self.bar.set_postfix_str(f"eta {eta}, {event.stage}, objective={value:.3g}", refresh=False)
        self.bar.refresh()


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def _check_inputs(args: argparse.Namespace) -> DreamConfig:
    """Everything that can be wrong with the arguments, before any work."""
    config = config_from_args(DreamConfig, args)
    load_image(args.image, 16, what="image")
    if args.guide is not None:
        load_image(args.guide, 16, what="guide image")
    return config


def run_dream(args: argparse.Namespace) -> int:
    """DeepDream: amplify the patterns a VGG-19 layer sees

    Change IMAGE by gradient ascent so the patterns the chosen VGG-19 layers detect are amplified (Mordvintsev
    et al. 2015, 'Inceptionism'; on VGG-19 instead of GoogLeNet).
    """
    inputs = (args.image,) + ((args.guide,) if args.guide else ())
    out = check_output_path(args.output, inputs=inputs)
    config = _check_inputs(args)
    vgg_weights = load_cached(args.weights)  # fetched on first use, with a message, before the bar
    with closing(DreamBar("dream")) as bar:
        result = dream(args.image, config, guide=args.guide, callback=bar, weights=vgg_weights)
    save_image(result.image, out, alpha=result.alpha)
    return finish(result.interrupted, f"wrote {out}", f"wrote the dream so far to {out}")


def run_zoom(args: argparse.Namespace) -> int:
    """DeepDream zoom animation (GIF or MP4)

    Dream, zoom into the centre, dream again: the zoom feedback animation of Google's deepdream notebook,
    written as a looping GIF or an MP4 (needs PyAV: impasto[video]).
    """
    out = check_animation_path(args.output, inputs=(args.image,) + ((args.guide,) if args.guide else ()))
    config = _check_inputs(args)
    vgg_weights = load_cached(args.weights)
    with closing(DreamBar("dream-zoom")) as bar:
        result = dream_zoom(args.image, config, guide=args.guide, callback=bar, weights=vgg_weights)
    save_animation(result.frames, out, fps=config.fps)
    n = len(result.frames)
    return finish(result.interrupted, f"wrote {out} ({n} frames)", f"wrote the {n} frame(s) so far to {out}")
