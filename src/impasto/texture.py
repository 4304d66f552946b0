"""Gatys et al. 2015, "Texture Synthesis Using Convolutional Neural Networks": optimise white noise
until its VGG-19 Gram matrices match a source image's. Only the style (Gram) loss is used, so the
output can have any size, independent of the source's; with ``tileable`` every convolution wraps
around the image edges (circular padding), which makes the texture seamless when tiled.

"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from . import losses
from .checks import (
    MAX_SIDE,
    MIN_SIDE,
    check_layer_set,
    check_layer_size,
)
from .device import device_option, resolve_device
from .errors import ConfigError
from .images import ImageInput, as_picture, initial_image, size_of
from .losses import gram_targets
from .optimize import Callback, ImageResult, Optimizer, lr_option, optimize, optimizer_option
from .options import check, option
from .precision import Precision, escalation, precision_option
from .vgg import (
    VGG19,
    PaddingMode,
    Pool,
    WeightsInput,
    feature_extractor,
    pool_option,
    wrap_multiple,
)

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (width, height); a single number ``"N"`` is a square N×N.

    >>> parse_size("320x200"), parse_size("256")
    ((320, 200), (256, 256))
    """
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(
            f"size must be WIDTHxHEIGHT (e.g. 512x256) or one number for a square, got {text!r}", field="size"
        )
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) is not None else w
    for name, value in (("width", w), ("height", h)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ConfigError(
                f"size {text!r}: {name} must be between {MIN_SIDE} and {MAX_SIDE}, got {value}", field="size"
            )
    return w, h


# --------------------------------------------------------------------------------------------------
# Texture synthesis


@dataclass(frozen=True)
class TextureConfig:
    """Every setting of :func:`synthesize_texture`, declared once (the CLI and the service read it here)."""

    width: int = option(256, min=MIN_SIDE, max=MAX_SIDE, help="output width in pixels")
    height: int = option(256, min=MIN_SIDE, max=MAX_SIDE, help="output height in pixels")
    iters: int = option(300, min=1, max=100_000, help="iterations")
    style_size: int = option(
        256,
        min=MIN_SIDE,
        max=MAX_SIDE,
        metavar="PX",
        help="longest side the source is resized to before its statistics are taken; sets the scale of "
        "the pattern (the output repeats the source's features at this resolution)",
    )
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "pool1", "pool2", "pool3", "pool4"),
        help="layers whose Gram matrices are matched (Gatys et al. 2015: conv1_1, pool1-4; Caffe's "
        "in-place ReLU makes their conv1_1 our relu1_1)",
    )
    style_weight: float = option(
        1.0, above=0, help="scale of the style loss, > 0 (the only loss: it matters for the step sizes only)"
    )
    pool: Pool = pool_option("avg", "Gatys et al. 2015 average for textures")
    tileable: bool = option(
        False,
        help="seamless texture: convolutions wrap around the edges (sides must be multiples of 16 with "
        "the default layers; cannot start from an --init image)",
    )
    init: str = option(
        "noise",
        metavar="noise|PATH",
        help="start from seeded white noise (as in the paper) or from an image",
    )
    optimizer: Optimizer = optimizer_option()
    lr: float | None = lr_option()
    seed: int = option(0, help="noise seed")
    device: str = device_option()
    precision: Precision = precision_option()

    def __post_init__(self) -> None:
        check(self)
        object.__setattr__(self, "style_layers", check_layer_set(self.style_layers, field="style_layers"))
        if not str(self.init):
            raise ConfigError(f"init must be 'noise' or an image path, got {self.init!r}", field="init")
        if self.tileable and str(self.init) != "noise":
            raise ConfigError(
                f"--tileable with content: a seamless texture must start from noise, not from '{self.init}'",
                field="tileable",
            )
        if self.tileable:
            m = wrap_multiple(self.style_layers)
            if self.width % m or self.height % m:
                up = lambda v: -(-v // m) * m  # noqa: E731
                raise ConfigError(
                    f"--tileable needs a width and height that are multiples of {m} for these style layers "
                    f"(got {self.width}x{self.height}; try {up(self.width)}x{up(self.height)})",
                    field="size",
                )


class TextureResult(ImageResult):
    """:func:`synthesize_texture`'s image, (1, 3, height, width); ``alpha`` stays None (a texture is opaque)."""


def synthesize_texture(
    style: ImageInput,
    config: TextureConfig | None = None,
    *,
    callback: Callback | None = None,
    weights: WeightsInput = None,
    **overrides,
) -> TextureResult:
    """Synthesise a texture with the Gram statistics of ``style`` at ``width`` × ``height``.

    ``overrides`` are :class:`TextureConfig` fields, e.g. ``synthesize_texture(s, width=512, tileable=True)``.
    """
    config = replace(config or TextureConfig(), **overrides)
    device = resolve_device(config.device)
    source = as_picture(style, config.style_size, what="style image").rgb.to(device)
    check_layer_size(size_of(source), config.style_layers, "style image", field="style")
    shape = (1, 3, config.height, config.width)
    check_layer_size(shape[-2:], config.style_layers, "output", field="size")
    init = initial_image(config.init, shape, seed=config.seed, device=device)

    def network(padding_mode: PaddingMode = "zeros") -> VGG19:
        return feature_extractor(
            config.style_layers,
            pool=config.pool,
            weights=weights,
            device=device,
            padding_mode=padding_mode,
            precision=config.precision,
        )

    vgg = network()
    # Targets come from the source with ordinary zero padding: it is not periodic itself.
    targets = gram_targets(vgg, source, config.style_layers)
    if config.tileable:
        vgg = network("circular")

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, config.style_layers)
        parts = {
            f"style.{k}": losses.style_loss(feats[k], g) * config.style_weight for k, g in targets.items()
        }
        total = sum(parts.values())
        return total, {"style": total, **parts}

    result = optimize(
        init,
        loss_fn,
        iters=config.iters,
        optimizer=config.optimizer,
        lr=config.lr,
        callback=callback,
        escalate=escalation(vgg),
    )
    return TextureResult(result.image.cpu(), result.history, result.interrupted)


def style_loss_of(
    image: torch.Tensor,
    style: ImageInput,
    config: TextureConfig | None = None,
    *,
    weights: WeightsInput = None,
) -> Mapping[str, float]:
    """The per-layer style loss of ``image`` against ``style`` under ``config`` (for checks and tests)."""
    config = config or TextureConfig()
    source = as_picture(style, config.style_size, what="style image").rgb
    plain = feature_extractor(config.style_layers, pool=config.pool, weights=weights)
    vgg = feature_extractor(
        config.style_layers,
        pool=config.pool,
        weights=weights,
        padding_mode="circular" if config.tileable else "zeros",
    )
    targets = gram_targets(plain, source, config.style_layers)
    with torch.no_grad():
        feats = vgg(image, config.style_layers)
        return {k: float(losses.style_loss(feats[k], g) * config.style_weight) for k, g in targets.items()}


def tile(image: torch.Tensor, nx: int = 2, ny: int = 2) -> torch.Tensor:
    """Repeat an image ``nx`` × ``ny`` times (to check a tileable texture by eye)."""
    return image.repeat(1, 1, ny, nx)


__all__ = ["TextureConfig", "TextureResult", "parse_size", "synthesize_texture", "tile"]
