"""Coarse-to-fine schedules."""

from __future__ import annotations

import doctest
import itertools

import pytest

from impasto import multiscale
from impasto.errors import ConfigError
from impasto.multiscale import schedule, stage_label


@pytest.mark.parametrize(
    "size,kwargs",
    [
        (512, {}),
        (1024, {}),
        (777, {}),
        (300, {"scales": 4}),
        (2048, {"start_size": 200}),
        (1000, {"scales": 3, "start_size": 250}),
        (640, {"factor": 2.0, "start_size": 100}),
    ],
)
def test_schedule_ends_at_the_requested_size_and_grows(size, kwargs):
    sizes = schedule(size, **kwargs)
    assert sizes[-1] == size
    assert all(a < b for a, b in itertools.pairwise(sizes))
    factor = kwargs.get("factor", multiscale.SQRT2)
    if "scales" in kwargs and "start_size" not in kwargs:
        assert len(sizes) == kwargs["scales"]
    if "start_size" in kwargs:
        assert sizes[0] <= kwargs["start_size"]
    if "scales" not in kwargs:
        assert all(abs(b / a - factor) < 0.02 for a, b in itertools.pairwise(sizes))


def test_default_is_single_scale_up_to_512_and_multiscale_above():
    assert schedule(512) == [512]
    assert schedule(513)[0] <= 512 and len(schedule(513)) == 2
    assert schedule(1024) == [512, 724, 1024]


def test_bad_schedules_are_config_errors():
    with pytest.raises(ConfigError, match="coarsest scale"):
        schedule(64, scales=8)
    with pytest.raises(ConfigError, match="start-size"):
        schedule(256, start_size=300)
    with pytest.raises(ConfigError, match="scale-factor"):
        schedule(256, factor=1.0)


def test_stage_labels():
    assert stage_label(1, [256, 362, 512]) == "scale 2/3 (362 px)"
    assert stage_label(0, [512]) == ""


def test_doctests():
    assert doctest.testmod(multiscale).failed == 0
