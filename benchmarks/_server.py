"""A real `impasto serve` for the reliability runs (benchmarks/soak.py, benchmarks/fuzz_api.py): a free
loopback port, its own process group (so its workers can be found and killed), stopped on exit."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from PIL import Image


def upload(path: Path, size: int, fmt: str = "PNG", **save: Any) -> bytes:
    """The picture at ``path`` shrunk to fit ``size`` px and encoded as ``fmt``: a job's upload."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format=fmt, **save)
        return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    data_dir: Path, *args: str, log: Path | None = None, timeout: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `python -m impasto serve` on 127.0.0.1 and yield (base URL, process) once a worker is up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "IMPASTO_API_KEY"}
    src = str(Path(__file__).resolve().parents[1] / "src")  # this tree's impasto
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (src, env.get("PYTHONPATH"))))
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impasto",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
            *args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"impasto serve exited with {proc.returncode}" + (f"; see {log}" if log else "")
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).json().get("workers"):
                    break
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"impasto serve did not start within {timeout:.0f} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived the server
        if log is not None:
            out.close()


def worker_pids(proc: subprocess.Popen) -> list[int]:
    """The server's worker processes: its children, listed per thread (restarted workers are spawned by
    the watcher thread, so they are not in the main thread's list)."""
    pids: list[int] = []
    for task in Path(f"/proc/{proc.pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids
