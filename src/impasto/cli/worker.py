"""`impasto worker` — one worker of the scale-out backend (README: Scaling out): takes jobs from the
Redis that `impasto serve --redis URL` uses, on this machine or any other."""

from __future__ import annotations

import argparse

from ..errors import ImpastoError
from .common import add_command, number, positive_int


def register(sub) -> None:
    from ..service.stores import LEASE

    p = add_command(sub, "worker", run)
    p.add_argument("--redis", required=True, metavar="URL", help="the server's Redis: redis://HOST:PORT/DB")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads for the job (default: torch's choice, the CPU cores)",
    )
    p.add_argument("--name", default=None, help="this worker's name in logs and leases (default HOST-PID)")
    p.add_argument(
        "--lease",
        type=number,
        default=LEASE,
        metavar="SECONDS",
        help="how long a running job stays held without a heartbeat: a SIGKILLed worker's job goes to "
        f"another worker after about this long (default {LEASE:g})",
    )
    p.add_argument(
        "--preview-interval",
        type=number,
        default=1.0,
        metavar="SECONDS",
        help="seconds between preview images of a running job (default 1)",
    )
    p.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # set by `impasto serve`
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def run(args: argparse.Namespace) -> int:
    """run jobs of an `impasto serve --redis` service (any machine)

    One Celery worker of the scale-out backend: it needs only the Redis URL the server uses (jobs, uploads and
    results travel through Redis; the VGG-19 weights it fetches itself) and runs one job at a time, logging
    one line per job. SIGTERM or Ctrl-C puts the running job back in the queue. Needs the 'scale' extra: pip
    install 'impasto[scale]'.
    """
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise ImpastoError("the worker needs the 'scale' extra: pip install 'impasto[scale]'") from None
    import logging
    import sys

    from ..service.celery_worker import start
    from ..service.redis_client import check_url

    check_url(args.redis)
    if not args.lease > 0 or not args.preview_interval > 0:
        raise ImpastoError("--lease and --preview-interval must be positive")
    name = args.name or ""
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("celery").setLevel(logging.WARNING)  # our one line per job, not Celery's three
    start(
        args.redis,
        name=name or None,
        threads=args.threads or 0,
        lease=args.lease,
        preview_interval=args.preview_interval,
        parent=args.parent,
    )
    return 0
