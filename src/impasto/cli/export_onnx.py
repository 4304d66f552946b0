"""`impasto export-onnx [--model M] -o model.onnx` — export a fast network to ONNX (extra 'onnx')."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from .common import add_command


def register(sub) -> None:
    p = add_command(sub, "export-onnx", run)
    p.add_argument("--model", default=None, metavar="NAME|PATH", help="model (default: the shipped model)")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip running the export with ONNX Runtime and comparing with PyTorch",
    )


def run(args: argparse.Namespace) -> int:
    """export a fast network to ONNX (needs the 'onnx' extra)

    Write an ONNX model with inputs 'image' (N,3,H,W in [0,1]; H, W multiples of 4) and 'style' (N, n_styles
    weights) and output 'stylized'. Checked with ONNX Runtime against PyTorch.
    """
    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"output '{out}' must end in .onnx", field="output")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise ConfigError(f"output directory '{out.parent}' does not exist", field="output")
    from ..fast.onnx import export_onnx, verify

    path = export_onnx(args.model, out)
    msg = f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)"
    if args.check:
        diff = verify(args.model, path)
        msg += f"; ONNX Runtime matches PyTorch (max abs difference {diff:.1e})"
    print(msg, file=sys.stderr)
    return 0
