"""The service's backends, built once at start-up from the settings: a job store, a file store and a
dispatcher (the protocols of :mod:`.stores`). The API, the server and the workers get them from here
and never construct a store themselves.

Today: the embedded backend — SQLite job store in ``DATA_DIR/jobs.sqlite3``, job files in
``DATA_DIR/jobs/<id>/``, local worker processes that claim from the SQLite store. Another backend is one
more branch in :func:`build`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
