"""A contact sheet of the content/style trade-off, after Gatys et al. 2016, "Image Style Transfer Using
Convolutional Neural Networks", Figure 3: rows of growing style-layer sets (relu1_1, relu1_1 + relu2_1,
… relu1_1 … relu5_1), columns of content/style weight ratios α/β (1e-5 … 1e-2).

The ratios mean what they mean in the paper because the loss here is written in the paper's own
normalisation (not :mod:`impasto.stylize`'s size-independent means):

    L = α · ½ Σ (F − P)²  +  β · Σ_l (1/L) · 1/(4 N_l² M_l²) Σ (G_l − A_l)²,   β = 1, α = ratio

with F, P the content-layer features of the image and the photo, G_l, A_l the Gram matrices of the
image and the painting at layer l, N_l channels, M_l positions, L layers in the row. The content term
grows with the image's area and the style term does not, so a ratio means more content at a larger
size — as in the paper, whose figure is ~512 px.

Shared work: one VGG-19 for every cell, the photo's content features and the painting's Gram
matrices computed once (at every layer any row uses), one starting image for all cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from PIL import Image

from . import losses
from .checks import (
    MAX_SIDE,
    MIN_SIDE,
    check_layer_set,
    check_layer_size,
)
from .device import device_option, resolve_device
from .errors import ConfigError
from .figures import labelled_grid
from .images import ImageInput, as_picture, initial_image, size_of
from .optimize import Callback, Optimizer, lr_option, optimizer_option
from .options import check, option
from .precision import Precision, precision_option
from .progress import Clock, Stage
from .reconstruct import STYLE_LAYERS, Cell, cumulative, run_cell, set_label
from .vgg import Pool, WeightsInput, feature_extractor, pool_option

#: Gatys et al. 2016, Fig. 3.
RATIOS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)


def format_ratio(r: float) -> str:
    """1e-05 → ``1e-5``; 0.003 → ``3e-3``; 0.25 → ``0.25``.

    >>> [format_ratio(r) for r in (1e-05, 0.003, 0.25, 2.5e-4)]
    ['1e-5', '3e-3', '0.25', '2.5e-4']
    """
    if r <= 0 or not math.isfinite(r):
        return str(r)
    if 0.1 <= r < 1000:
        return f"{r:g}"
    exp = math.floor(math.log10(r))
    mant_s = f"{r / 10**exp:.2g}"
    if mant_s == "10":  # rounding up (9.99e-4 → 1e-3)
        mant_s, exp = "1", exp + 1
    return f"1e{exp}" if mant_s == "1" else f"{mant_s}e{exp}"


SweepInit = Literal["noise", "content"]


@dataclass(frozen=True)
class SweepConfig:
    """Every setting of :func:`sweep`, declared once (the CLI reads it here)."""

    ratios: tuple[float, ...] = option(
        RATIOS,
        above=0,
        metavar="R1,R2",
        help="content/style weight ratios α/β, one column each (paper normalisation, see the module doc)",
    )
    rows: tuple[str, ...] = option(
        STYLE_LAYERS,
        metavar="L1,L2",
        help="row k matches the style on the first k of these layers (growing sets, as in the paper)",
    )
    content_layer: str = option(
        "relu4_2",
        metavar="LAYER",
        help="the content layer (Gatys et al.'s conv4_2: their Caffe ReLU is in place, so its blob is our relu4_2)",
    )
    size: int = option(
        256,
        min=MIN_SIDE,
        max=MAX_SIDE,
        help="longest side of each cell (the photo and the painting are resized to it)",
    )
    iters: int = option(200, min=1, max=100_000, help="iterations per cell")
    init: SweepInit = option(
        "noise", help="noise (as in the paper: every cell starts from the same white noise) or content"
    )
    pool: Pool = pool_option("avg", "Gatys et al. 2016 synthesise with average pooling")
    optimizer: Optimizer = optimizer_option()
    lr: float | None = lr_option()
    seed: int = option(0, help="noise seed")
    device: str = device_option()
    precision: Precision = precision_option()

    def __post_init__(self) -> None:
        check(self)
        ratios = (self.ratios,) if isinstance(self.ratios, (int, float)) else tuple(self.ratios)
        if not ratios:
            raise ConfigError("ratios needs at least one content/style ratio", field="ratios")
        object.__setattr__(self, "ratios", tuple(float(r) for r in ratios))
        object.__setattr__(self, "rows", check_layer_set(self.rows, field="rows"))
        check_layer_set((self.content_layer,), field="content_layer")

    @property
    def layer_sets(self) -> tuple[tuple[str, ...], ...]:
        return cumulative(self.rows)


@dataclass
class SweepResult:
    content: torch.Tensor
    style: torch.Tensor
    ratios: tuple[float, ...]
    cells: list[list[Cell]]
    """``cells[row][col]``: row = style-layer set, col = ratio."""
    interrupted: bool = False

    @property
    def row_labels(self) -> list[str]:
        return [set_label(row[0].layers).replace(" ... ", "\n... ") for row in self.cells]

    @property
    def col_labels(self) -> list[str]:
        return [f"content/style {format_ratio(r)}" for r in self.ratios]

    def figure(self, *, title: str | None = None, font_size: int = 15) -> Image.Image:
        """The labelled sheet: rows of layer sets, columns of ratios; unfinished cells blank."""
        h, w = self.content.shape[-2:]
        grid = [[c.image for c in row] for row in self.cells]
        return labelled_grid(
            grid,
            row_labels=self.row_labels,
            col_labels=self.col_labels,
            cell_size=(int(w), int(h)),
            title=title,
            font_size=font_size,
        )


def sweep(
    content: ImageInput,
    style: ImageInput,
    config: SweepConfig | None = None,
    *,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    **overrides,
) -> SweepResult:
    """Stylise ``content`` with ``style`` once per (layer set, ratio) cell; see :class:`SweepConfig`.

    Progress events carry ``stage="cell k/n (…)"``. On Ctrl-C (or :class:`impasto.optimize.Cancelled`)
    the current cell keeps its best image so far and later cells stay empty (``image`` None).
    """
    config = replace(config or SweepConfig(), **overrides)
    device = resolve_device(config.device)
    sets = config.layer_sets
    style_layers = tuple(config.rows)
    every = (*style_layers, config.content_layer)  # the cells start from an image of the content's size
    c = as_picture(content, config.size, what="content image").rgb.to(device)
    check_layer_size(size_of(c), every, "content image")
    s = as_picture(style, config.size, what="style image").rgb.to(device)
    check_layer_size(size_of(s), style_layers, "style image")
    vgg = feature_extractor(
        every, pool=config.pool, weights=weights, device=device, precision=config.precision
    )
    with torch.no_grad():  # every target once, for all cells
        content_target = vgg(c, (config.content_layer,))[config.content_layer]
        grams = {k: losses.gram(v) for k, v in vgg(s, style_layers).items()}
    start = initial_image(config.init, c.shape, seed=config.seed, device=device, content=c)

    cells = [
        [Cell(f"{set_label(layers)}, ratio {format_ratio(r)}", layers) for r in config.ratios]
        for layers in sets
    ]
    n = len(sets) * len(config.ratios)
    labels = [f"cell {k + 1}/{n} ({cell.label})" for k, cell in enumerate(c for row in cells for c in row)]
    clock = Clock([Stage(label, config.iters) for label in labels], callback)
    interrupted = False
    k = 0
    for row in cells:
        for cell, ratio in zip(row, config.ratios, strict=True):
            loss_fn = _gatys_loss_fn(vgg, config.content_layer, content_target, grams, cell.layers, ratio)
            if run_cell(cell, start, loss_fn, config, vgg, clock.reporter(k)):
                interrupted = True
                break
            k += 1
        if interrupted:
            break
    return SweepResult(c.cpu(), s.cpu(), config.ratios, cells, interrupted)


def _gatys_loss_fn(vgg, content_layer: str, content_target, grams, style_layers: Sequence[str], ratio: float):
    """The loss of Gatys et al. 2016, eq. 7, with β = 1 and α = ratio (see the module docstring)."""
    layers = tuple(dict.fromkeys((*style_layers, content_layer)))
    w_l = 1.0 / len(style_layers)

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, layers)
        # ½ Σ (F − P)² == ½ · numel · mean squared error
        content = 0.5 * content_target.numel() * losses.content_loss(feats[content_layer], content_target)
        parts = {}
        for k in style_layers:
            n_l = feats[k].shape[1]
            # 1/(4 N² M²) Σ (G − A)² with raw Gram matrices == ¼ · N² · mean (g − a)² with g = G/(N·M)
            parts[f"style.{k}"] = w_l * 0.25 * n_l * n_l * losses.style_loss(feats[k], grams[k])
        style = sum(parts.values())
        parts["content"] = ratio * content
        parts["style"] = style
        return parts["content"] + style, parts

    return loss_fn


__all__ = ["RATIOS", "SweepConfig", "SweepResult", "format_ratio", "sweep"]
