"""`impasto weights fetch|info` — the VGG-19 weights and the face detector."""

from __future__ import annotations

import argparse

from .. import faces, weights
from .common import notify


def register(sub) -> None:
    p = sub.add_parser("weights", help="fetch or describe the VGG-19 weights and the face detector")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=type(p))
    wsub.required = True
    f = wsub.add_parser("fetch", help="download, verify and cache the default VGG-19 weights and the face detector")
    f.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    f.set_defaults(run=run_fetch)
    i = wsub.add_parser("info", help="show source, cache path, checksum and licence")
    i.set_defaults(run=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    path = weights.fetch(force=args.force, notify=notify)
    print(f"VGG-19 weights ready: {path}")
    print(f"face detector ready: {faces.fetch(force=args.force, notify=notify)}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    for key, value in weights.info().items():
        print(f"{key:15} {value}")
    print("\nface detector (--faces auto, impasto faces)")
    for key, value in faces.info().items():
        print(f"{key:15} {value}")
    return 0
