"""Service settings: resource limits, retention, API key, where data lives."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .auth import Access

SIZE_FIELDS = ("size", "width", "height")  # config fields bounded by Limits.max_size (and any "*_size")
ITER_FIELDS = ("iters", "steps", "iterations")  # config fields bounded by Limits.max_iters


def is_size_field(name: str) -> bool:
    return name in SIZE_FIELDS or name.endswith("_size")


class LimitError(Exception):
    """A request exceeds a configured limit: ``status`` 413/422/429, a JSON body naming ``field`` and ``limit``."""

    def __init__(self, status: int, message: str, *, field: str, limit) -> None:
        super().__init__(message)
        self.status, self.field, self.limit = status, field, limit


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (each configurable with ``impasto serve --max-...``)."""

    max_upload_mb: float = 20.0
    """Largest uploaded file, in MiB (→ 413)."""
    max_pixels: int = 25_000_000
    """Largest uploaded image, in pixels (→ 422)."""
    max_size: int = 1024
    """Largest output side (``size``), in pixels (→ 422)."""
    max_iters: int = 2000
    """Most iterations (``iters``) of one job (→ 422)."""
    max_queue: int = 50
    """Most jobs queued or running at once (→ 429)."""
    max_styles: int = 8
    """Most style images in one job (→ 422)."""

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_pixels", "max_size", "max_iters", "max_queue", "max_styles"):
            if not (getattr(self, name) > 0):
                raise ConfigError(
                    f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}", field=name
                )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_work(self) -> float:
        """The compute budget of one job, in pixel-iterations: what a single-scale job at ``max_size``
        (square) and ``max_iters`` costs — the two limits on their own — with its one style image's
        forward pass at ``max_size`` (see :func:`kinds.check_job`)."""
        return float(self.max_size) ** 2 * (self.max_iters + 1)

    @property
    def max_request_bytes(self) -> int:
        """A whole multipart request: every file at its limit plus room for the form fields."""
        return self.max_upload_bytes * (self.max_styles + 1) + 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything `impasto serve` configures."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    api_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    retention: float = 7 * 24 * 3600.0
    """Seconds after which finished jobs (and their files) are deleted."""
    gallery: Path | None = None
    """Directory of style images offered by the browser UI (default: the repository's ``examples/``)."""
    preview_interval: float = 1.0
    """Seconds between preview images written by a worker."""
    threads: int | None = None
    """Torch threads per worker (None: CPU cores / workers)."""
    access: Access = field(default_factory=Access)
    """Keys, sessions, trusted hosts, rate limits and client timeouts (see :mod:`.auth`)."""
    min_free_mb: float = 200.0
    """Free space kept in the data directory: below it uploads get 507 and workers wait."""
    redis: str | None = None
    """``redis://HOST:PORT/DB``: the scale-out backend (jobs and files in Redis, Celery workers on any
    machine; README: Scaling out) instead of the embedded one; ``workers`` may then be 0 (the API alone)."""
    lease: float | None = None
    """Seconds a running job stays held without a heartbeat (None: the job store's default)."""

    def __post_init__(self) -> None:
        low = 0 if self.redis is not None else 1
        if not low <= self.workers <= 64:
            raise ConfigError(f"workers must be between {low} and 64, got {self.workers}", field="workers")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}", field="port")
        if not self.retention > 0:
            raise ConfigError(f"retention must be positive, got {self.retention}", field="retention")
        if not self.min_free_mb >= 0:
            raise ConfigError(f"min-free-mb must be 0 or more, got {self.min_free_mb}", field="min_free_mb")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"expected a duration such as 90s, 15m, 12h or 7d; got {text!r}", field="retention")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def default_gallery() -> Path | None:
    """``examples/`` of a source checkout, when there is one."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "examples").is_dir() and (parent / "pyproject.toml").is_file():
            return parent / "examples"
    return None
