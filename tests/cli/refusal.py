"""The CLI's answers, checked the same way by every command's tests: to bad input (exit 2, one line,
nothing written) and to good input (exit 0, the output written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


def assert_refused(code: int, err: str, message: str, *outputs: Path) -> None:
    """Exit 2, one line on stderr containing ``message``, and none of ``outputs`` written."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    for out in outputs:
        assert not out.exists(), out


def refusals(*cases: tuple[str, str]) -> pytest.MarkDecorator:
    """Parametrize a test over bad command lines: ``(words, message)``, the words as typed (``args``, split
    at spaces), ``message`` what the one line the command answers with must contain."""
    return pytest.mark.parametrize(
        ("args", "message"),
        [(tuple(words.split()), message) for words, message in cases],
        ids=[w for w, _ in cases],
    )


def wrote_image(code: int, err: str, out: Path) -> tuple[int, int]:
    """Exit 0 and an image at ``out``: its (width, height)."""
    assert code == 0, err
    with Image.open(out) as im:
        return im.size
