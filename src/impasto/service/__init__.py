"""The web service: REST API, persistent job queue, worker processes, browser UI (``impasto serve``).

Needs the ``serve`` extra (``pip install 'impasto[serve]'``). The queue interface lives in
:mod:`impasto.service.queue`, the API in :mod:`impasto.service.app`.
"""

from __future__ import annotations

from .limits import Limits, Settings
from .queue import Job, JobQueue, Progress, SQLiteQueue

__all__ = ["Job", "JobQueue", "Limits", "Progress", "SQLiteQueue", "Settings"]
