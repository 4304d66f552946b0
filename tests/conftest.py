"""Shared fixtures: tiny images made on the fly or taken from examples/, the real VGG-19 weights."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from impasto.cli import main as cli_main
from impasto.images import load_image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(scope="session")
def vgg_weights():
    """The real default VGG-19 weights (fetched by `make test` before pytest runs)."""
    from impasto.weights import load_cached

    return load_cached()


@pytest.fixture(scope="session")
def content_path() -> Path:
    return EXAMPLES / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return EXAMPLES / "starry_night.jpg"


@pytest.fixture(scope="session")
def tiny_content(content_path) -> torch.Tensor:
    return load_image(content_path, 64).rgb


@pytest.fixture(scope="session")
def tiny_style(style_path) -> torch.Tensor:
    return load_image(style_path, 64).rgb


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli_main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def tampered_cache(tmp_path, monkeypatch) -> Callable[[Path, Callable[[], Path], int], Path]:
    """``tampered_cache(real, cache_path, offset)``: IMPASTO_HOME moved to a fresh directory, the cached
    weights file ``real`` copied to ``cache_path()`` there with 4 bytes flipped at ``offset``; the copy."""

    def make(real: Path, cache_path: Callable[[], Path], offset: int) -> Path:
        monkeypatch.setenv("IMPASTO_HOME", str(tmp_path / "home"))
        target = cache_path()
        target.parent.mkdir(parents=True)
        shutil.copy(real, target)
        with open(target, "r+b") as fh:  # flip bytes inside a weight tensor
            fh.seek(offset)
            fh.write(b"\x00\x11\x22\x33")
        return target

    return make
