"""Slow clients: a deadline for request headers and a pace for request bodies.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but it has no deadline for
a client that connects and then sends its headers a byte at a time (slowloris), and none for a body
that trickles in. :class:`TimedH11Protocol` adds the first (uvicorn's h11 protocol, closing the
connection when the headers are not complete in time); :func:`paced` the second (an ASGI ``receive``
wrapper that raises :class:`SlowBody` → 408 and ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import time

import anyio
import h11
from starlette.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

MIN_BODY_RATE = 16 * 1024
"""Bytes per second a request body must average once its first ``body_timeout`` seconds are over."""


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline (``header_timeout`` seconds, from the connection or from
    the first byte of the next request on a kept-alive one) for a request's line and headers."""

    header_timeout = 10.0

    def connection_made(self, transport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        if self.conn.their_state is h11.IDLE:  # waiting for (the rest of) a request's headers
            if self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)
        else:
            self._cancel_header_timer()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            try:
                self.conn.send(h11.ConnectionClosed())
            except h11.LocalProtocolError:
                pass
            self.transport.close()


def protocol(header_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class to hand to ``uvicorn.Config(http=...)``."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"header_timeout": header_timeout})


class SlowBody(HTTPException):
    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            f"the request body arrived too slowly (a pause over {timeout:g} s, or under "
            f"{MIN_BODY_RATE // 1024} KiB/s on average)",
            headers={"Connection": "close"},
        )


def paced(receive, timeout: float, *, min_rate: float = MIN_BODY_RATE, clock=time.monotonic):
    """``receive`` that raises :class:`SlowBody` when the next body chunk takes over ``timeout`` seconds
    or the body's average rate falls under ``min_rate`` after its first ``timeout`` seconds. Once the
    body is complete it is ``receive`` itself (a streaming response waits on it for the disconnect)."""
    start = clock()
    seen = 0
    done = False

    async def paced_receive():
        nonlocal seen, done
        if done:
            return await receive()
        now = clock()
        wait = min(timeout, start + timeout + seen / min_rate - now)
        if wait <= 0:
            raise SlowBody(timeout)
        with anyio.move_on_after(wait):
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                done = not message.get("more_body", False)
            else:
                done = True
            return message
        raise SlowBody(timeout)

    return paced_receive
