"""The service's backends, built once at start-up from the settings: a job store, a file store and a
dispatcher (the protocols of :mod:`.stores`). The API, the server and the workers get them from here
and never construct a store themselves.

Today: the embedded backend — the SQLite job store in ``DATA_DIR/jobs.sqlite3`` (:mod:`.queue`), job
files in ``DATA_DIR/jobs/<id>/`` (:mod:`.files`), local worker processes that claim from the job store
(:mod:`.dispatch`). Another backend is one more branch in :func:`build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ImpastoError
from .limits import Settings
from .stores import Dispatcher, FileStore, JobStore


@dataclass(frozen=True)
class Backends:
    """The three interfaces the service runs on."""

    jobs: JobStore
    files: FileStore
    dispatcher: Dispatcher

    def close(self) -> None:
        """Release this process's connections."""
        self.jobs.close()


def build(
    settings: Settings,
    *,
    role: Literal["server", "worker"] = "server",
    recover: bool = False,
    on_recover: Callable[[object], None] | None = None,
) -> Backends:
    """The backends ``settings`` ask for. For the ``server`` (the one process that owns the embedded
    backend's data directory, under its lock) a broken or emptied SQLite database is refused with one
    line (:class:`~impasto.errors.ImpastoError`) — or, with ``recover``, moved aside and rebuilt from the
    job records, ``on_recover`` receiving the :class:`~impasto.service.recover.Recovery`. A ``worker``
    builds the same stores and never starts the dispatcher."""
    if settings.redis is not None:  # the scale-out backend (README: Scaling out)
        from .redis_backend import build_redis

        return build_redis(settings, role=role)
    from .dispatch import LocalDispatcher
    from .files import LocalFileStore
    from .queue import SQLiteJobStore
    from .recover import database_problem
    from .recover import recover as rebuild

    data_dir = Path(settings.data_dir)
    if role == "server":
        if recover:
            done = rebuild(data_dir)
            if on_recover is not None:
                on_recover(done)
        elif (problem := database_problem(data_dir)) is not None:
            raise ImpastoError(problem)
    jobs = SQLiteJobStore(data_dir)
    return Backends(
        jobs=jobs, files=LocalFileStore(data_dir / "jobs"), dispatcher=LocalDispatcher(settings, jobs)
    )
