"""Tiled rendering: refine a large image in overlapping tiles, each against the global style targets.

Memory of one optimisation step grows with the pixel count (VGG activations, L-BFGS history); tiling
bounds it by the tile size, so a 4096 px image is refined with the memory of a ``tile`` px one.
Each tile's loss is built by the caller (``make_tile_loss(content_crop)``) with the style Gram
targets of the *whole* style image (Gram matrices are normalised by layer size, so a tile is held to
the same statistics as the whole picture) and the content features of its own crop.

Tiles overlap by ``overlap`` pixels and are processed in raster order on one shared canvas: each
tile starts from the canvas (which already holds its refined neighbours in the overlap) and is
written back with a feathered weight — a raised-cosine ramp across the overlap on the sides whose
neighbours are already written, 1 elsewhere (:func:`tile_weight`) — so neighbouring tiles agree in
the overlap and no seam shows.
Departure from Gatys et al. 2016 (whole-image optimisation): each tile sees only its own context,
so structures larger than a tile are not coordinated; run a coarse scale first (multi-scale) to fix
the large-scale layout, as the ``stylize`` pipeline does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import torch

from .optimize import Callback, Escalate, LossFn, Optimizer, OptimizeResult, optimize
from .progress import Clock, Stage

MIN_TILE = 64
#: A tiled run's preview (the canvas with the current tile blended in) is assembled at most this often,
#: and at the last step of each tile: assembling copies the whole canvas.
PREVIEW_SECONDS = 2.0


def default_overlap(tile: int) -> int:
    """An eighth of the tile, at least 32 px: wider than VGG's border effects at relu4/5 strides."""
    return max(32, tile // 8)


def is_tiled(tile: int | None, hw: tuple[int, int]) -> bool:
    return tile is not None and max(hw) > tile


def spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end of tiles covering ``[0, length)``: ``tile`` long, overlapping by at least ``overlap``.

    >>> spans(100, 64, 16), spans(50, 64, 16)
    ([(0, 64), (36, 100)], [(0, 50)])
    """
    if length <= tile:
        return [(0, length)]
    stride = tile - overlap
    n = math.ceil((length - overlap) / stride)
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]  # spread evenly, last flush
    return [(s, s + tile) for s in starts]


def feather(length: int, ramp_before: int, ramp_after: int, *, device=None) -> torch.Tensor:
    """1-D weight: raised-cosine rise over ``ramp_before`` pixels, 1, fall over ``ramp_after``."""
    w = torch.ones(length, device=device)
    for ramp, sl in ((ramp_before, slice(0, ramp_before)), (ramp_after, slice(length - ramp_after, length))):
        if ramp > 0:
            t = (torch.arange(ramp, device=device, dtype=torch.float32) + 0.5) / ramp
            r = 0.5 - 0.5 * torch.cos(math.pi * t)
            w[sl] = r if sl.start == 0 else r.flip(0)
    return w


def tile_boxes(hw: tuple[int, int], tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every tile, in raster order."""
    return [
        (y0, y1, x0, x1) for y0, y1 in spans(hw[0], tile, overlap) for x0, x1 in spans(hw[1], tile, overlap)
    ]


def tile_weight(box, overlap: int, *, device=None) -> torch.Tensor:
    """(1, 1, h, w) weight a tile is blended into the canvas with, tiles going in raster order.

    It rises over the overlap on the top and left sides when a neighbour (already written) is
    there, and is 1 elsewhere: the bottom and right overlaps are written fully and then cross-faded
    by the next tiles. In every overlap the result is ``w · new + (1 − w) · previous tile``; the
    starting image never leaks into it.
    """
    y0, y1, x0, x1 = box
    h, w = y1 - y0, x1 - x0
    ov_y, ov_x = min(overlap, h // 2), min(overlap, w // 2)
    wy = feather(h, ov_y if y0 > 0 else 0, 0, device=device)
    wx = feather(w, ov_x if x0 > 0 else 0, 0, device=device)
    return (wy[:, None] * wx[None, :]).view(1, 1, h, w)


def tile_stages(
    hw: tuple[int, int], tile: int, *, iters: int, overlap: int | None = None, label: str = ""
) -> list[Stage]:
    """The progress schedule of a tiled run: one stage per tile, costed by its pixels.

    >>> [(s.label, s.steps, s.cost) for s in tile_stages((64, 96), 64, iters=5, label="scale 2/2")]
    [('scale 2/2, tile 1/2', 5, 4096), ('scale 2/2, tile 2/2', 5, 4096)]
    """
    boxes = tile_boxes(hw, tile, default_overlap(tile) if overlap is None else overlap)
    prefix = f"{label}, " if label else ""
    return [
        Stage(f"{prefix}tile {k + 1}/{len(boxes)}", iters, (y1 - y0) * (x1 - x0))
        for k, (y0, y1, x0, x1) in enumerate(boxes)
    ]


def optimize_tiled(
    image: torch.Tensor,
    content: torch.Tensor,
    make_tile_loss: Callable[[torch.Tensor], LossFn],
    *,
    tile: int,
    overlap: int | None = None,
    iters: int,
    optimizer: Optimizer = "lbfgs",
    lr: float | None = None,
    callback: Callback | None = None,
    stage: str = "",
    escalate: Escalate | None = None,
    clock: Clock | None = None,
    first_stage: int = 0,
    tol: float = 0.0,
) -> OptimizeResult:
    """Refine ``image`` tile by tile; ``make_tile_loss(content_crop)`` builds each tile's loss.

    Returns the blended canvas; ``history`` holds every tile's history in order, ``steps`` the total
    iterations run. Ctrl-C / :class:`~impasto.optimize.Cancelled` stop after the current tile's best
    image is blended in (the rest of the canvas keeps its starting pixels).

    Progress goes to ``clock`` (stages ``first_stage`` … as :func:`tile_stages` lays them out), or to
    ``callback`` over this run's tiles; each event's image is the canvas with the current tile
    blended in (assembled at most every :data:`PREVIEW_SECONDS`, else None). ``tol``: each tile's
    convergence stop (:func:`~impasto.optimize.optimize`).
    """
    if tile < MIN_TILE:
        raise ValueError(f"tile must be at least {MIN_TILE} px, got {tile}")
    hw = (image.shape[-2], image.shape[-1])
    overlap = default_overlap(tile) if overlap is None else overlap
    boxes = tile_boxes(hw, tile, overlap)
    canvas = image.detach().clone()
    if clock is None and callback is not None:
        clock, first_stage = (
            Clock(tile_stages(hw, tile, iters=iters, overlap=overlap, label=stage), callback),
            0,
        )
    history: list[dict[str, float]] = []
    steps, interrupted, reason = 0, False, ""
    shown = [-math.inf]  # when the last preview was assembled
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        weight = tile_weight((y0, y1, x0, x1), overlap, device=canvas.device)

        def report(
            step: int, losses: Mapping[str, float], tile_image: torch.Tensor | None, _k=k, _w=weight
        ) -> None:
            assert clock is not None
            preview = None
            now = time.monotonic()
            if tile_image is not None and (step >= iters or now - shown[0] >= PREVIEW_SECONDS):
                preview = _blend(canvas.clone(), boxes[_k], tile_image, _w)
                shown[0] = now
            clock.report(first_stage + _k, step, losses, preview)

        loss_fn = make_tile_loss(content[..., y0:y1, x0:x1])
        result = optimize(
            canvas[..., y0:y1, x0:x1],
            loss_fn,
            iters=iters,
            optimizer=optimizer,
            lr=lr,
            report=report if clock is not None else None,
            escalate=escalate,
            tol=tol,
        )
        if result.converged_at is not None and clock is not None:
            clock.end_stage(first_stage + k, result.converged_at, result.stop_reason)
        _blend(canvas, (y0, y1, x0, x1), result.image, weight)
        history += result.history
        steps += result.steps
        if result.interrupted:
            interrupted, reason = True, result.stop_reason
            break
        if result.stop_reason:
            reason = result.stop_reason
    return OptimizeResult(canvas, history, interrupted, reason, steps)


def _blend(canvas: torch.Tensor, box, tile_image: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Blend ``tile_image`` into ``canvas`` (in place) at ``box`` with ``weight``; returns the canvas."""
    y0, y1, x0, x1 = box
    canvas[..., y0:y1, x0:x1].mul_(1 - weight).add_(tile_image.to(canvas.dtype) * weight)
    return canvas


__all__ = [
    "PREVIEW_SECONDS",
    "default_overlap",
    "feather",
    "is_tiled",
    "optimize_tiled",
    "spans",
    "tile_boxes",
    "tile_stages",
    "tile_weight",
]
