"""`impasto serve` — the web service: REST API, job queue with worker processes, browser UI."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

from ..errors import ImpastoError
from .common import add_command, notify, number, positive_int


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("impasto")) / "service"


def register(sub) -> None:
    from ..service.limits import Settings

    p = add_command(sub, "serve", run)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="jobs, uploads and results (default: the user data directory, impasto/service)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); with --redis, 0 runs the API alone (README: Scaling out)",
    )
    p.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="the scale-out backend: jobs and files in this Redis (redis://HOST:PORT/DB), run by "
        "`impasto worker --redis URL` on any machine; needs the 'scale' extra",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads per worker (default: CPU cores / workers)",
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key (X-API-Key header) on every route but /healthz; "
        "default: $IMPASTO_API_KEY, else no key",
    )
    p.add_argument(
        "--retention",
        default="7d",
        metavar="DURATION",
        help="delete finished jobs after this long: 90s, 30m, 12h, 7d (default 7d)",
    )
    p.add_argument(
        "--min-free-mb",
        type=number,
        default=Settings.min_free_mb,
        metavar="MB",
        help="free space kept in the data directory: below it submissions get 507, workers wait and "
        f"/healthz says degraded, until space returns (default {Settings.min_free_mb:g})",
    )
    p.add_argument(
        "--recover",
        action="store_true",
        help="rebuild the job queue from the job records (jobs/<id>/job.json) when its database is "
        "unreadable, empty or missing; the broken file is moved aside, never deleted",
    )
    p.add_argument(
        "--gallery",
        type=Path,
        default=None,
        help="directory of style images offered by the browser UI (default: examples/ of a checkout)",
    )
    from ..options import field_docs
    from ..service.limits import Limits

    limits = p.add_argument_group("limits (a request above one is refused with 413, 422 or 429)")
    docs = field_docs(Limits)
    for f in fields(Limits):
        default = getattr(Limits(), f.name)
        limits.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            default=default,
            type=number if isinstance(default, float) else positive_int,
            help=f"{docs.get(f.name, '')} (default {default})".strip(),
        )
    add_access_options(p)
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def add_access_options(p) -> None:
    from ..options import field_docs
    from ..service.auth import Access

    docs, d = {k: v.rstrip(".") for k, v in field_docs(Access).items()}, Access()
    g = p.add_argument_group("keys, sessions and hosts (see README: Sharing a server)")
    g.add_argument(
        "--keys",
        dest="keys_file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"{docs.get('keys_file', '')} (default: DATA_DIR/keys when it exists)",
    )
    g.add_argument(
        "--admin-key",
        default=None,
        metavar="KEY",
        help=f"{docs.get('admin_key', '')}; default: $IMPASTO_ADMIN_KEY, else none",
    )
    g.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="NAME",
        help=f"{docs.get('allowed_hosts', '')}; repeatable",
    )
    g.add_argument(
        "--session-hours",
        type=number,
        metavar="HOURS",
        default=d.session_hours,
        help=f"{docs.get('session_hours', '')} (default {d.session_hours:g})",
    )
    g.add_argument("--secure-cookie", action="store_true", help=docs.get("secure_cookie", ""))
    g.add_argument(
        "--rate-limit",
        default=None,
        metavar="N/min",
        help=f"{docs.get('rate_limit', '')}: 10/min, 2/s, 100/h",
    )
    for name in ("header_timeout", "body_timeout", "keep_alive"):
        g.add_argument(
            f"--{name.replace('_', '-')}",
            type=number,
            default=getattr(d, name),
            metavar="SECONDS",
            help=f"{docs.get(name, '')} (default {getattr(d, name):g})",
        )


def access_settings(args: argparse.Namespace, data_dir: Path):
    from ..service.auth import Access, parse_rate

    keys_file = args.keys_file
    if keys_file is None and (data_dir / "keys").is_file():
        keys_file = data_dir / "keys"
    elif keys_file is not None and not keys_file.is_file():
        raise ImpastoError(
            f"keys file '{keys_file}' does not exist; make it with: impasto keys add NAME --file {keys_file}"
        )
    admin_key = args.admin_key if args.admin_key is not None else os.environ.get("IMPASTO_ADMIN_KEY") or None
    return Access(
        admin_key=admin_key,
        keys_file=keys_file,
        session_hours=args.session_hours,
        allowed_hosts=tuple(args.allowed_hosts),
        secure_cookie=args.secure_cookie,
        rate_limit=parse_rate(args.rate_limit) if args.rate_limit is not None else None,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive=args.keep_alive,
    )


def run(args: argparse.Namespace) -> int:
    """run the web service (REST API + browser UI)

    Serve the REST API and the browser UI. Jobs are kept in a SQLite queue under the data directory and run by
    worker processes; they survive a restart. Needs the 'serve' extra: pip install 'impasto[serve]'.
    """
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
    access = access_settings(args, data_dir)
    if args.recover and args.redis:
        raise ImpastoError(
            "--recover rebuilds the embedded backend's SQLite queue; it does not apply to --redis"
        )
    if args.workers < (0 if args.redis else 1):
        raise ImpastoError(
            f"--workers must be positive, got {args.workers} (0, the API alone, needs --redis)"
        )
    settings = Settings(
        data_dir=data_dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        api_key=api_key,
        limits=limits,
        retention=parse_duration(args.retention),
        gallery=gallery,
        threads=args.threads,
        access=access,
        min_free_mb=args.min_free_mb,
        redis=args.redis,
    )
    if args.redis is not None:
        try:
            import celery  # noqa: F401
            import redis  # noqa: F401
        except ImportError:
            raise ImpastoError("--redis needs the 'scale' extra: pip install 'impasto[scale]'") from None
        from ..service.redis_client import check_url

        check_url(args.redis)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s: %(message)s"
    )
    from ..service.auth import KeyRing, allowed_hosts
    from ..service.redis_client import display_url

    ring = KeyRing(
        api_key=api_key, admin_key=access.admin_key, keys_file=access.keys_file
    )  # a bad file: one line
    if args.host not in ("127.0.0.1", "localhost", "::1") and not ring.required:
        notify(f"warning: serving on {args.host} without an API key; anyone who can reach it can submit jobs")

    def ready() -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        keys = ring.names()
        notify(
            f"serving on http://{host}:{args.port}/ with {args.workers} worker(s); data in {data_dir}"
            + (f"; jobs in Redis at {display_url(args.redis)}" if args.redis else "")
            + (f"; API key required ({len(keys)} key(s): {', '.join(keys)})" if ring.required else "")
            + f"; host names accepted: {', '.join(allowed_hosts(args.host, access.allowed_hosts))}"
        )

    def recovered(done) -> None:
        moved = f"; the broken database was moved to {done.moved_to}" if done.moved_to else ""
        bad = f"; {len(done.unreadable)} unreadable record(s) left in place" if done.unreadable else ""
        notify(
            f"recovered {done.restored} job(s) from their records ({done.kept} already in the queue){moved}{bad}"
        )

    serve(
        settings, log_level=args.log_level, on_ready=ready, recover_queue=args.recover, on_recover=recovered
    )
    return 0
