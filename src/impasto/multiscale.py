"""Coarse-to-fine schedules: optimise small, upsample, refine (as crowsonkb/style-transfer-pytorch).

The schedule is a plain list of sizes (longest side in pixels) growing geometrically, by √2 unless told
otherwise, and ending exactly at the requested size. The pipeline rebuilds its targets at each size
and carries the image forward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import ConfigError

#: Outputs above this size are rendered coarse-to-fine by default, starting at this size or below.
AUTO_START = 512
SQRT2 = math.sqrt(2.0)
MIN_SIZE = 16


def schedule(
    size: int, *, scales: int | None = None, start_size: int | None = None, factor: float = SQRT2
) -> list[int]:
    """Sizes of a coarse-to-fine run ending at ``size``.

    - ``scales`` and ``start_size``: ``scales`` sizes from ``start_size`` to ``size`` (geometric).
    - ``scales`` only: ``scales`` sizes, each ``factor`` times the previous one, ending at ``size``.
    - ``start_size`` only: grow by ``factor`` from (at most) ``start_size`` up to ``size``.
    - neither: a single scale up to :data:`AUTO_START` px; above it, start at ≤ ``AUTO_START``.

    >>> schedule(1024)
    [512, 724, 1024]
    >>> schedule(512)
    [512]
    >>> schedule(512, scales=3)
    [256, 362, 512]
    """
    if not factor > 1:
        raise ConfigError(f"scale-factor must be above 1, got {factor}", field="scale_factor")
    if scales is not None and scales < 1:
        raise ConfigError(f"scales must be at least 1, got {scales}", field="scales")
    if start_size is not None and not (MIN_SIZE <= start_size <= size):
        raise ConfigError(
            f"start-size must be between {MIN_SIZE} and the output size {size}, got {start_size}",
            field="start_size",
        )
    if scales is None and start_size is None:
        if size <= AUTO_START:
            return [size]
        start_size = AUTO_START
    if scales is not None and start_size is not None:
        if scales == 1:
            return [size]
        ratio = (size / start_size) ** (1 / (scales - 1))
        sizes = [round(start_size * ratio**k) for k in range(scales - 1)] + [size]
    elif scales is not None:
        sizes = [round(size / factor**k) for k in reversed(range(scales))]
    else:
        assert start_size is not None  # set above when neither was given
        n = 1
        while size / factor ** (n - 1) > start_size * (1 + 1e-9):
            n += 1
        sizes = [round(size / factor**k) for k in reversed(range(n))]
    if sizes[0] < MIN_SIZE:
        raise ConfigError(
            f"the coarsest scale would be {sizes[0]} px (below {MIN_SIZE}); use fewer scales", field="scales"
        )
    # drop repeats that rounding can create at tiny sizes
    return [s for i, s in enumerate(sizes) if i == 0 or s != sizes[i - 1]]


def stage_label(index: int, sizes: Sequence[int]) -> str:
    """``"scale 2/3 (362 px)"`` for multi-scale runs, ``""`` for single-scale ones."""
    if len(sizes) <= 1:
        return ""
    return f"scale {index + 1}/{len(sizes)} ({sizes[index]} px)"


__all__ = ["AUTO_START", "SQRT2", "schedule", "stage_label"]
