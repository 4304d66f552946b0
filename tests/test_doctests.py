"""The examples in the public functions' docstrings run (kornia-style): a stale example fails here.

Modules are listed by name rather than collected with ``--doctest-modules``, so importing them never
needs an optional extra (service, video, onnx)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "impasto.checks",
    "impasto.device",
    "impasto.images",
    "impasto.multiscale",
    "impasto.output",
    "impasto.precision",
    "impasto.progress",
    "impasto.sweep",
    "impasto.texture",
    "impasto.tiling",
    "impasto.vgg",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_chosen_functions_have_examples():
    """The examples the project promises exist (a module with none would pass the test above vacuously)."""
    from impasto import images, multiscale, progress, texture, tiling

    for fn in (images.fit_longest, texture.parse_size, multiscale.schedule, tiling.spans, progress):
        assert ">>> " in (fn.__doc__ or ""), fn
