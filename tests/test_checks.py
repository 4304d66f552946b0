"""The shared runtime checks: each failure one ConfigError/ImageError line naming the field."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from impasto.checks import (
    check_common,
    check_layer_set,
    check_layer_size,
    check_positive,
    check_range,
    check_style_counts,
)
from impasto.errors import ConfigError, ImageError


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"styles": 0}, "style", "at least one style image"),
        ({"styles": 2, "masks": 1}, "mask", "1 masks given for 2 style images"),
        (
            {"styles": 2, "blend_weights": 3},
            "style_blend_weights",
            "3 blend weights given for 2 style images",
        ),
    ],
)
def test_style_counts(kwargs, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        check_style_counts(**kwargs)
    assert info.value.field == field


def test_style_counts_that_match_pass():
    check_style_counts(3, masks=3, blend_weights=3)
    check_style_counts(1)


def test_layer_size_names_the_layer_and_the_field():
    check_layer_size((16, 16), ("relu5_1",), "style image")  # relu5_1's stride is 16
    with pytest.raises(
        ImageError, match=r"style image is 20x15 px; layer 'relu5_1' needs at least 16"
    ) as info:
        check_layer_size((15, 20), ("relu1_1", "relu5_1"), "style image", field="style")
    assert info.value.field == "style"


def test_layer_set_needs_one_known_layer():
    with pytest.raises(ConfigError, match="needs at least one layer"):
        check_layer_set((), field="rows")
    with pytest.raises(ConfigError, match=r"unknown VGG-19 layer 'relu4_9' \(did you mean"):
        check_layer_set(("relu4_9",), field="rows")
    assert check_layer_set("relu1_1", field="rows") == ("relu1_1",)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_range("iters", 2.5, 1, 10, integer=True), "iters must be an integer"),
        (lambda: check_range("style_scale", 9.0, 0.05, 8.0), "style-scale must be between 0.05 and 8.0"),
        (lambda: check_positive("lr", float("inf")), "lr must be a positive number"),
        (lambda: check_positive("lr", True), "lr must be a number"),
    ],
)
def test_ranges(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_common_fields_include_precision():
    ok = SimpleNamespace(
        iters=5, optimizer="adam", lr=None, pool="avg", seed=1, device="cpu", precision="bf16"
    )
    check_common(ok)
    with pytest.raises(ConfigError) as info:
        check_common(SimpleNamespace(**{**vars(ok), "precision": "fp16"}))
    assert info.value.field == "precision"
