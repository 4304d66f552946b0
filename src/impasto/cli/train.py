"""`impasto train --style A --style B ... --data DIR -o model.safetensors` — train a fast network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..fast.train import TrainConfig, train, validation_photo
from ..weights import load_cached
from .common import (
    ProgressBar,
    add_command,
    add_options,
    add_weights_option,
    config_from_args,
    notify,
    positive_int,
)


def register(sub) -> None:
    p = add_command(sub, "train", run)
    p.add_argument(
        "--style",
        action="append",
        required=True,
        dest="styles",
        metavar="IMAGE",
        help="style image; repeat for several styles (order = style index)",
    )
    p.add_argument(
        "--name",
        action="append",
        dest="style_names",
        default=None,
        metavar="NAME",
        help="display name of each style (repeat in --style order; default the file stem)",
    )
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="DIR",
        help="folder of training photos (searched recursively); repeatable",
    )
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument(
        "--add-style",
        dest="add_style_to",
        metavar="MODEL",
        default=None,
        help="fine-tune the new --style images into this existing model (only their γ, β)",
    )
    add_options(p, TrainConfig)
    p.add_argument(
        "--no-bf16", dest="precision", action="store_const", const="fp32", help="= --precision fp32"
    )
    p.add_argument(
        "--preview",
        metavar="PHOTO",
        default=None,
        help="validation photo rendered in every style at each preview (default: none)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads for torch (default: torch's choice; 1 is often faster on a busy machine)",
    )
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    add_weights_option(p)


def _stop_on_signals() -> dict:
    """SIGTERM (a killed session) and SIGINT (even when a background shell ignores it) stop training
    the way Ctrl-C does: the loop writes a checkpoint and the model before exiting."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, stop)
    return previous


def check_train_outputs(config: TrainConfig, preview: str | None) -> None:
    """The model, its checkpoint and the preview images: none of them a style image, the preview photo
    or the model being extended (``--add-style``)."""
    from ..output import check_outputs

    previews = (
        [
            config.preview_dir / f"step{k:06d}.png"
            for k in range(config.preview_every, config.steps + 1, config.preview_every)
        ]
        if preview
        else []
    )
    check_outputs(
        [Path(config.output), config.checkpoint, *previews],
        [*config.styles, preview, config.add_style_to, config.init_from],
    )


def run(args: argparse.Namespace) -> int:
    """train a fast multi-style network (Johnson et al. + Dumoulin et al.)

    Train a feed-forward style network with perceptual losses on a folder of photos; N styles in one network
    by conditional instance normalisation. Resumes from OUT.ckpt.
    """
    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise ConfigError(f"output '{out}' must end in .safetensors", field="output")
    if not out.parent.is_dir():
        raise ConfigError(f"output directory '{out.parent}' does not exist", field="output")
    config = config_from_args(
        TrainConfig,
        args,
        styles=tuple(args.styles),
        data=tuple(args.data),
        output=str(out),
        style_names=tuple(args.style_names or ()),
    )
    check_train_outputs(config, args.preview)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    photo = validation_photo(args.preview) if args.preview else None
    vgg_weights = load_cached(args.weights, notify=notify)  # fetched on first use, before the bar
    if config.checkpoint.exists() and not args.fresh:
        notify(f"resuming from {config.checkpoint}")
    previous = _stop_on_signals()
    bar = ProgressBar("train")
    try:
        result = train(
            config, callback=bar, warn=notify, resume=not args.fresh, weights=vgg_weights, validation=photo
        )
    finally:
        bar.close()
        import signal

        for sig, handler in previous.items():
            signal.signal(sig, handler)
    minutes = result.seconds / 60
    print(
        f"wrote {result.model} after {result.steps}/{config.steps} steps ({minutes:.1f} min of training in total; "
        f"{result.stop_reason})",
        file=sys.stderr,
    )
    if result.steps < config.steps:
        print(f"impasto: run the same command again to continue from {config.checkpoint}", file=sys.stderr)
    return 130 if result.interrupted else 0
