"""Gatys et al. 2016, "Image Style Transfer Using Convolutional Neural Networks": optimise the pixels
of an image so its VGG-19 ``relu4_2`` features match a photo's and its Gram matrices of
``relu1_1 … relu5_1`` match a painting's.

Around that one optimisation: several style images blended or confined to regions by masks
(Gatys et al. 2017), colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic
Style Transfer") and a coarse-to-fine schedule (:mod:`impasto.multiscale`). The building blocks
:func:`style_targets` and :func:`make_loss` are public so other pipelines (tiling) can reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, cast, get_args

import torch

from . import colour, faces, losses, multiscale
from .checks import check_layer_size, check_style_counts
from .device import check_device, resolve_device
from .errors import ConfigError
from .faces import Faces, face_style_option, faces_option
from .images import (
    ImageInput,
    as_picture,
    fit_longest,
    initial_image,
    resize,
    size_of,
)
from .masks import MaskInput, fit_mask, load_mask
from .optimize import (
    Callback,
    ImageResult,
    LossFn,
    Optimizer,
    lr_option,
    optimize,
    optimizer_option,
    tol_option,
)
from .options import check, option
from .precision import Precision, escalation
from .progress import Clock, Stage
from .tiling import MIN_TILE, is_tiled, optimize_tiled, tile_stages
from .vgg import VGG19, Pool, WeightsInput, check_layers, feature_extractor, pool_option

PreserveColor = Literal["none", "luminance", "histogram"]
PRESERVE_COLOR: tuple[str, ...] = get_args(PreserveColor)
#: The starting images that are named rather than given as a file.
NAMED_INITS = ("content", "noise", "fast")


@dataclass(frozen=True)
class StylizeConfig:
    """Every setting of :func:`stylize`, declared once (:func:`impasto.options.option`): the CLI, the web
    service and the checks take their defaults, bounds and help from here."""

    size: int = option(512, min=16, max=8192, help="longest side of the output, in pixels")
    iters: int = option(500, min=1, max=100_000, help="iterations (at each scale of a multi-scale run)")
    content_weight: float = option(5.0, above=0, help="weight of the content loss")
    style_weight: float = option(100.0, above=0, help="weight of the style loss")
    tv_weight: float = option(1e-3, min=0, help="total variation weight")
    content_layers: tuple[str, ...] = option(("relu4_2",), help="VGG-19 layers whose features are matched")
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        help="VGG-19 layers whose Gram matrices are matched",
    )
    content_layer_weights: tuple[float, ...] | None = option(
        None, above=0, cli=False, help="one weight per content layer (None: 1 each)"
    )
    style_layer_weights: tuple[float, ...] | None = option(
        None, above=0, cli=False, help="one weight per style layer (None: 1 each)"
    )
    style_blend_weights: tuple[float, ...] | None = option(
        None,
        min=0,
        cli=False,
        help="one weight per style image (None: equal). Without masks they are normalised to sum to 1 "
        "and the Gram targets blended; with masks each scales its own region's style loss",
    )
    style_scale: float = option(1.0, min=0.05, max=8.0, help="style image size relative to the output")
    optimizer: Optimizer = optimizer_option()
    lr: float | None = lr_option()
    init: str = option(
        "fast",
        metavar="fast|content|noise|PATH",
        help="starting image: fast = the arbitrary-style network's painting of the photo with the same "
        "style image(s) (one forward pass; see `impasto fast --style-image`), content = the photo, "
        "noise, or an image file",
    )
    tol: float = tol_option(2e-3)
    seed: int = option(0, help="random seed")
    pool: Pool = pool_option()
    normalize_gradients: bool = option(
        False,
        help="divide each loss term's gradient by its L1 norm (as jcjohnson/neural-style); best with "
        "--optimizer adam (L-BFGS tends to stop early with it)",
    )
    preserve_color: PreserveColor = option(
        "none",
        help="keep the content's colours (Gatys et al. 2016): 'luminance' transfers style on luminance only "
        "and keeps the content's chroma; 'histogram' matches the style image's colour mean/covariance to "
        "the content's first",
    )
    scales: int | None = option(
        None,
        min=1,
        max=12,
        help="coarse-to-fine scales, each √2 (--scale-factor) larger, ending at --size (default: 1 up to "
        "512 px; above, starting at 512 px or below)",
    )
    start_size: int | None = option(
        None,
        min=multiscale.MIN_SIZE,
        help="size of the first scale (with --scales: sizes spread geometrically from it)",
    )
    scale_factor: float = option(multiscale.SQRT2, min=1.01, max=4.0, help="growth between scales")
    device: str = option("auto", help="auto, cpu, cuda or mps")
    precision: Precision = option(
        "auto",
        help="VGG-19 arithmetic (Gram matrices, losses and the image stay fp32, see impasto.precision): "
        "auto = bf16 where the CPU/GPU runs it natively (AMX, AVX-512 BF16, Ampere+), else fp32",
    )
    tile: int | None = option(
        None,
        min=MIN_TILE,
        max=8192,
        metavar="SIZE",
        help="refine in overlapping SIZE px tiles with the whole style's statistics, for outputs too large "
        "for memory (default: whole image; see impasto.tiling). Tiled runs do not detect faces",
    )
    # --- portraits (impasto.faces) ---
    faces: Faces = faces_option("less style and more content", "every pixel alike")
    face_style: float = face_style_option(
        "share of the style kept on faces, 0-1: a face pixel counts this much in the Gram statistics"
    )
    face_content: float = option(
        3.0,
        min=1.0,
        max=100.0,
        metavar="K",
        help="content weight on faces, as a multiple of --content-weight",
    )

    def __post_init__(self) -> None:
        check(self)
        if self.size * self.style_scale > 8192:
            raise ConfigError(
                f"style image would be {round(self.size * self.style_scale)} px (size × style-scale); the limit is 8192",
                field="style_scale",
            )
        if not self.content_layers or not self.style_layers:
            raise ConfigError("at least one content layer and one style layer are needed", field="layers")
        check_layers(self.content_layers, field="content_layers")
        check_layers(self.style_layers, field="style_layers")
        _check_count(
            "content_layer_weights", self.content_layer_weights, len(self.content_layers), "content layers"
        )
        _check_count("style_layer_weights", self.style_layer_weights, len(self.style_layers), "style layers")
        if self.style_blend_weights is not None and not sum(self.style_blend_weights) > 0:
            raise ConfigError("style blend weights must not all be zero", field="style_blend_weights")
        if self.start_size is not None and self.start_size > self.size:
            raise ConfigError(
                f"start-size must be between {multiscale.MIN_SIZE} and {self.size} (--size), got {self.start_size}",
                field="start_size",
            )
        check_device(self.device)  # defined below this class (the other configs: validate=check_device)

    def sizes(self) -> list[int]:
        """The coarse-to-fine schedule this config runs (one entry for a single-scale run)."""
        return multiscale.schedule(
            self.size, scales=self.scales, start_size=self.start_size, factor=self.scale_factor
        )


def _check_count(name: str, values: Sequence[float] | None, count: int, what: str) -> None:
    """One weight per layer: the count is a rule across fields (each weight's sign is declared)."""
    if values is not None and len(values) != count:
        raise ConfigError(
            f"{name.replace('_', '-')}: {len(values)} weights given for {count} {what}", field=name
        )


@dataclass
class StylizeResult(ImageResult):
    """:func:`stylize`'s image (``alpha``: the content image's)."""

    converged_at: int | None = None
    """The iteration of the last scale at which the convergence stop (``tol``) ended it, or None."""

    @property
    def note(self) -> str:
        """What ended the run early, for people (``"converged at 212"``), or ``""``."""
        return "" if self.converged_at is None else f"converged at {self.converged_at}"


@dataclass(frozen=True)
class StyleTarget:
    """What one style term of the loss matches: Gram matrices per layer, a weight, an optional region."""

    grams: Mapping[str, torch.Tensor]
    """Layer name → (1, C, C) Gram matrix."""
    weight: float = 1.0
    mask: torch.Tensor | None = None
    """(1, 1, H, W) region in [0, 1] (any size: resized to each layer), or None for everywhere."""


def check_sizes(
    config: StylizeConfig, content_hw: tuple[int, int], style_hws: Sequence[tuple[int, int]]
) -> None:
    """Refuse, before any work, inputs that the first (smallest) scale would make narrower than the VGG
    layers need. Sizes as given (the files'); the same resizing as :func:`stylize` is applied here."""
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    first = config.sizes()[0]
    at = f" at the {'first scale' if len(config.sizes()) > 1 else 'output size'} ({first} px)"
    check_layer_size(
        fit_longest(fit_longest(content_hw, config.size), first),
        layers,
        "content image",
        field="content",
        at=at,
    )
    style_size = max(16, round(config.size * config.style_scale))
    for i, hw in enumerate(style_hws):
        hw = fit_longest(fit_longest(hw, style_size), max(16, round(first * config.style_scale)))
        what = f"style image {i + 1}" if len(style_hws) > 1 else "style image"
        check_layer_size(hw, layers, what, field="style", at=f" at {max(hw)} px (size × style-scale)")


# --------------------------------------------------------------------------------------------------
# Targets and loss


def style_targets(
    vgg: VGG19,
    styles: Sequence[torch.Tensor],
    weights: Sequence[float] | None,
    config: StylizeConfig,
    masks: Sequence[torch.Tensor] | None = None,
) -> list[StyleTarget]:
    """Style targets from style images (each (1, 3, h, w) in [0, 1], already at the wanted size).

    Without masks: one target whose Gram matrices are the weighted mean of the styles' (weights
    normalised to sum to 1, as jcjohnson/neural-style's ``-style_blend_weights``). With masks (one per
    style): one target per style, confined to its mask and scaled by its (unnormalised) weight.
    """
    weights = list(weights) if weights is not None else [1.0] * len(styles)
    check_style_counts(len(styles), masks=None if masks is None else len(masks), blend_weights=len(weights))
    per_style = []
    with torch.no_grad():
        for s in styles:
            feats = vgg(s, config.style_layers)
            per_style.append({k: losses.gram(v) for k, v in feats.items()})
    if masks is not None:
        return [StyleTarget(g, float(w), m) for g, w, m in zip(per_style, weights, masks, strict=True)]
    total = float(sum(weights))
    blended = {
        layer: sum(
            (g[layer] * (w / total) for g, w in zip(per_style, weights, strict=True) if w > 0),
            torch.zeros_like(per_style[0][layer]),
        )
        for layer in config.style_layers
    }
    return [StyleTarget(blended, 1.0, None)]


def with_faces(targets: Sequence[StyleTarget], region: torch.Tensor, face_style: float) -> list[StyleTarget]:
    """The targets with faces (region (1, 1, H, W) in [0, 1]) weighted down in their Gram matrices.

    The masks of Gatys et al. 2017 weight each position's features before the Gram matrix; here the
    face's features are weighted by √face_style, so a face pixel's share of the Gram statistics (and
    of the style gradient) is ``face_style`` times what it was, falling smoothly to the full weight
    outside. Departure from Gatys et al. 2017, who use masks to give each region its own style: here
    one style is kept everywhere but matters less on faces (a separate Gram target for the face
    alone would push its few pixels harder, not softer, since a masked Gram is normalised by its mass).
    """
    weight = 1 - region * (1 - math.sqrt(face_style))
    return [
        StyleTarget(t.grams, t.weight, weight if t.mask is None else t.mask.to(weight.device) * weight)
        for t in targets
    ]


@dataclass
class StyleCache:
    """Style targets kept across :func:`stylize` calls with the same style images and config (batch
    mode paints a folder with one computation per scale; use one cache per style and config). Only content-independent targets are kept:
    not with ``--mask`` or ``preserve_color`` (both make the targets depend on the photo)."""

    targets: dict[tuple, list[StyleTarget]] = field(default_factory=dict)


def _term(features: torch.Tensor, weight: float, normalize: bool, loss) -> torch.Tensor:
    """``weight * loss(features)``, or with ``normalize`` a term whose gradient at ``features`` is the
    loss's gradient divided by its L1 norm, times ``weight``.

    jcjohnson/neural-style's ``-normalize_gradients`` does this in each loss module's backward pass
    and reports the unnormalised loss; with L-BFGS's line search that mismatch between value and
    gradient makes the optimisation diverge, so here the term's value is scaled by the same factor
    (``weight / ‖∂loss/∂features‖₁``, held constant within one evaluation) and value and gradient
    agree. The factor costs one extra Gram/MSE evaluation per term, not a pass through the network.
    """
    if not normalize:
        return weight * loss(features)
    with torch.enable_grad():
        probe = features.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(probe), probe)
    scale = weight / (float(grad.abs().sum()) + 1e-8)
    return scale * loss(features)


def make_loss(
    vgg: VGG19,
    config: StylizeConfig,
    content_image: torch.Tensor | None,
    targets: Sequence[StyleTarget],
    *,
    content_features: Mapping[str, torch.Tensor] | None = None,
    content_weight_map: torch.Tensor | None = None,
) -> LossFn:
    """The loss of Gatys et al.: ``content_weight · Σ content + style_weight · Σ style + tv_weight · TV``.

    ``content_image`` (1, 3, H, W) gives the content targets (or pass ``content_features``; None for
    both means no content term). The returned function maps an image to ``(total, breakdown)`` with
    keys ``content``, ``style``, ``tv`` and per-layer ``content.<layer>`` / ``style.<layer>``.
    Masks of the targets are resized to each layer's feature map, as is ``content_weight_map``
    ((1, 1, H, W), the content loss's weight per position; None: uniform).
    """
    c_weights = dict(
        zip(
            config.content_layers,
            config.content_layer_weights or [1.0] * len(config.content_layers),
            strict=True,
        )
    )
    s_weights = dict(
        zip(config.style_layers, config.style_layer_weights or [1.0] * len(config.style_layers), strict=True)
    )
    if content_features is None and content_image is not None:
        with torch.no_grad():
            content_features = vgg(content_image, config.content_layers)
    content_features = dict(content_features or {})
    all_layers = tuple(dict.fromkeys(tuple(content_features) + config.style_layers))
    normalize = config.normalize_gradients
    mask_cache: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}
    content_maps = {
        layer: None
        if content_weight_map is None  # each content layer's weights, resized once
        else fit_mask(content_weight_map, size_of(t), clamp=False)
        for layer, t in content_features.items()
    }

    def layer_mask(i: int, target: StyleTarget, hw: tuple[int, int]) -> torch.Tensor | None:
        if target.mask is None:
            return None
        key = (i, hw)
        if key not in mask_cache:
            mask_cache[key] = fit_mask(target.mask.float(), hw)
        return mask_cache[key]

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, all_layers)
        parts: dict[str, torch.Tensor] = {}
        zero = x.new_zeros((), dtype=torch.float32)
        content = zero
        for layer, features in content_features.items():
            w = config.content_weight * c_weights[layer]
            term = _term(
                feats[layer],
                w,
                normalize,
                lambda f, t=features, m=content_maps[layer]: losses.content_loss(f, t, m),
            )
            parts[f"content.{layer}"] = term
            content = content + term
        style = zero
        for layer in config.style_layers:
            f = feats[layer]
            layer_total = zero
            for i, target in enumerate(targets):
                if target.weight == 0:
                    continue
                mask = layer_mask(i, target, size_of(f))
                w = config.style_weight * s_weights[layer] * target.weight
                term = _term(
                    f, w, normalize, lambda g, t=target.grams[layer], m=mask: losses.style_loss(g, t, m)
                )
                layer_total = layer_total + term
            parts[f"style.{layer}"] = layer_total
            style = style + layer_total
        tv = config.tv_weight * losses.total_variation(x) if config.tv_weight else zero
        parts.update(content=content, style=style, tv=tv)
        return content + style + tv, parts

    return loss_fn


# --------------------------------------------------------------------------------------------------
# The pipeline


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    config: StylizeConfig | None = None,
    *,
    masks: Sequence[MaskInput] | None = None,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    face_mask: MaskInput | None = None,
    cache: StyleCache | None = None,
    **overrides,
) -> StylizeResult:
    """Paint ``content`` in the style of ``style`` (one image or a list); returns the image and the
    loss history.

    ``masks`` (one per style image, paths or tensors) confine each style to a region; see
    :mod:`impasto.masks`. ``face_mask`` gives the face region by hand (else ``config.faces``
    decides); ``cache`` reuses style targets across calls (batch mode). ``overrides`` are
    :class:`StylizeConfig` fields, e.g. ``stylize(c, [s1, s2], size=256, style_blend_weights=(0.7, 0.3))``.
    """
    config = replace(config or StylizeConfig(), **overrides)
    styles: list[ImageInput] = list(style) if isinstance(style, list | tuple) else [cast(ImageInput, style)]
    check_style_counts(
        len(styles),
        masks=None if masks is None else len(masks),
        blend_weights=None if config.style_blend_weights is None else len(config.style_blend_weights),
    )
    if masks is not None and config.tile is not None:
        raise ConfigError("--tile cannot be combined with --mask yet; drop one of them", field="tile")
    if face_mask is not None and config.tile is not None:
        raise ConfigError("--tile cannot be combined with --face-mask yet; drop one of them", field="tile")
    device = resolve_device(config.device)
    sizes = config.sizes()

    content_pic = as_picture(content, config.size, what="content image")
    style_size = max(16, round(config.size * config.style_scale))
    style_full = [
        as_picture(s, style_size, what=f"style image {i + 1}" if len(styles) > 1 else "style image").rgb
        for i, s in enumerate(styles)
    ]
    check_sizes(config, content_pic.size, [size_of(st) for st in style_full])
    mask_full = (
        None
        if masks is None
        else [load_mask(m, content_pic.size, what=f"mask {i + 1}") for i, m in enumerate(masks)]
    )
    region = None if config.tile is not None else faces.face_region(content_pic.rgb, config.faces, face_mask)
    content_rgb, style_full = prepare_colour(config.preserve_color, content_pic.rgb, style_full)
    shareable = cache is not None and mask_full is None and config.preserve_color == "none"

    all_layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    vgg = feature_extractor(
        all_layers, pool=config.pool, weights=weights, device=device, precision=config.precision
    )
    escalate = escalation(vgg)
    clock, first = _clock(config, content_pic.size, sizes, callback)
    image, history, interrupted, converged_at = None, [], False, None
    for i, size in enumerate(sizes):
        hw = fit_longest(content_pic.size, size)
        c = resize(content_rgb, hw).to(device)
        s_hw = [fit_longest(size_of(s), max(16, round(size * config.style_scale))) for s in style_full]
        s = [resize(st, shw).to(device) for st, shw in zip(style_full, s_hw, strict=True)]
        m = None if mask_full is None else [resize(mk, hw).to(device) for mk in mask_full]
        key = (size, tuple(s_hw), str(device))
        store = cache.targets if shareable and cache is not None else None
        if store is not None and key in store:
            targets = store[key]
        else:
            targets = style_targets(vgg, s, config.style_blend_weights, config, masks=m)
            if store is not None:
                store[key] = targets
        face, c_map = None, None
        if region is not None:
            face = resize(region, hw).to(device)
            targets = with_faces(targets, face, config.face_style)
            c_map = 1 + face * (config.face_content - 1)
        if image is None and config.init == "fast":
            init = fast_start(c, style_full, config, m)  # the paintings at full size, not this scale's
            if face is not None:  # faces start mostly from the photo: they keep face_style of the style
                init = torch.lerp(init, c, face * (1 - config.face_style))
            init = colour.grey(init) if config.preserve_color == "luminance" else init
        elif image is None:
            init = initial_image(config.init, c.shape, seed=config.seed, device=c.device, content=c)
            init = colour.grey(init) if config.preserve_color == "luminance" else init
        else:
            init = resize(image, hw).to(device)
        if config.tile is not None and is_tiled(config.tile, hw):
            result = optimize_tiled(
                init,
                c,
                partial(make_loss, vgg, config, targets=targets),
                tile=config.tile,
                iters=config.iters,
                optimizer=config.optimizer,
                lr=config.lr,
                escalate=escalate,
                clock=clock,
                first_stage=first[i],
                tol=config.tol,
            )
        else:
            result = optimize(
                init,
                make_loss(vgg, config, c, targets, content_weight_map=c_map),
                iters=config.iters,
                optimizer=config.optimizer,
                lr=config.lr,
                escalate=escalate,
                report=None if clock is None else clock.reporter(first[i]),
                tol=config.tol,
            )
        image, interrupted, converged_at = result.image, result.interrupted, result.converged_at
        history += result.history
        if interrupted:
            break
    assert image is not None  # sizes is never empty
    image = finish_colour(config.preserve_color, image.cpu(), content_pic.rgb)
    return StylizeResult(image, history, interrupted, content_pic.alpha, converged_at)


def fast_start(
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    config: StylizeConfig,
    masks: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """``init="fast"``: the arbitrary-style network's painting of ``content`` (1, 3, H, W) with the style
    images (their blend weights; the same images the loss matches), at the content's size. With
    ``masks`` (one per style, (1, 1, H, W)) each region is painted with its own style and what no mask
    covers starts from the photo.

    Departure from Gatys et al. 2016, who start from noise (the 2016 paper also tries the content
    image): a feed-forward result (Ghiasi et al. 2017) already carries the painting's palette and
    strokes across the whole picture, so L-BFGS starts near a good minimum instead of repainting the
    photo from its own colours (see benchmarks/RESULTS.md, "Time to quality").
    """
    from .fast.arbitrary import blend, encode, paint

    device = content.device
    longest = max(size_of(content))  # the painting at the output's scale (see impasto.fast.arbitrary)
    vectors = [encode(s, device=device, longest=longest) for s in styles]
    if masks is None:
        vector = blend(vectors, config.style_blend_weights)
        return paint(content, vector, device=device, precision=config.precision).to(device)
    start, covered = torch.zeros_like(content), torch.zeros_like(content[:, :1])
    for vector, mask in zip(vectors, masks, strict=True):
        mask = fit_mask(mask.float(), size_of(content)).to(device)
        painted = paint(content, vector, device=device, precision=config.precision).to(device)
        start, covered = start + mask * painted, covered + mask
    start = start / covered.clamp_min(1.0)  # overlapping masks: their paintings averaged
    return start + (1 - covered).clamp(0, 1) * content


def _clock(
    config: StylizeConfig, content_hw: tuple[int, int], sizes: Sequence[int], callback: Callback | None
) -> tuple[Clock | None, list[int]]:
    """The progress schedule of a run: each scale (or each tile of a tiled scale) a stage whose step
    costs its pixels; and the index of each scale's first stage."""
    stages: list[Stage] = []
    first: list[int] = []
    for i, size in enumerate(sizes):
        hw = fit_longest(content_hw, size)
        first.append(len(stages))
        label = multiscale.stage_label(i, sizes)
        if is_tiled(config.tile, hw):
            assert config.tile is not None
            stages += tile_stages(hw, config.tile, iters=config.iters, label=label)
        else:
            stages.append(Stage(label, config.iters, hw[0] * hw[1]))
    return (None if callback is None else Clock(stages, callback)), first


def prepare_colour(mode: str, content: torch.Tensor, styles: list[torch.Tensor]):
    """The content and style images the network sees under ``preserve_color`` (Gatys et al. 2016)."""
    if mode == "luminance":
        return colour.grey(content), [colour.match_luminance(s, content) for s in styles]
    if mode == "histogram":
        return content, [colour.match_colour(s, content) for s in styles]
    return content, styles


def finish_colour(mode: str, image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """In luminance mode, recombine the result's luminance with the content's chroma (YIQ)."""
    if mode != "luminance":
        return image
    return colour.combine_luminance(image, resize(content, size_of(image)))
