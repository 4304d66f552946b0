"""One Redis connection per process for the scale-out backend, and what its errors mean to the service.

A Redis that cannot be reached (refused, timed out, still loading its append-only file after a restart,
a read-only replica) is :class:`~impasto.service.stores.BackendUnavailable` — the API answers 503 and
every caller retries later; a Redis at its ``maxmemory`` is a full store
(:class:`~impasto.service.storage.StorageFull` → 507). Nothing else from redis-py leaves these modules.

Standalone Redis only: the stores' Lua scripts touch keys they compute (a job's hash from its id), which
Redis Cluster does not allow.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigError, ImpastoError
from .storage import StorageFull
from .stores import BackendUnavailable

P = ParamSpec("P")
T = TypeVar("T")

CONNECT_TIMEOUT = 2.0  # seconds to open a connection: an API call fails fast (503) while Redis is away
SOCKET_TIMEOUT = 10.0  # seconds to wait for one answer (a 20 MiB blob included)


def check_url(url: str) -> str:
    """``redis://HOST:PORT/DB`` (or ``rediss://`` for TLS, ``unix://PATH``); a ConfigError naming ``redis``
    otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise ConfigError(
            f"expected a Redis URL such as redis://127.0.0.1:6379/0, got {url!r}", field="redis"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"bad port in the Redis URL {url!r}", field="redis") from None
    db = parts.path.lstrip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ConfigError(f"the database of a Redis URL is a number (/0), got {url!r}", field="redis")
    return url


def display_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def connect(url: str, *, text: bool = False) -> Any:
    """A ``redis.Redis`` client for ``url`` (bytes out, or str with ``text``): short timeouts, one quick
    retry."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        check_url(url),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        decode_responses=text,
    )


def ping(url: str) -> None:
    """Check at start-up that Redis answers: an :class:`ImpastoError` naming the URL when it does not."""
    client = connect(url)
    try:
        with translate(url):
            client.ping()
    except BackendUnavailable as exc:
        raise ImpastoError(f"cannot reach Redis at {display_url(url)}: {exc.detail}", field="redis") from None
    finally:
        client.close()


@contextmanager
def translate(url: str) -> Iterator[None]:
    """redis-py's errors as the service's: unreachable → BackendUnavailable, out of memory → StorageFull."""
    import redis.exceptions as rx

    try:
        yield
    except (rx.ConnectionError, rx.TimeoutError, rx.ReadOnlyError) as exc:  # BusyLoadingError included
        raise BackendUnavailable(f"Redis at {display_url(url)}", str(exc) or type(exc).__name__) from exc
    except rx.ResponseError as exc:
        text = str(exc)
        if text.startswith("OOM") or "maxmemory" in text:
            raise StorageFull(f"Redis at {display_url(url)} is full (maxmemory): {text}") from exc
        if text.startswith(("LOADING", "MASTERDOWN", "READONLY")):
            raise BackendUnavailable(f"Redis at {display_url(url)}", text) from exc
        raise


RETRY_EVERY = 0.5  # seconds between tries of a patient store while Redis is away


def guarded(method: Callable[P, T]) -> Callable[P, T]:
    """Run a store method under :func:`translate` of its store's ``url``; while Redis is unreachable, try
    again for up to the store's ``patience`` seconds (0: raise at once) before raising."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        store = args[0]
        deadline = time.monotonic() + getattr(store, "patience", 0.0)
        while True:
            try:
                with translate(getattr(store, "url", "?")):
                    return method(*args, **kwargs)
            except BackendUnavailable:
                if time.monotonic() + RETRY_EVERY > deadline:
                    raise
                time.sleep(RETRY_EVERY)

    return wrapper
