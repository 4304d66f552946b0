"""`impasto weights fetch|info` — the VGG-19 weights, the arbitrary-style networks and the face detector."""

from __future__ import annotations

import argparse

from .. import faces, weights
from .common import notify


def register(sub) -> None:
    p = sub.add_parser(
        "weights",
        help="fetch or describe the VGG-19 weights, the arbitrary-style networks and the face detector",
    )
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=type(p))
    wsub.required = True
    f = wsub.add_parser(
        "fetch",
        help="download, verify and cache the default VGG-19 weights, the arbitrary-style "
        "networks (--style-image) and the face detector (--faces); a valid cache is kept",
    )
    f.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    f.set_defaults(run=run_fetch)
    i = wsub.add_parser("info", help="show source, cache path, checksum and licence")
    i.set_defaults(run=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    path = weights.fetch(force=args.force, notify=notify)
    print(f"VGG-19 weights ready: {path}")
    path = weights.fetch_arbitrary(force=args.force, notify=notify)
    print(f"arbitrary-style networks ready: {path}")
    print(f"face detector ready: {faces.fetch(force=args.force, notify=notify)}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    print("VGG-19")
    for key, value in weights.info().items():
        print(f"  {key:15} {value}")
    print("arbitrary-style networks (impasto fast --style-image)")
    for key, value in weights.arbitrary_info().items():
        print(f"  {key:15} {value}")
    print("face detector (--faces auto, impasto faces)")
    for key, value in faces.info().items():
        print(f"  {key:15} {value}")
    return 0
