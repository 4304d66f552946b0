"""The scale-out backend, built: the Redis job store, the Redis file store and the Celery dispatcher on
one Redis URL — for the API (:func:`build_redis`, from ``impasto serve --redis``) and for a worker
(:func:`redis_backends`, from ``impasto worker``, with the settings the API published)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .backends import Backends
from .celery_dispatch import CeleryDispatcher, ServiceConfig
from .limits import Settings
from .redis_client import connect, ping, translate
from .redis_files import RedisFileStore
from .redis_jobs import RedisJobStore

PREFIX = "impasto:"


def redis_backends(
    url: str,
    *,
    config: ServiceConfig | None = None,
    prefix: str = PREFIX,
    patience: float = 0.0,
    progress_interval: float = 0.0,
    cache_dir: Path | None = None,
    local_workers: int = 0,
    threads: int | None = None,
    work_dir: Path | None = None,
    lease: float | None = None,
) -> Backends:
    """The three stores on the Redis at ``url``. ``config``: the service's (the API passes its own; a
    worker reads what the API published). ``patience``: seconds a call waits for an unreachable Redis
    before raising (0 for the API: it answers 503 at once)."""
    if config is None:
        client = connect(url)
        try:
            with translate(url):
                config = ServiceConfig.read(client, prefix)
        finally:
            client.close()
    jobs = RedisJobStore(url, prefix=prefix, patience=patience, progress_interval=progress_interval)
    files = RedisFileStore(url, ttl=config.file_ttl, prefix=prefix, cache_dir=cache_dir, patience=patience)
    dispatcher = CeleryDispatcher(
        url,
        jobs,
        config=config,
        prefix=prefix,
        local_workers=local_workers,
        threads=threads,
        work_dir=work_dir,
        lease=lease,
    )
    return Backends(jobs=jobs, files=files, dispatcher=dispatcher)


def build_redis(settings: Settings, *, role: Literal["server", "worker"] = "server") -> Backends:
    """The backends of ``impasto serve --redis URL``: Redis unreachable → one line naming the URL
    (:class:`~impasto.errors.ImpastoError`). The files' lifetime and the visibility timeout follow from
    the server's retention and limits (the largest compute budget of its kinds)."""
    from .kinds import job_budget, load_kinds

    assert settings.redis is not None
    ping(settings.redis)
    kinds = load_kinds()
    budget = max((job_budget(k, settings.limits) for k in kinds.values()), default=None)
    config = ServiceConfig.for_settings(settings.retention, settings.limits, budget)
    data_dir = Path(settings.data_dir)
    return redis_backends(
        settings.redis,
        config=config,
        cache_dir=data_dir / "cache",
        local_workers=settings.workers if role == "server" else 0,
        threads=settings.threads,
        work_dir=data_dir / "tmp",
        lease=settings.lease,
    )
