"""`impasto dream IMAGE -o OUT` and `impasto dream-zoom IMAGE -o OUT.gif|.mp4` — DeepDream on VGG-19."""

from __future__ import annotations

import argparse
import sys

from ..dream import DreamConfig, check_animation_path, dream, dream_zoom, save_animation
from ..images import check_output_path, load_image, save_image
from ..optimize import ProgressEvent
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

D = DreamConfig()


def channel_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated channel indices, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected comma-separated channel indices")
    return values


def size_option(text: str) -> int | None:
    if text == "original":
        return None
    return positive_int(text)


def tile_option(text: str) -> int | str:
    if text in ("auto", "off"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size in pixels, 'auto' or 'off', got {text!r}"
        ) from None


def register(sub) -> None:
    p = sub.add_parser(
        "dream",
        help="DeepDream: amplify the patterns a VGG-19 layer sees",
        description="Change IMAGE by gradient ascent so the patterns the chosen VGG-19 layers detect are "
        "amplified (Mordvintsev et al. 2015, 'Inceptionism'; on VGG-19 instead of GoogLeNet).",
    )
    p.add_argument("image", help="input image")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    add_dream_options(p)
    p.set_defaults(run=run_dream)

    z = sub.add_parser(
        "dream-zoom",
        help="DeepDream zoom animation (GIF or MP4)",
        description="Dream, zoom into the centre, dream again: the zoom feedback animation of Google's "
        "deepdream notebook, written as a looping GIF or an MP4 (needs PyAV: impasto[video]).",
    )
    z.add_argument("image", help="input image (the first frame)")
    z.add_argument("-o", "--output", required=True, help="output animation (.gif or .mp4)")
    z.add_argument(
        "--frames", type=positive_int, default=D.frames, help=f"number of frames (default {D.frames})"
    )
    z.add_argument(
        "--zoom",
        type=number,
        default=D.zoom,
        help=f"fraction of width and height cropped away between frames (default {D.zoom})",
    )
    z.add_argument("--fps", type=positive_int, default=D.fps, help=f"frames per second (default {D.fps})")
    add_dream_options(z)
    z.set_defaults(run=run_zoom)


def add_dream_options(p: argparse.ArgumentParser) -> None:
    """Options mirroring DreamConfig; every default is read from it."""
    p.add_argument(
        "--layer",
        "--layers",
        dest="layers",
        type=layer_list,
        default=D.layers,
        metavar="L1,L2",
        help=f"VGG-19 layer(s) to amplify, e.g. relu3_3 (shallow) … relu5_2 (deep) "
        f"(default {','.join(D.layers)})",
    )
    p.add_argument(
        "--channels",
        type=channel_list,
        default=D.channels,
        metavar="C1,C2",
        help="only these channels of the layer(s) count (default: all)",
    )
    p.add_argument(
        "--objective",
        choices=("mean-square", "l2"),
        default=D.objective,
        help="mean squared activation (default) or the L2 norm of each layer's activations",
    )
    p.add_argument(
        "--guide",
        metavar="IMAGE",
        default=None,
        help="guided dreaming: push each position towards its best-matching feature of IMAGE",
    )
    p.add_argument(
        "--guide-size",
        type=positive_int,
        default=D.guide_size,
        help=f"longest side of the guide image for its features (default {D.guide_size})",
    )
    p.add_argument("--octaves", type=int, default=D.octaves, help=f"number of scales (default {D.octaves})")
    p.add_argument(
        "--octave-scale",
        type=number,
        default=D.octave_scale,
        help=f"size ratio between octaves, above 1 (default {D.octave_scale})",
    )
    p.add_argument("--steps", type=int, default=D.steps, help=f"ascent steps per octave (default {D.steps})")
    p.add_argument(
        "--step-size",
        type=number,
        default=D.step_size,
        help=f"step length in [0, 1] image units (default {D.step_size:.4f} = 1.5/255)",
    )
    p.add_argument(
        "--jitter",
        type=int,
        default=D.jitter,
        help=f"largest random roll in pixels before each step (default {D.jitter})",
    )
    p.add_argument(
        "--tile",
        type=tile_option,
        default=D.tile,
        metavar="SIZE|auto|off",
        help="compute the gradient in tiles of SIZE px to bound memory; auto tiles images "
        "above 1024 px (default auto)",
    )
    p.add_argument(
        "--size",
        type=size_option,
        default=D.size,
        metavar="N|original",
        help=f"longest side of the output (default {D.size})",
    )
    p.add_argument(
        "--preserve-color",
        "--preserve-colour",
        dest="preserve_color",
        action="store_true",
        help="keep the input's colours: use only the dream's luminance",
    )
    p.add_argument("--seed", type=int, default=D.seed, help=f"random seed of the jitter (default {D.seed})")
    p.add_argument("--pool", choices=("max", "avg"), default=D.pool, help=f"VGG pooling (default {D.pool})")
    add_device_options(p, D.device, D.precision)
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
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def _check_inputs(args: argparse.Namespace) -> DreamConfig:
    """Everything that can be wrong with the arguments, before any work."""
    config = config_from_args(DreamConfig, args)
    load_image(args.image, 16, what="image")
    if args.guide is not None:
        load_image(args.guide, 16, what="guide image")
    return config


def run_dream(args: argparse.Namespace) -> int:
    inputs = (args.image,) + ((args.guide,) if args.guide else ())
    out = check_output_path(args.output, inputs=inputs)
    config = _check_inputs(args)
    bar = DreamBar("dream")
    try:
        load_cached(args.weights, notify=notify)  # fetches on first use, with a message, before the bar
        result = dream(args.image, config, guide=args.guide, callback=bar, weights=args.weights)
    finally:
        bar.close()
    save_image(result.image, out, alpha=result.alpha)
    return finish(result.interrupted, f"wrote {out}", f"wrote the dream so far to {out}")


def run_zoom(args: argparse.Namespace) -> int:
    out = check_animation_path(args.output, inputs=(args.image,) + ((args.guide,) if args.guide else ()))
    config = _check_inputs(args)
    bar = DreamBar("dream-zoom")
    try:
        load_cached(args.weights, notify=notify)
        result = dream_zoom(args.image, config, guide=args.guide, callback=bar, weights=args.weights)
    finally:
        bar.close()
    save_animation(result.frames, out, fps=config.fps)
    n = len(result.frames)
    return finish(result.interrupted, f"wrote {out} ({n} frames)", f"wrote the {n} frame(s) so far to {out}")
