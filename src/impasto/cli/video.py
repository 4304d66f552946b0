"""`impasto video IN -o OUT [--model M] [--style k] [--strength s] [--temporal w]` — stylize a video."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from ..fast.arbitrary import ArbitraryConfig
from ..fast.infer import FastConfig
from ..fast.video import DEFAULT_TEMPORAL
from .common import ProgressBar, add_command, add_options, config_from_args, number
from .fast import add_style_image_options

STRENGTH_HELP = (
    "0..1 pixel blend; with --style-image from the first frame's own style to the painting's (default "
    f"{FastConfig().strength})"
)


def register(sub) -> None:
    p = add_command(sub, "video", run)
    p.add_argument("input", help="input video")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .mov, .webm, .avi)")
    add_options(
        p,
        FastConfig,
        only=("model", "style", "strength", "device", "precision"),
        custom={"strength": {"help": STRENGTH_HELP}},
    )
    add_style_image_options(
        p,
        "paint with any painting instead of the model's styles (repeatable blend, as for `impasto fast`); "
        "its style vector is computed once for all frames",
    )
    p.add_argument(
        "--temporal",
        type=number,
        default=DEFAULT_TEMPORAL,
        metavar="W",
        help="0..<1, against flicker: keep the strokes on the camera's motion and blend each frame "
        "with the optical-flow-warped previous output where the flow is reliable; "
        "0 = every frame on its own (default %(default)s)",
    )
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    """stylize a video with a fast network (needs the 'video' extra)

    Stylize every frame at native resolution with a fast network; the audio is kept. Prints a flicker measure:
    mean absolute change between consecutive output frames relative to the input's. Ctrl-C keeps the frames
    done so far.
    """
    from ..fast.temporal import TemporalBlender
    from ..fast.video import check_video_output, probe, stylize_video

    config = config_from_args(FastConfig, args)
    TemporalBlender(args.temporal)  # the weight, and OpenCV when it is needed, before any work
    check_video_output(args.output, args.input)
    probe(args.input)
    painter = _painter(args) if args.style_images else None
    with closing(ProgressBar("video")) as bar:
        result = stylize_video(
            args.input,
            args.output,
            config,
            callback=bar,
            crf=args.crf,
            temporal=args.temporal,
            painter=painter,
        )
    h, w = result.size
    audio = "audio kept" if result.has_audio else "no audio"
    temporal = f"temporal blending {result.temporal:g}" if result.temporal else "no temporal blending"
    print(
        f"wrote {result.path}: {result.frames} frames {w}x{h}, {audio}, {result.seconds:.1f} s; "
        f"{temporal}; flicker {result.flicker:.2f} (output change {result.output_change:.4f} / input change {result.input_change:.4f})",
        file=sys.stderr,
    )
    return 130 if result.interrupted else 0


def _painter(args: argparse.Namespace):
    """``--style-image``: the arbitrary-style painter (paintings checked and encoded before any frame)."""
    from ..fast.arbitrary import painter
    from .stylize import style_specs

    paths, weights = style_specs(args.style_images)
    config = config_from_args(ArbitraryConfig, args, style_weights=weights)
    return painter(paths, config)
