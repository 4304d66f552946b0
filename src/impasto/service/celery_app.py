"""The Celery app of the scale-out backend: one task, ``impasto.run``, carrying only a job id.

The settings are the well-kept-project ones: ``task_acks_late`` with ``task_reject_on_worker_lost`` (a
delivery is acknowledged when its task returns, so a worker that dies leaves it unacknowledged),
prefetch 1 and one job at a time per worker process, and a visibility timeout longer than the longest
job the limits allow — the Redis transport redelivers an unacknowledged message only after it, so a
shorter one would start a long job a second time while the first still runs. ``impasto worker`` runs
the task in its own process (Celery's ``solo`` pool: SIGTERM reaches the job, which goes back to the
queue at its next step), so there is no pool child to lose and ``task_reject_on_worker_lost`` only
matters to a worker started with Celery's own command and a ``prefork`` pool.

That redelivery is far too slow to recover from a dead worker (hours; it also waits for a live worker to
restore it), so recovery does not rely on it: each running job holds a lease in the job store that its
worker renews, and whoever notices an expired lease dispatches the job again (:mod:`.celery_worker`,
:mod:`.housekeeping`). A late redelivery of the same job id is then dropped by
:meth:`~impasto.service.stores.JobStore.claim` (final, or leased elsewhere): tasks are idempotent by job id.
"""

from __future__ import annotations

from typing import Any

from .limits import Limits
from .redis_client import check_url

TASK_NAME = "impasto.run"
QUEUE = "impasto"

SECONDS_PER_PIXEL_ITERATION = 4e-5
"""A pessimistic price of one pixel-iteration on one worker: fp32 Gatys at 512 px measured 3.2 s per
L-BFGS iteration for 384 × 512 px on two cores (1.6e-5 s, benchmarks/RESULTS.md §1), times 2.5 for a
slower or busier machine. It turns the limits' compute budget into the longest a job may take."""
MIN_VISIBILITY = 3600.0


def visibility_timeout(limits: Limits, budget: float | None = None) -> float:
    """Seconds before the Redis transport redelivers an unacknowledged task: the longest job ``limits``
    admit (``budget`` pixel-iterations — the largest :func:`~impasto.service.kinds.job_budget` of the
    server's kinds — else ``limits.max_work``), at :data:`SECONDS_PER_PIXEL_ITERATION`, at least an hour."""
    work = max(limits.max_work, budget or 0.0)
    return max(MIN_VISIBILITY, work * SECONDS_PER_PIXEL_ITERATION)


def make_app(url: str, *, visibility: float) -> Any:
    """A Celery app on the Redis broker at ``url`` (no result backend: the job store holds the outcome)."""
    from celery import Celery

    app = Celery("impasto", broker=check_url(url), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        broker_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker reconnects for as long as Redis is away
        broker_connection_timeout=2.0,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,  # revoke reaches the workers through the broker
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_channel_error_retry=True,
    )

    @app.task(name=TASK_NAME, ignore_result=True)
    def run(job_id: str) -> None:
        from .celery_worker import run_delivery

        run_delivery(job_id)

    return app
