"""The reconstructions of Gatys et al. 2016, "Image Style Transfer Using Convolutional Neural
Networks", Figure 1: what each layer of VGG-19 keeps of an image.

* ``content``: white noise optimised until its features at one layer match the image's — one cell
  per layer (``conv1_2 … conv5_2``). Shallow layers give the image back almost exactly; deep layers
  keep the arrangement of objects and lose the exact pixels.
* ``style``: white noise optimised until its Gram matrices match the image's on a growing set of
  layers (``{relu1_1}``, ``{relu1_1, relu2_1}``, … ``{… relu5_1}``) — the texture of the image at
  growing scales, with its arrangement discarded.

One VGG-19 and one forward pass of the image serve every cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import torch
from PIL import Image

from . import losses
from .checks import MAX_SIDE, MIN_SIDE, check_layer_set, check_layer_size
from .device import device_option, resolve_device
from .figures import labelled_grid
from .images import ImageInput, as_picture, initial_image, size_of
from .optimize import Callback, LossFn, Optimizer, lr_option, optimize, optimizer_option
from .options import check, option
from .precision import Precision, escalation, precision_option
from .progress import Clock, Report, Stage
from .vgg import VGG19, Pool, WeightsInput, feature_extractor, pool_option

#: Gatys et al. 2016, Fig. 1. Their Caffe network's ReLUs are in place, so their "conv4_2" blob holds
#: the rectified output; we take the names literally (the convolution's output, before the ReLU), which
#: keeps the sign information and gives slightly sharper reconstructions. Pass relu*_2 for the other reading.
CONTENT_LAYERS: tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def cumulative(layers: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """``(a, b, c)`` → ``((a,), (a, b), (a, b, c))``: the growing layer sets of Gatys et al.'s figures."""
    layers = tuple(layers)
    return tuple(layers[: i + 1] for i in range(len(layers)))


def set_label(layers: Sequence[str]) -> str:
    """A short label for a layer set: ``relu1_1`` or ``relu1_1 … relu3_1`` (first and last)."""
    layers = tuple(layers)
    if len(layers) == 1:
        return layers[0]
    if len(layers) == 2:
        return f"{layers[0]} + {layers[1]}"
    return f"{layers[0]} ... {layers[-1]}"


Kind = Literal["content", "style"]
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True)
class ReconstructConfig:
    """Every setting of :func:`reconstruct`, declared once (the CLI reads it here)."""

    kind: Kind = option(
        "content", cli=False, help="content (one cell per layer) or style (one cell per growing layer set)"
    )
    layers: tuple[str, ...] | None = option(
        None,
        metavar="L1,L2",
        help="content: one cell per layer; style: cell k uses the first k layers (default "
        + ",".join(CONTENT_LAYERS)
        + " / "
        + ",".join(STYLE_LAYERS)
        + ", Gatys et al.'s)",
    )
    size: int = option(
        256, min=MIN_SIDE, max=MAX_SIDE, help="longest side of the image and of each cell, in pixels"
    )
    iters: int = option(300, min=1, max=100_000, help="iterations per cell")
    pool: Pool = pool_option(
        "avg", 'Gatys et al. 2016 synthesise with average pooling: "slightly more appealing"'
    )
    optimizer: Optimizer = optimizer_option()
    lr: float | None = lr_option()
    seed: int = option(0, help="seed of the white noise every cell starts from (the same for all cells)")
    device: str = device_option()
    precision: Precision = precision_option()

    def __post_init__(self) -> None:
        check(self)
        if self.layers is not None:
            object.__setattr__(self, "layers", check_layer_set(self.layers, field="layers"))

    @property
    def layer_sets(self) -> tuple[tuple[str, ...], ...]:
        """The layer set of each cell, in order."""
        if self.kind == "content":
            return tuple((name,) for name in self.layers or CONTENT_LAYERS)
        return cumulative(self.layers or STYLE_LAYERS)


@dataclass
class Cell:
    label: str
    layers: tuple[str, ...]
    image: torch.Tensor | None = None
    """(1, 3, H, W) in [0, 1]; None when the run was interrupted before this cell started."""
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


@dataclass
class ReconstructResult:
    kind: str
    original: torch.Tensor
    cells: list[Cell]
    interrupted: bool = False

    def figure(
        self, *, title: str | None = None, font_size: int = 15, with_original: bool = True
    ) -> Image.Image:
        """One labelled row: the original (optional), then every cell (blank if never run)."""
        images = [c.image for c in self.cells]
        labels = [
            c.label + (" (stopped)" if c.interrupted else "")
            if c.image is not None
            else f"{c.label} (not run)"
            for c in self.cells
        ]
        if with_original:
            images.insert(0, self.original)
            labels.insert(0, "original")
        h, w = self.original.shape[-2:]
        return labelled_grid(
            [images], col_labels=labels, cell_size=(int(w), int(h)), title=title, font_size=font_size
        )


def reconstruct(
    image: ImageInput,
    config: ReconstructConfig | None = None,
    *,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    **overrides,
) -> ReconstructResult:
    """Reconstruct ``image`` from white noise, one cell per layer (set) of ``config``.

    ``overrides`` are :class:`ReconstructConfig` fields, e.g. ``reconstruct(img, kind="style", iters=200)``.
    On Ctrl-C (or :class:`impasto.optimize.Cancelled` from the callback) the current cell keeps its best
    image so far, later cells stay empty and ``interrupted`` is set.
    """
    config = replace(config or ReconstructConfig(), **overrides)
    device = resolve_device(config.device)
    sets = config.layer_sets
    every = tuple(dict.fromkeys(name for s in sets for name in s))
    target = as_picture(image, config.size, what="image").rgb.to(device)
    check_layer_size(size_of(target), every, "image")
    vgg = feature_extractor(
        every, pool=config.pool, weights=weights, device=device, precision=config.precision
    )
    with torch.no_grad():  # one forward pass of the image serves every cell
        feats = vgg(target, every)
        targets = feats if config.kind == "content" else {k: losses.gram(v) for k, v in feats.items()}
    del feats
    start = initial_image("noise", target.shape, seed=config.seed, device=device)

    cells = [Cell(set_label(s), s) for s in sets]
    clock = Clock(
        [Stage(f"cell {i + 1}/{len(cells)} ({c.label})", config.iters) for i, c in enumerate(cells)], callback
    )
    interrupted = False
    for i, cell in enumerate(cells):
        if run_cell(
            cell, start, _loss_fn(vgg, targets, cell.layers, config.kind), config, vgg, clock.reporter(i)
        ):
            interrupted = True
            break
    return ReconstructResult(config.kind, target.cpu(), cells, interrupted)


def run_cell(
    cell: Cell, start: torch.Tensor, loss_fn: LossFn, config: Any, vgg: VGG19, report: Report
) -> bool:
    """Optimise one cell of a figure from ``start`` with ``config``'s optimiser settings, storing its image
    and history in ``cell``; True when it was interrupted (shared by :mod:`impasto.sweep`)."""
    result = optimize(
        start,
        loss_fn,
        iters=config.iters,
        optimizer=config.optimizer,
        lr=config.lr,
        escalate=escalation(vgg),
        report=report,
    )
    cell.image, cell.history, cell.interrupted = result.image.cpu(), result.history, result.interrupted
    return result.interrupted


def _loss_fn(vgg, targets, layers, kind: str):
    """Sum over ``layers`` of the content loss (features) or the style loss (Gram matrices)."""
    term = losses.content_loss if kind == "content" else losses.style_loss

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, layers)
        parts = {f"{kind}.{k}": term(feats[k], targets[k]) for k in layers}
        total = sum(parts.values())
        return total, {kind: total, **parts}

    return loss_fn


__all__ = [
    "CONTENT_LAYERS",
    "STYLE_LAYERS",
    "ReconstructConfig",
    "ReconstructResult",
    "cumulative",
    "reconstruct",
]
