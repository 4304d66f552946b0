"""Slow clients against a real `impasto serve` on a free loopback port (issue 13, finding 7: the old
server held 50 slowloris connections open for as long as they trickled)."""

from __future__ import annotations

import socket
import time

import httpx

from .conftest import Server

SLOW = 50  # connections, as in the audit


def test_slow_clients_are_dropped(tmp_path):
    """50 slowloris connections (headers a line at a time) and 5 trickling bodies, against a real
    server: each is closed within its timeout, and the server keeps answering everyone else."""
    timeout = 2.0
    server = Server(
        tmp_path / "data", "--threads", "1", "--header-timeout", str(timeout), "--body-timeout", str(timeout)
    ).start()
    try:

        def connect(head: bytes) -> socket.socket:
            s = socket.create_connection(("127.0.0.1", server.port))
            s.setblocking(False)
            s.sendall(head)
            return s

        slow = [connect(b"GET /v1/kinds HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(SLOW)]
        bodies = [
            connect(
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                b"boundary=x\r\nContent-Length: 100000\r\n\r\n--x\r\n"
            )
            for _ in range(5)
        ]
        start = time.monotonic()
        closed: dict[socket.socket, float] = {}
        answers: dict[socket.socket, bytes] = {s: b"" for s in bodies}
        while len(closed) < SLOW + len(bodies) and time.monotonic() - start < 4 * timeout:
            for s in slow + bodies:
                if s in closed:
                    continue
                try:
                    s.sendall(b"X-Slow: 1\r\n" if s in slow else b"a")  # a trickle that never ends
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    data = b""
                if data and s in answers:
                    answers[s] += data
                if not data:
                    closed[s] = time.monotonic() - start
            assert (
                httpx.get(f"{server.url}/healthz", timeout=5.0).status_code == 200
            )  # others are still served
            time.sleep(0.25)
        assert len(closed) == SLOW + len(bodies), (
            f"{SLOW + len(bodies) - len(closed)} slow connection(s) still open"
        )
        assert max(closed.values()) < timeout + 2.0, max(closed.values())
        for s in bodies:
            assert answers[s].startswith(b"HTTP/1.1 408"), answers[s][:200]
            assert b'"too_slow"' in answers[s]
        for s in slow + bodies:
            s.close()

        # A kept-alive connection gets the same deadline for its next request's headers.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /v1/kinds HTTP/1.1\r\n")
            start = time.monotonic()
            s.settimeout(0.3)
            while time.monotonic() - start < 4 * timeout:
                try:
                    if s.recv(65536) == b"":
                        break
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    break
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
            assert time.monotonic() - start < timeout + 2.0
    finally:
        server.stop()
