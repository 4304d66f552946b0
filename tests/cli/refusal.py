"""The CLI's answer to bad input, checked the same way by every command's tests."""

from __future__ import annotations

from pathlib import Path


def assert_refused(code: int, err: str, message: str, *outputs: Path) -> None:
    """Exit 2, one line on stderr containing ``message``, and none of ``outputs`` written."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    for out in outputs:
        assert not out.exists(), out
