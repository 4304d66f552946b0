"""Runtime checks shared by the pipelines, each a one-line :class:`~impasto.errors.ConfigError` (or
:class:`~impasto.errors.ImageError` for sizes) naming the field: numbers in a range, the fields every
synthesis config has, VGG layer sets, images against the network's minimum size, counts of masks and
blend weights against the style images.

Per-field bounds (``iters`` between 1 and 100000 …) are declared with the config fields
(see :mod:`impasto.options`); what lives here are the checks that relate several inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .device import check_device
from .errors import ConfigError
from .images import check_min_side
from .precision import check as check_precision
from .vgg import check_layers, deepest, min_side

#: Largest side accepted for synthesised images.
MAX_SIDE = 8192
#: Smallest side: VGG-19 needs a few pixels left after its pooling layers.
MIN_SIDE = 16


def _label(name: str) -> str:
    return name.replace("_", "-")


def check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    """Raise one :class:`ConfigError` line unless ``lo <= value <= hi`` (and an int with ``integer``).

    >>> check_range("iters", 0, 1, 10, integer=True)
    Traceback (most recent call last):
    ...
    impasto.errors.ConfigError: iters must be between 1 and 10, got 0
    """
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{_label(name)} must be an integer, got {value!r}", field=name)
    if not (lo <= value <= hi):
        raise ConfigError(f"{_label(name)} must be between {lo} and {hi}, got {value}", field=name)


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    """Raise one :class:`ConfigError` line unless ``value`` is an int in [lo, hi]."""
    check_range(name, value, lo, hi, integer=True)


def check_positive(name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{_label(name)} must be a number, got {value!r}", field=name)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{_label(name)} must be a positive number, got {value}", field=name)


def check_common(config: Any) -> None:
    """Fields every synthesis config has: iters, optimizer, lr, pool, device, precision, seed."""
    check_int("iters", config.iters, 1, 100_000)
    if config.optimizer not in ("lbfgs", "adam"):
        raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', got {config.optimizer!r}", field="optimizer")
    if config.lr is not None:
        check_positive("lr", config.lr)
    if config.pool not in ("max", "avg"):
        raise ConfigError(f"pool must be 'max' or 'avg', got {config.pool!r}", field="pool")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise ConfigError(f"seed must be an integer, got {config.seed!r}", field="seed")
    check_device(config.device)
    check_precision(config.precision)


def check_layer_set(layers: Sequence[str] | str, *, field: str) -> tuple[str, ...]:
    """Non-empty, known layer names, duplicates removed, order kept.

    >>> check_layer_set(["relu1_1", "relu2_1", "relu1_1"], field="style_layers")
    ('relu1_1', 'relu2_1')
    """
    names = (layers,) if isinstance(layers, str) else tuple(dict.fromkeys(layers))
    if not names:
        raise ConfigError(f"{_label(field)} needs at least one layer", field=field)
    return check_layers(names, field=field)


def check_layer_size(
    hw: tuple[int, int], layers: Sequence[str], what: str, *, field: str | None = None, at: str = ""
) -> None:
    """An image of working size ``hw`` must be at least the deepest layer's stride on each side."""
    check_min_side(
        hw,
        min_side(layers),
        f"{what}{at}",
        why=f"layer '{deepest(layers)}'",
        field=field,
        hint=" (use a larger size, or a less elongated image)",
    )


def check_style_counts(
    styles: int, *, masks: int | None = None, blend_weights: int | None = None, mask_field: str = "mask"
) -> None:
    """At least one style image; one mask and (if given) one blend weight per style image."""
    if styles < 1:
        raise ConfigError("at least one style image is needed", field="style")
    if blend_weights is not None and blend_weights != styles:
        raise ConfigError(
            f"{blend_weights} blend weights given for {styles} style images", field="style_blend_weights"
        )
    if masks is not None and masks != styles:
        raise ConfigError(
            f"{masks} masks given for {styles} style images; give one mask per style", field=mask_field
        )


__all__ = [
    "MAX_SIDE",
    "MIN_SIDE",
    "check_common",
    "check_int",
    "check_layer_set",
    "check_layer_size",
    "check_positive",
    "check_range",
    "check_style_counts",
]
