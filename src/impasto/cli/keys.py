"""`impasto keys` — the API keys of `impasto serve`: add (prints the new key once), list, remove."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import add_command, notify


def register(sub) -> None:
    p = add_command(sub, "keys", run)
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="the keys file (default: DATA_DIR/keys of the default data directory, which "
        "`impasto serve` reads when it exists)",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="make a new key and print it (only this once)")
    add.add_argument("name", help="who the key is for (letters, digits, _.@-)")
    add.add_argument("--admin", action="store_true", help="the key sees and cancels every job")
    add.add_argument("--file", type=Path, default=argparse.SUPPRESS, help="the keys file")
    ls = actions.add_parser("list", help="names, roles and creation dates (never the keys)")
    ls.add_argument("--file", type=Path, default=argparse.SUPPRESS, help="the keys file")
    rm = actions.add_parser("remove", help="revoke a key (its sessions end too)")
    rm.add_argument("name")
    rm.add_argument("--file", type=Path, default=argparse.SUPPRESS, help="the keys file")


def run(args: argparse.Namespace) -> int:
    """manage the web service's API keys

    Named API keys for `impasto serve --keys FILE`, so a team shares one server without sharing one secret.
    The file keeps only a salted scrypt hash of each key; a running server re-reads it, so a removed key stops
    working at once.
    """
    from ..service.auth import KeyFile
    from .serve import default_data_dir

    keys = KeyFile(args.file if args.file is not None else default_data_dir() / "keys")
    if args.action == "add":
        key = keys.add(args.name, admin=args.admin)
        print(key)
        notify(
            f"{'admin ' if args.admin else ''}key '{args.name}' added to {keys.path}; it is shown only now "
            "(send it as the X-API-Key header, or log in with it in the browser)"
        )
    elif args.action == "list":
        entries = keys.load()
        for e in entries:
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at)) if e.created_at else "?"
            print(f"{e.name}\t{'admin' if e.admin else 'user'}\t{created}")
        if not entries:
            notify(f"no keys in {keys.path}")
    else:
        keys.remove(args.name)
        notify(f"key '{args.name}' removed from {keys.path}")
    return 0
