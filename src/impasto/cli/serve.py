"""`impasto serve` — the web service: REST API, job queue with worker processes, browser UI."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

from ..errors import ImpastoError
from .common import notify, number, positive_int


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("impasto")) / "service"


def register(sub) -> None:
    from ..service.limits import Settings

    p = sub.add_parser(
        "serve", help="run the web service (REST API + browser UI)",
        description="Serve the REST API and the browser UI. Jobs are kept in a SQLite queue under the data "
        "directory and run by worker processes; they survive a restart. Needs the 'serve' extra: "
        "pip install 'impasto[serve]'.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="jobs, uploads and results (default: the user data directory, impasto/service)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads per worker (default: CPU cores / workers)")
    p.add_argument("--api-key", default=None,
                   help="require this key (X-API-Key header) on every route but /healthz; "
                   "default: $IMPASTO_API_KEY, else no key")
    p.add_argument("--retention", default="7d", metavar="DURATION",
                   help="delete finished jobs after this long: 90s, 30m, 12h, 7d (default 7d)")
    p.add_argument("--min-free-mb", type=number, default=Settings.min_free_mb, metavar="MB",
                   help="free space kept in the data directory: below it submissions get 507, workers wait and "
                   f"/healthz says degraded, until space returns (default {Settings.min_free_mb:g})")
    p.add_argument("--recover", action="store_true",
                   help="rebuild the job queue from the job records (jobs/<id>/job.json) when its database is "
                   "unreadable, empty or missing; the broken file is moved aside, never deleted")
    p.add_argument("--gallery", type=Path, default=None,
                   help="directory of style images offered by the browser UI (default: examples/ of a checkout)")
    from ..service.kinds import field_docs
    from ..service.limits import Limits

    limits = p.add_argument_group("limits (a request above one is refused with 413, 422 or 429)")
    docs = field_docs(Limits)
    for f in fields(Limits):
        default = getattr(Limits(), f.name)
        limits.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=default,
                            type=number if isinstance(default, float) else positive_int,
                            help=f"{docs.get(f.name, '')} (default {default})".strip())
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ImpastoError("the web service needs the 'serve' extra: pip install 'impasto[serve]'") from None
    import logging

    from ..service.limits import Limits, Settings, default_gallery, parse_duration
    from ..service.server import serve

    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    api_key = args.api_key if args.api_key is not None else os.environ.get("IMPASTO_API_KEY") or None
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    gallery = args.gallery if args.gallery is not None else default_gallery()
    if args.gallery is not None and not args.gallery.is_dir():
        raise ImpastoError(f"gallery '{args.gallery}' is not a directory")
    settings = Settings(data_dir=data_dir, host=args.host, port=args.port, workers=args.workers, api_key=api_key,
                        limits=limits, retention=parse_duration(args.retention), gallery=gallery,
                        threads=args.threads, min_free_mb=args.min_free_mb)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s: %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        notify(f"warning: serving on {args.host} without an API key; anyone who can reach it can submit jobs")

    def ready() -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        notify(f"serving on http://{host}:{args.port}/ with {args.workers} worker(s); data in {data_dir}"
               + ("; API key required" if api_key else ""))

    def recovered(done) -> None:
        moved = f"; the broken database was moved to {done.moved_to}" if done.moved_to else ""
        bad = f"; {len(done.unreadable)} unreadable record(s) left in place" if done.unreadable else ""
        notify(f"recovered {done.restored} job(s) from their records ({done.kept} already in the queue){moved}{bad}")

    serve(settings, log_level=args.log_level, on_ready=ready, recover_queue=args.recover, on_recover=recovered)
    return 0
