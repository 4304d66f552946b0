"""`impasto` command line. Each sub-command lives in its own module with ``register(subparsers)``;
the library never prints, only this package does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ImpastoError
from . import dream as _dream
from . import export_onnx as _export_onnx
from . import faces as _faces
from . import fast as _fast
from . import keys as _keys
from . import reconstruct as _reconstruct
from . import serve as _serve
from . import styles as _styles
from . import stylize as _stylize
from . import sweep as _sweep
from . import texture as _texture
from . import train as _train
from . import video as _video
from . import weights as _weights
from . import worker as _worker

#: Sub-command modules, in the order `impasto --help` lists them.
COMMANDS = (
    _stylize,
    _weights,
    _serve,
    _worker,
    _keys,
    _train,
    _fast,
    _styles,
    _video,
    _export_onnx,
    _dream,
    _texture,
    _reconstruct,
    _sweep,
    _faces,
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"impasto: error: {message}\n")


def one_line(message: str) -> str:
    """Errors are one line: the first non-empty line of a message from a library we call."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    return lines[0] if lines else "unknown error"


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="impasto", description="Neural style transfer on an ImageNet VGG-19.")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .. import weights
    from .common import notify

    weights.set_notify(notify)  # first use of the weights fetches them, with a message on stderr
    try:
        return int(args.run(args) or 0)
    except ImpastoError as exc:
        print(f"impasto: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("impasto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
