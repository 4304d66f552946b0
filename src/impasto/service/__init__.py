"""The web service: REST API, persistent job queue, workers, browser UI (``impasto serve``).

Needs the ``serve`` extra (``pip install 'impasto[serve]'``). Its three interfaces (job store, file
store, dispatcher) are in :mod:`impasto.service.stores`, built by :mod:`impasto.service.backends`; the
API is :mod:`impasto.service.app` with its routers in :mod:`impasto.service.routes`.
"""

from __future__ import annotations

from .limits import Limits, Settings
from .stores import Dispatcher, FileStore, Job, JobStore, Progress

__all__ = ["Dispatcher", "FileStore", "Job", "JobStore", "Limits", "Progress", "Settings"]
