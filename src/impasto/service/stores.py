"""The service's three interfaces, chosen once at start-up (:mod:`impasto.service.backends`):

- :class:`JobStore` — the job records: state transitions, progress, the cancel flag, owners, retention,
  attempts, and a per-job **lease** that the worker running a job renews (a heartbeat);
- :class:`Dispatcher` — how a queued job reaches a worker (local worker processes that claim from the
  store; or a broker that pushes the job id to a worker anywhere);
- :class:`FileStore` — a job's files (inputs, preview, checkpoint, result) by (job id, name).

The API, the workers and the server name only these protocols; the implementations (SQLite and a local
directory today, in :mod:`.queue`, :mod:`.files` and :mod:`.dispatch`) are built by one factory. Every
implementation passes the contract suite in ``tests/service/contracts/``.

Leases: a worker that takes a job (:meth:`JobStore.claim_next` or :meth:`JobStore.claim`) holds it for
``lease`` seconds and renews it every :data:`HEARTBEAT` seconds (:meth:`JobStore.renew`). A worker that
dies stops renewing; whoever notices (the server's housekeeping, any worker) calls
:meth:`JobStore.requeue_expired` and dispatches what it returns again, the attempt count kept. A delivery
of a job that is final, or whose lease is live elsewhere, is dropped: :meth:`JobStore.claim` returns
None, so a job id may be delivered any number of times and still runs once at a time.

Every method of every store raises :class:`BackendUnavailable` (and nothing else backend-specific) when the
backend cannot be reached; the API answers it with 503 ``{"error": "backend_unavailable", ...}``. A full
disk is reported as today (:class:`~impasto.service.storage.StorageFull` or the ``OSError``/``sqlite3``
error it came from; the API answers 507).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

#: Job states; the last three are final.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass(frozen=True)
class Progress:
    """The latest progress of a running job (what ``GET /v1/jobs/{id}`` and the SSE stream show)."""

    step: int = 0
    total: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    stage: str = ""

    def to_json(self) -> str:
        """The progress as the job stores keep it."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Progress:
        """The progress a job store kept (none yet: empty)."""
        p = json.loads(text or "{}")
        return cls(
            int(p.get("step", 0)),
            int(p.get("total", 0)),
            dict(p.get("losses", {})),
            float(p.get("elapsed", 0.0)),
            p.get("eta"),
            str(p.get("stage", "")),
        )


@dataclass(frozen=True)
class Job:
    """One job as stored: what was asked (``kind``, ``params``, ``inputs``) and where it stands."""

    id: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, list[str]]
    """Form field → file names in the file store (``{"content": ["content.jpg"], ...}``)."""
    state: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: Progress = Progress()
    progress_seq: int = 0
    """Bumped on every progress update (the SSE stream emits an event when it changes)."""
    preview_seq: int = 0
    """Bumped whenever a new preview image has been written."""
    error: str | None = None
    result: str | None = None
    """File name of the result in the file store, once there is one."""
    cancel_requested: bool = False
    attempts: int = 0
    worker: str | None = None
    owner: str = "anonymous"
    """Who submitted it (``key:NAME``, ``session:ID`` or ``anonymous``); only they and admins see it."""
    lease_until: float | None = None
    """While running: the time (``time.time()``) at which ``worker``'s lease expires unless renewed."""

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Job:
        """A job from a store's record of it: ``params``, ``inputs`` and ``progress`` as JSON, numbers as
        numbers or as their text, a field that is None absent or None."""

        def number(name: str) -> float | None:
            return None if r.get(name) is None else float(r[name])

        return cls(
            id=r["id"],
            kind=r["kind"],
            params=json.loads(r["params"]),
            inputs=json.loads(r["inputs"]),
            state=r["state"],
            created_at=float(r["created_at"]),
            started_at=number("started_at"),
            finished_at=number("finished_at"),
            progress=Progress.from_json(r.get("progress")),
            progress_seq=int(r.get("progress_seq") or 0),
            preview_seq=int(r.get("preview_seq") or 0),
            error=r.get("error"),
            result=r.get("result"),
            cancel_requested=str(r.get("cancel_requested")) == "1",
            attempts=int(r.get("attempts") or 0),
            worker=r.get("worker"),
            owner=r.get("owner", "anonymous"),
            lease_until=number("lease_until"),
        )


LEASE = 30.0
"""Seconds a claimed job stays held without a heartbeat (the recovery time after a worker dies unseen)."""
HEARTBEAT = 5.0
"""Seconds between a running job's lease renewals."""
MAX_ATTEMPTS = 3
"""Starts of one job before a lost worker fails it (one poisonous job cannot loop forever)."""


def valid_id(job_id: str) -> bool:
    """Whether ``job_id`` looks like one of :meth:`JobStore.new_id`'s (lowercase hex, at most 64)."""
    return 0 < len(job_id) <= 64 and all(c in "0123456789abcdef" for c in job_id)


class BackendUnavailable(Exception):
    """The job store, file store or dispatcher cannot be reached (→ 503 ``backend_unavailable``)."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend} is unavailable: {detail}")
        self.backend, self.detail = backend, detail


class JobStore(Protocol):
    """The job records. Every state change is atomic (all or nothing, visible to every process at once);
    a method that changes a job which is not in the state it expects changes nothing.

    An implementation subclasses this protocol: the methods with a body here are the same for every
    store (ids, the checks of what is asked, :meth:`fail`); the storage is in the others, and in
    ``_add`` and ``_end``, which :meth:`submit` and :meth:`finish` call once the request is checked."""

    def new_id(self) -> str:
        """A fresh, unguessable job id (32 lowercase hex digits); its files may be stored before
        :meth:`submit`."""
        return uuid.uuid4().hex

    def submit(
        self,
        job_id: str,
        kind: str,
        params: dict[str, Any],
        inputs: dict[str, list[str]],
        *,
        max_pending: int | None = None,
        owner: str = "anonymous",
    ) -> Job | None:
        """Record a ``queued`` job whose input files are already in the file store (``inputs``: form field
        → file names). None, and nothing recorded, when ``max_pending`` jobs are already queued or running
        (checked in the same transaction). The caller dispatches the job afterwards. ValueError for an id
        that is not one of :meth:`new_id`'s."""
        if not valid_id(job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        added = self._add(job_id, kind, json.dumps(params), json.dumps(inputs), owner, max_pending)
        return self.get(job_id) if added else None

    def _add(
        self, job_id: str, kind: str, params: str, inputs: str, owner: str, max_pending: int | None
    ) -> bool:
        """:meth:`submit`'s record (``params`` and ``inputs`` as JSON); False, and nothing recorded, when
        ``max_pending`` jobs are queued or running."""
        ...

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is none with that id (never existed, or deleted by retention)."""
        ...

    def list(self, *, limit: int = 50, state: str | None = None, owner: str | None = None) -> list[Job]:
        """At most ``limit`` jobs, newest first; only those in ``state`` and of ``owner`` when given."""
        ...

    def pending(self) -> int:
        """Jobs queued or running."""
        ...

    def cancel(self, job_id: str) -> Job | None:
        """A queued job becomes ``cancelled`` at once (the caller revokes its dispatch); a running one gets
        its cancel flag set (its worker stops at its next step). Final jobs are left alone. Idempotent.
        Returns the job afterwards (None when unknown)."""
        ...

    def cancel_requested(self, job_id: str) -> bool:
        """Whether the job was asked to stop (True as well when it no longer exists)."""
        ...

    def claim_next(self, worker: str, *, lease: float = LEASE) -> Job | None:
        """Atomically take the oldest queued job: ``running`` for ``worker``, attempts + 1, progress
        reset, held for ``lease`` seconds. None when nothing is queued. Two callers never get the same
        job (the polling workers of the local dispatcher)."""
        ...

    def claim(
        self, job_id: str, worker: str, *, lease: float = LEASE, max_attempts: int = MAX_ATTEMPTS
    ) -> Job | None:
        """Atomically take this job for ``worker`` (a dispatched delivery): when it is ``queued``, or
        ``running`` under an expired lease (its worker died; attempts count on). A job that would start its
        ``max_attempts + 1``-th attempt that way fails instead. None — drop the delivery — when the job is
        unknown, final, cancelled, or running under a live lease (another worker's or this one's)."""
        ...

    def renew(self, job_id: str, worker: str, *, lease: float = LEASE) -> bool:
        """Extend ``worker``'s lease on a running job to ``lease`` seconds from now. False when the worker
        no longer holds it (requeued after its lease expired, taken over, or final): it must stop working
        on the job without touching it further."""
        ...

    def update_progress(
        self, job_id: str, progress: Progress, *, preview: bool = False, worker: str | None = None
    ) -> bool:
        """Record the progress of a running job (``progress_seq`` + 1; ``preview_seq`` + 1 when a new
        preview was stored); only while ``worker`` holds it when given. Returns False when the job should
        stop (cancel requested, no longer running, or gone)."""
        ...

    def finish(
        self,
        job_id: str,
        *,
        state: str = SUCCEEDED,
        result: str | None = None,
        error: str | None = None,
        worker: str | None = None,
    ) -> bool:
        """Move a running job to a final state (``result``: the result's file name); only while ``worker``
        holds it when given. A job that is not running is left alone (False). ValueError for a state
        that is not final."""
        if state not in FINAL:
            raise ValueError(f"not a final state: {state!r}")
        return self._end(job_id, state, result, error, worker)

    def _end(
        self, job_id: str, state: str, result: str | None, error: str | None, worker: str | None
    ) -> bool:
        """:meth:`finish`'s change, ``state`` a final one."""
        ...

    def fail(self, job_id: str, error: str, *, worker: str | None = None) -> bool:
        """:meth:`finish` with ``failed`` and ``error``."""
        return self.finish(job_id, state=FAILED, error=error, worker=worker)

    def requeue(self, job_id: str, *, worker: str | None = None) -> bool:
        """Put a running job back at the head of the queue, this attempt not counted (its worker shut down
        cleanly, or the disk is full); only while ``worker`` holds it when given. The caller dispatches it
        again. False when it was not running."""
        ...

    def requeue_expired(
        self, *, max_attempts: int = MAX_ATTEMPTS, now: float | None = None
    ) -> builtins.list[str]:
        """Running jobs whose lease has expired go back to the head of the queue — or fail once they have
        been started ``max_attempts`` times; cancelled when their cancel flag is set. Returns the ids put
        back in the queue: dispatch each again."""
        ...

    def requeue_interrupted(
        self, *, worker: str | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> builtins.list[str]:
        """As :meth:`requeue_expired`, without waiting for the leases, for jobs held by ``worker`` (every
        running job when None). Only for a caller that knows those workers are dead: the single server at
        start, holding the data directory's lock; the local dispatcher after a worker process exited."""
        ...

    def cleanup(self, older_than: float, *, now: float | None = None) -> builtins.list[str]:
        """Delete the records of final jobs that finished more than ``older_than`` seconds ago; returns
        their ids (the caller deletes their files from the file store)."""
        ...

    def close(self) -> None:
        """Release this process's connections (the store stays usable: they reopen on demand)."""
        ...


class FileStore(Protocol):
    """A job's files by (job id, file name). Names are plain file names (no ``/``, no leading ``.``);
    anything else is refused with ValueError, as is a job id that is not lowercase hex. Readers see a
    file whole or not at all: never a partial write."""

    def put(self, job_id: str, name: str, data: bytes | BinaryIO | Path) -> int:
        """Store ``data`` (bytes; a binary file read from its current position to the end; or a local file,
        which is moved in — it is gone afterwards) under ``name``, atomically replacing any previous one.
        Returns its size in bytes. A full disk raises :class:`~impasto.service.storage.StorageFull` (or
        the ``OSError`` it came from) and leaves the previous file, if any, in place."""
        ...

    def get(self, job_id: str, name: str) -> bytes | None:
        """The file's whole content, or None when it does not exist."""
        ...

    def path(self, job_id: str, name: str) -> Path | None:
        """A local file with the content, to open or hand to ``FileResponse`` or a pipeline; None when it
        does not exist. For the local store it is the stored file itself; a remote store returns a fresh
        local copy. Read it soon: it may be replaced (atomically) or deleted afterwards."""
        ...

    def exists(self, job_id: str, name: str) -> bool:
        """Whether the file exists."""
        ...

    def delete(self, job_id: str, name: str) -> None:
        """Remove the file; nothing happens when it does not exist."""
        ...

    def delete_job(self, job_id: str) -> None:
        """Remove every file of the job; nothing happens when it has none."""
        ...

    def job_ids(self, *, older_than: float | None = None, now: float | None = None) -> list[str]:
        """Jobs with files stored; only those unchanged for more than ``older_than`` seconds when given
        (the sweep removes the files of uploads whose job was never recorded)."""
        ...


class Dispatcher(Protocol):
    """How a queued job reaches a worker. A dispatch carries only the job id; the worker takes the job with
    :meth:`JobStore.claim` (or, polling, :meth:`JobStore.claim_next`), so a lost or repeated dispatch never
    runs a job twice."""

    def start(self) -> None:
        """Start what the server runs (local worker processes; a connection to a broker) and re-dispatch
        what a previous run left behind. Called once, by the server, after the stores are built."""
        ...

    def dispatch(self, job_id: str) -> None:
        """Send a queued job to a worker (after submit, and after a requeue). Idempotent; a no-op where
        workers poll the job store. Raises :class:`BackendUnavailable` when the job could not be handed
        over: after a submit the API then cancels the job, deletes its files and answers 503, so the
        client's retry is the only copy."""
        ...

    def revoke(self, job_id: str) -> None:
        """Withdraw a dispatch of a job cancelled while queued (best effort: a delivery that still arrives
        is dropped by :meth:`JobStore.claim`)."""
        ...

    def workers_alive(self) -> int | None:
        """Workers running or seen recently (for ``/healthz``); None when unknown."""
        ...

    def stop(self, timeout: float = 10.0) -> None:
        """Stop what :meth:`start` started: running jobs are requeued (each worker puts its job back)."""
        ...
