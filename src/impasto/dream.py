"""DeepDream (Mordvintsev, Olah & Tyka 2015, "Inceptionism", and Google's ``deepdream.ipynb``):
change an image by gradient *ascent* so that the patterns a layer detects are amplified.

Departure from the original: Google dreamed with GoogLeNet (Inception v1, ``inception_4c/output``).
Those weights are not available offline here, so impasto dreams with the project's ImageNet
VGG-19 (:mod:`impasto.vgg`); layer names are VGG's (``relu4_3`` …) and the look differs — VGG's
patterns are finer and more texture-like than GoogLeNet's dog faces and pagodas.

The algorithm follows the notebook: octaves from small to large, each step computed on a randomly
rolled copy of the image (jitter), a step of fixed size along the gradient divided by its mean
absolute value, the image clipped to its valid range after every step, and the *detail* (dreamed
image minus the octave's base) carried up to the next octave. Around that one step sit, as separate
layers: the objective (:class:`Objective`), the tiling of the gradient (:func:`gradient`), the
octave schedule (:func:`dream`) and the zoom feedback loop (:func:`dream_zoom`).

>>> result = dream("photo.jpg", DreamConfig(layers=("relu4_3",), steps=5))     # doctest: +SKIP
>>> save_image(result.image, "dream.png")                                      # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from .colour import combine_luminance
from .device import device_option, resolve_device
from .errors import ConfigError
from .images import ImageInput, as_picture, check_min_side, fit_longest, resize, size_of
from .optimize import Callback, Cancelled, ImageResult
from .options import check, option
from .output import ANIMATION_FORMATS, check_animation_path, save_animation
from .precision import Precision, precision_option
from .progress import Clock, Stage
from .vgg import (
    CHANNELS,
    VGG19,
    Pool,
    WeightsInput,
    check_layers,
    feature_extractor,
    min_side,
    pool_option,
    stride,
)

#: Objectives of plain (unguided) dreaming.
DreamObjective = Literal["mean-square", "l2"]
OBJECTIVES: tuple[str, ...] = get_args(DreamObjective)
#: ``tile`` besides a size in pixels: ``auto`` (tiles of AUTO_TILE above AUTO_TILE_ABOVE) or ``off``.
DreamTile = Literal["auto", "off"]
#: Image side above which ``tile="auto"`` tiles the gradient, and the tile size it then uses.
AUTO_TILE_ABOVE = 1024
AUTO_TILE = 512
#: Context (pixels) added around each tile so that the features of its core are (nearly) those of
#: the whole image; the receptive field of relu4_x is larger, but its effective field is far smaller.
TILE_MARGIN = 64
#: Octaves whose shorter side would fall below this are skipped (too small to dream on).
MIN_OCTAVE_SIDE = 32


@dataclass(frozen=True)
class DreamConfig:
    """Every setting of :func:`dream` and :func:`dream_zoom`, declared once (the CLI and the service read
    them here)."""

    layers: tuple[str, ...] = option(
        ("relu4_2",),
        metavar="L1,L2",
        help="VGG-19 layer(s) to amplify (summed when several), e.g. relu3_3 (shallow) … relu5_2 (deep)",
    )
    channels: tuple[int, ...] | None = option(
        None, min=0, metavar="C1,C2", help="only these channels of the layer(s) count (default: all)"
    )
    objective: DreamObjective | None = option(
        None,
        help="mean-square (mean squared activation; the default) or l2 (the L2 norm of each layer's "
        "activations); none with a guide image, which has its own objective",
    )
    octaves: int = option(4, min=1, max=20, help="number of scales, each --octave-scale times larger")
    octave_scale: float = option(1.4, above=1.0, max=4.0, help="size ratio between octaves, above 1")
    steps: int = option(10, min=1, max=10_000, help="ascent steps per octave")
    step_size: float = option(
        1.5 / 255,
        above=0,
        max=1,
        help="step length in [0, 1] image units after dividing the gradient by its mean absolute value "
        "(1.5/255: the notebook's 1.5 on its 0-255 scale)",
    )
    jitter: int = option(
        32, min=0, max=1024, help="largest random roll in pixels applied before each step (undone after it)"
    )
    tile: int | DreamTile = option(
        "auto",
        min=64,
        max=8192,
        metavar="SIZE|auto|off",
        help="compute the gradient in tiles of SIZE px to bound memory; auto tiles images above 1024 px",
    )
    size: int | None = option(
        512,
        min=16,
        max=16384,
        metavar="N|original",
        help="longest side of the output; original keeps the input's",
    )
    preserve_color: bool = option(
        False, help="keep the input's colours: use only the dream's luminance (YIQ's Y)"
    )
    guide_size: int = option(
        224, min=16, max=4096, help="longest side of the guide image when its features are computed"
    )
    seed: int = option(0, help="random seed of the jitter")
    pool: Pool = pool_option()
    device: str = device_option()
    precision: Precision = precision_option()
    frames: int = option(24, min=1, max=10_000, help="number of frames of a dream-zoom animation")
    zoom: float = option(
        0.05,
        min=0,
        below=0.5,
        help="fraction of width and height cropped away (then scaled back up) between frames",
    )
    fps: int = option(12, min=1, max=120, help="frames per second of a saved animation")

    def __post_init__(self) -> None:
        check(self)
        if not self.layers:
            raise ConfigError("at least one layer is needed", field="layers")
        check_layers(self.layers, field="layers")
        if self.channels is not None:
            if not self.channels:
                raise ConfigError("channels must list at least one channel index", field="channels")
            for c in self.channels:
                for layer in self.layers:
                    if c >= CHANNELS[layer]:
                        raise ConfigError(
                            f"channel {c} is out of range for layer '{layer}', which has {CHANNELS[layer]} "
                            f"channels (0-{CHANNELS[layer] - 1})",
                            field="channels",
                        )
            if len(set(self.channels)) != len(self.channels):
                raise ConfigError("channels must not repeat an index", field="channels")


class DreamResult(ImageResult):
    """:func:`dream`'s image; ``history`` has one entry per step: ``objective``, ``octave``, ``step``."""


@dataclass
class ZoomResult:
    frames: list[torch.Tensor]
    """Each (1, 3, H, W) in [0, 1], all the size of the (resized) input."""
    interrupted: bool = False


# --------------------------------------------------------------------------------------------------
# Objective: small pure functions on feature maps, plus what is needed to sum them over tiles.


def select_channels(features: torch.Tensor, channels: Sequence[int] | None) -> torch.Tensor:
    """(N, C, H, W) → (N, len(channels), H, W); all channels when ``channels`` is None."""
    if channels is None:
        return features
    return features[:, list(channels)]


def square_sum(features: torch.Tensor, channels: Sequence[int] | None = None) -> torch.Tensor:
    """Sum of squared activations over the chosen channels and every position (float32)."""
    f = select_channels(features, channels).float()
    return (f * f).sum()


def mean_square(features: torch.Tensor, channels: Sequence[int] | None = None) -> torch.Tensor:
    """Mean squared activation — the objective (up to scale) of the notebook's ``objective_L2``."""
    f = select_channels(features, channels)
    return square_sum(f) / f.numel()


def guide_match_sum(
    features: torch.Tensor, guide: torch.Tensor, channels: Sequence[int] | None = None
) -> torch.Tensor:
    """Σ over positions of the largest dot product with any guide feature vector.

    ``guide`` is (C', Q): the guide image's feature vectors (channels already selected). Its gradient
    at each position is the best-matching guide vector — the notebook's ``objective_guide``.
    """
    f = select_channels(features, channels).float()
    n, c, h, w = f.shape
    x = f.permute(0, 2, 3, 1).reshape(n * h * w, c)
    if x.shape[0] == 0:
        return f.sum() * 0
    return (x @ guide.float()).amax(dim=1).sum()


class Objective:
    """What a dream maximises, summed over layers: mean-square or L2 norm of activations, or the
    match to a guide image's features. Values are per whole image even when computed tile by tile.
    """

    def __init__(
        self,
        layers: Sequence[str],
        channels: Sequence[int] | None = None,
        kind: str = "mean-square",
        guide: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.layers = tuple(check_layers(layers))
        self.channels = None if channels is None else tuple(channels)
        self.kind = "guide" if guide is not None else kind
        if self.kind not in (*OBJECTIVES, "guide"):
            raise ConfigError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {kind!r}", field="objective"
            )
        self.guide = guide
        self.stride = max(stride(name) for name in self.layers)

    def partial(self, layer: str, features: torch.Tensor) -> torch.Tensor:
        """The additive part of this layer's objective on (a crop of) its feature map."""
        if self.kind == "guide":
            assert self.guide is not None  # kind "guide" is set only with guide features
            return guide_match_sum(features, self.guide[layer], self.channels)
        return square_sum(features, self.channels)

    def count(self, layer: str, features_hw: tuple[int, int]) -> int:
        """Divisor turning the whole image's partial sum into a mean."""
        positions = features_hw[0] * features_hw[1]
        if self.kind == "guide":
            return max(1, positions)
        return max(1, positions * (CHANNELS[layer] if self.channels is None else len(self.channels)))

    def weights(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
        """d(objective)/d(partial sum) of each layer."""
        if self.kind == "l2":  # d sqrt(S) / dS
            return {k: 0.5 / math.sqrt(max(sums[k], 1e-12)) for k in self.layers}
        return {k: 1.0 / counts[k] for k in self.layers}

    def value(self, sums: dict[str, float], counts: dict[str, int]) -> float:
        if self.kind == "l2":
            return sum(math.sqrt(max(sums[k], 0.0)) for k in self.layers)
        return sum(sums[k] / counts[k] for k in self.layers)

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The objective of a whole image's features, differentiable (the untiled reference)."""
        total = torch.zeros(())
        for k in self.layers:
            s = self.partial(k, features[k])
            if self.kind == "l2":
                total = total + s.clamp_min(1e-12).sqrt()
            else:
                total = total + s / self.count(k, size_of(features[k]))
        return total


def feature_size(hw: tuple[int, int], layer: str) -> tuple[int, int]:
    """(height, width) of a layer's feature map for an input of ``hw`` (VGG pools floor)."""
    s = stride(layer)
    return hw[0] // s, hw[1] // s


# --------------------------------------------------------------------------------------------------
# Gradient, whole or tiled.


def _spans(length: int, tile: int, offset: int, align: int) -> list[tuple[int, int]]:
    """Cut [0, length) at ``offset + k·tile``; every cut is a multiple of ``align``."""
    cuts = [0] + [c for c in range(offset, length, tile) if c > 0] + [length]
    cuts = sorted(set(cuts))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def resolve_tile(tile: int | str, hw: tuple[int, int]) -> int | None:
    """The tile size to use for an image of ``hw``, or None for one whole-image pass."""
    if tile == "off":
        return None
    if tile == "auto":
        return AUTO_TILE if max(hw) > AUTO_TILE_ABOVE else None
    return int(tile) if max(hw) > int(tile) else None


def gradient(
    vgg: VGG19,
    objective: Objective,
    image: torch.Tensor,
    *,
    tile: int | None = None,
    margin: int = TILE_MARGIN,
    generator: torch.Generator | None = None,
) -> tuple[float, torch.Tensor]:
    """The objective of ``image`` and its gradient with respect to the pixels.

    With ``tile``, the gradient is summed over tiles: each tile is evaluated with ``margin`` pixels of
    context on every side, but only the feature positions of its core count, so the sum equals the
    whole-image gradient up to the (small) effect of the truncated receptive field. The tile grid
    starts at a random offset each call (from ``generator``), so any residual seam moves every step.
    Tile edges, offsets and margins are multiples of the deepest layer's stride so that pooling
    windows line up with the whole image's.
    """
    x = image.detach()
    h, w = x.shape[-2:]
    align = objective.stride
    counts = {k: objective.count(k, feature_size((h, w), k)) for k in objective.layers}
    grad = torch.zeros_like(x)

    if tile is None:
        xr = x.clone().requires_grad_(True)
        feats = vgg(xr, objective.layers)
        partials = {k: objective.partial(k, feats[k]) for k in objective.layers}
        values = {k: float(v.detach()) for k, v in partials.items()}
        layer_weights = objective.weights(values, counts)
        total = sum((layer_weights[k] * partials[k] for k in objective.layers), torch.zeros(()))
        (g,) = torch.autograd.grad(total, xr)
        return objective.value(values, counts), g

    tile = max(align, tile // align * align)
    margin = -(-margin // align) * align

    def offset() -> int:
        if generator is None:
            return 0
        return int(torch.randint(0, tile // align, (1,), generator=generator)) * align

    rows = _spans(h, tile, offset(), align)
    cols = _spans(w, tile, offset(), align)
    regions = [(r, c) for r in rows for c in cols]

    def tile_pass(with_grad: bool, weights: dict[str, float] | None) -> dict[str, float]:
        sums = dict.fromkeys(objective.layers, 0.0)
        for (y0, y1), (x0, x1) in regions:
            py0, px0 = max(0, y0 - margin), max(0, x0 - margin)
            py1, px1 = min(h, y1 + margin), min(w, x1 + margin)
            crop = x[..., py0:py1, px0:px1].clone().requires_grad_(with_grad)
            with torch.set_grad_enabled(with_grad):
                feats = vgg(crop, objective.layers)
                parts: dict[str, torch.Tensor] = {}
                for k in objective.layers:
                    s = stride(k)
                    f = feats[k]
                    fy0, fx0 = (y0 - py0) // s, (x0 - px0) // s
                    fy1 = f.shape[-2] if y1 == h else (y1 - py0) // s
                    fx1 = f.shape[-1] if x1 == w else (x1 - px0) // s
                    parts[k] = objective.partial(k, f[..., fy0:fy1, fx0:fx1])
                    sums[k] += float(parts[k].detach())
                if with_grad:
                    assert weights is not None
                    total = sum((weights[k] * parts[k] for k in objective.layers), torch.zeros(()))
                    if total.requires_grad:
                        (g,) = torch.autograd.grad(total, crop)
                        grad[..., py0:py1, px0:px1] += g
        return sums

    if objective.kind == "l2" and len(objective.layers) > 1:
        # The L2 norm's weight per layer needs the whole image's sums first: one extra forward pass.
        with torch.no_grad():
            pre = tile_pass(False, None)
        weights = objective.weights(pre, counts)
    else:
        weights = objective.weights(dict.fromkeys(objective.layers, 1.0), counts)  # rescaled below
    sums = tile_pass(True, weights)
    if objective.kind == "l2" and len(objective.layers) == 1:
        k = objective.layers[0]
        grad *= objective.weights(sums, counts)[k] / weights[k]
    return objective.value(sums, counts), grad


# --------------------------------------------------------------------------------------------------
# Colour: luminance-only recombination (impasto.colour's YIQ helpers).


def keep_colour(dreamed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """The luminance of ``dreamed`` with the chroma (YIQ's I and Q) of ``original``, in [0, 1]."""
    if original.shape[-2:] != dreamed.shape[-2:]:
        original = resize(original, size_of(dreamed))
    return combine_luminance(dreamed, original)


# --------------------------------------------------------------------------------------------------
# The dream: octaves around the normalised, jittered ascent step.


def octave_sizes(hw: tuple[int, int], octaves: int, scale: float) -> list[tuple[int, int]]:
    """Sizes from the smallest octave to ``hw``; octaves below :data:`MIN_OCTAVE_SIDE` are dropped."""
    sizes = [hw]
    for i in range(1, octaves):
        s = scale**i
        size = (max(1, round(hw[0] / s)), max(1, round(hw[1] / s)))
        if min(size) < MIN_OCTAVE_SIDE:
            break
        sizes.append(size)
    return sizes[::-1]


def _resize_detail(detail: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # Bilinear like the notebook's nd.zoom(order=1); no clamp — detail is a signed difference.
    return F.interpolate(detail, size=size, mode="bilinear", align_corners=False)


def _step(vgg, objective, x, config, tile, gen) -> tuple[float, torch.Tensor]:
    """One ascent step: roll by a random jitter, gradient, unroll, normalised step, clip to [0, 1]."""
    j = config.jitter
    oy, ox = torch.randint(-j, j + 1, (2,), generator=gen).tolist() if j else (0, 0)
    rolled = torch.roll(x, shifts=(oy, ox), dims=(-2, -1))
    value, g = gradient(vgg, objective, rolled, tile=resolve_tile(tile, size_of(x)), generator=gen)
    g = torch.roll(g, shifts=(-oy, -ox), dims=(-2, -1))
    x = x + config.step_size / (g.abs().mean() + 1e-12) * g
    return value, x.clamp(0, 1)


def check_sizes(
    config: DreamConfig, image_hw: tuple[int, int], guide_hw: tuple[int, int] | None = None
) -> None:
    """Refuse an image (or guide) whose working size is narrower than the deepest layer's stride —
    below it VGG pools to nothing. Sizes as given (the file's); ``size``/``guide_size`` applied here."""
    need = min_side(config.layers)
    deepest_layer = max(config.layers, key=stride)
    for what, hw, size, flag, name in (
        ("image", image_hw, config.size, "--size", "content"),
        ("guide image", guide_hw, config.guide_size, "--guide-size", "guide"),
    ):
        if hw is not None:
            check_min_side(
                fit_longest(hw, size) if size else hw,
                need,
                what,
                field=name,
                why=f"layer '{deepest_layer}'",
                hint=f" (use a larger {flag})",
            )


def _prepare(image: ImageInput, config: DreamConfig, guide: ImageInput | None, weights):
    """Everything a dream needs, in the order that fails fast: input, guide, network, guide features."""
    device = resolve_device(config.device)
    if config.objective is not None and guide is not None:
        raise ConfigError(
            "objective cannot be chosen with a guide image: guided dreaming maximises the "
            "match to the guide's features",
            field="objective",
        )
    pic = as_picture(image, config.size, what="image")
    guide_pic = None if guide is None else as_picture(guide, config.guide_size, what="guide image")
    check_sizes(config, pic.size, None if guide_pic is None else guide_pic.size)
    vgg = feature_extractor(
        config.layers, pool=config.pool, weights=weights, device=device, precision=config.precision
    )
    guide_feats = None
    if guide_pic is not None:
        with torch.no_grad():
            feats = vgg(guide_pic.rgb.to(device), config.layers)
        guide_feats = {}
        for k, f in feats.items():
            f = select_channels(f, config.channels)[0]
            guide_feats[k] = f.reshape(f.shape[0], -1).float()
    objective = Objective(config.layers, config.channels, config.objective or "mean-square", guide_feats)
    return pic, vgg, objective, device


def _dream_octaves(
    vgg,
    objective,
    base: torch.Tensor,
    config: DreamConfig,
    gen,
    clock: Clock,
    first_stage: int,
    history: list,
) -> tuple[torch.Tensor, bool]:
    """The notebook's ``deepdream``: returns the full-size dream and whether it was interrupted.
    Octave ``o`` reports as stage ``first_stage + o`` of ``clock`` (:func:`_stages`)."""
    sizes = octave_sizes(size_of(base), config.octaves, config.octave_scale)
    bases = [resize(base, s) for s in sizes]
    detail = torch.zeros_like(bases[0])
    x = bases[0]
    try:
        for o, octave_base in enumerate(bases):
            detail = _resize_detail(detail, size_of(octave_base))
            x = (octave_base + detail).clamp(0, 1)
            for i in range(config.steps):
                value, x = _step(vgg, objective, x, config, config.tile, gen)
                history.append({"objective": value, "octave": o + 1, "step": i + 1})
                clock.report(first_stage + o, i + 1, {"objective": value}, x)
            detail = x - octave_base
    except (KeyboardInterrupt, Cancelled):
        # Keep the work: the current detail carried to full size, as the next octave would start.
        return (base + _resize_detail(x - bases[o], size_of(base))).clamp(0, 1), True
    return x, False


def _stages(hw: tuple[int, int], config: DreamConfig, frames: int | None = None) -> list[Stage]:
    """The progress schedule: each octave (of each frame) a stage whose step costs its pixels."""
    octaves = octave_sizes(hw, config.octaves, config.octave_scale)
    stages = []
    for n in range(frames or 1):
        label = f"frame {n + 1}/{frames} " if frames else ""
        stages += [
            Stage(f"{label}octave {o + 1}/{len(octaves)} ({w}x{h})", config.steps, h * w)
            for o, (h, w) in enumerate(octaves)
        ]
    return stages


def dream(
    image: ImageInput,
    config: DreamConfig | None = None,
    *,
    guide: ImageInput | None = None,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    **overrides,
) -> DreamResult:
    """Dream on ``image`` (a path, a :class:`~impasto.images.Picture` or a (1, 3, H, W) tensor in [0, 1]).

    ``guide`` switches to guided dreaming: each position is pushed towards its best-matching feature
    vector of the guide image. ``overrides`` are :class:`DreamConfig` fields. Ctrl-C (or raising
    :class:`~impasto.optimize.Cancelled` from ``callback``) returns the current dream, ``interrupted``.
    """
    config = replace(config or DreamConfig(), **overrides)
    pic, vgg, objective, device = _prepare(image, config, guide, weights)
    base = pic.rgb.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    clock = Clock(_stages((int(base.shape[-2]), int(base.shape[-1])), config), callback)
    history: list[dict[str, float]] = []
    x, interrupted = _dream_octaves(vgg, objective, base, config, gen, clock, 0, history)
    if config.preserve_color:
        x = keep_colour(x, base)
    return DreamResult(x.cpu(), history, interrupted, pic.alpha)


def zoom_in(image: torch.Tensor, zoom: float) -> torch.Tensor:
    """Crop ``zoom`` of the width and height around the centre and scale back to the same size."""
    if zoom <= 0:
        return image
    h, w = image.shape[-2:]
    ch, cw = max(1, round(h * (1 - zoom))), max(1, round(w * (1 - zoom)))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return resize(image[..., y0 : y0 + ch, x0 : x0 + cw], (h, w))


def dream_zoom(
    image: ImageInput,
    config: DreamConfig | None = None,
    *,
    guide: ImageInput | None = None,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    **overrides,
) -> ZoomResult:
    """The notebook's zoom feedback loop: dream, keep the frame, zoom in, repeat (``config.frames`` times).

    Each frame is a full octave dream of the previous frame zoomed in by ``config.zoom``. Ctrl-C
    returns the frames finished so far (the interrupted frame included, as far as it got).
    """
    config = replace(config or DreamConfig(), **overrides)
    pic, vgg, objective, device = _prepare(image, config, guide, weights)
    frame = pic.rgb.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    stages = _stages((int(frame.shape[-2]), int(frame.shape[-1])), config, config.frames)
    clock = Clock(stages, callback)
    per_frame = len(stages) // config.frames
    frames: list[torch.Tensor] = []
    history: list[dict[str, float]] = []
    for n in range(config.frames):
        source = frame
        frame, interrupted = _dream_octaves(
            vgg, objective, source, config, gen, clock, n * per_frame, history
        )
        if config.preserve_color:
            frame = keep_colour(frame, source)
        frames.append(frame.cpu())
        if interrupted:
            return ZoomResult(frames, True)
        frame = zoom_in(frame, config.zoom)
    return ZoomResult(frames, False)


__all__ = [
    "ANIMATION_FORMATS",
    "DreamConfig",
    "DreamResult",
    "Objective",
    "ZoomResult",
    "check_animation_path",
    "dream",
    "dream_zoom",
    "gradient",
    "guide_match_sum",
    "keep_colour",
    "mean_square",
    "save_animation",
    "square_sum",
    "zoom_in",
]
