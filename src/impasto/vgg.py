"""The one VGG-19 feature extractor: named layers in, ``dict[str, Tensor]`` out.

Input is a float RGB tensor in [0, 1], shape (N, 3, H, W); the weight source's own preprocessing
(channel order, scale, mean, std) is applied here and nowhere else. The network is frozen and holds
only the layers up to the deepest one it was built for.

:func:`feature_extractor` (how every pipeline gets its network: weights loaded once per process or
handed in, truncated, on the device, in the precision asked for) lives here rather than in a
``features.py`` of its own: it is the network's constructor with the project's defaults, a dozen
lines that name nothing but this module, :mod:`impasto.weights` and :mod:`impasto.precision`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from typing import Any, Literal, cast, get_args

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .options import option
from .precision import apply as apply_precision
from .weights import CONV_NAMES, VGGWeights, load_cached

_BLOCK_SIZES = (2, 2, 4, 4, 4)
#: Padding of every convolution: zeros (as trained) or circular (seamless textures).
PaddingMode = Literal["zeros", "circular"]

#: VGG-19's pooling: the network's own max pooling, or average pooling (Gatys et al. for synthesis).
Pool = Literal["max", "avg"]


def pool_option(default: Pool = "max", why: str = "") -> Any:
    """The ``pool`` field of a VGG pipeline's config; ``why`` says why a pipeline pools otherwise than
    the network was trained (average pooling, as Gatys et al. synthesise)."""
    return option(default, help=f"VGG pooling ({why})" if why else "VGG pooling")


def _layer_names() -> tuple[str, ...]:
    names = []
    for block, n in enumerate(_BLOCK_SIZES, start=1):
        for i in range(1, n + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Every layer name, in network order.
LAYERS: tuple[str, ...] = _layer_names()
_INDEX = {name: i for i, name in enumerate(LAYERS)}

#: Channels of each named layer's output.
CHANNELS: dict[str, int] = {}
for _name in LAYERS:
    _block = int(_name[4] if _name.startswith("pool") else _name.split("_")[0][-1])
    CHANNELS[_name] = (64, 128, 256, 512, 512)[_block - 1]


def check_layers(layers: Iterable[str], *, field: str = "layers") -> tuple[str, ...]:
    """Return the names unchanged, or raise one :class:`ConfigError` naming the unknown one."""
    layers = tuple(layers)
    for name in layers:
        if name not in _INDEX:
            close = difflib.get_close_matches(name, LAYERS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown VGG-19 layer '{name}'{hint}; valid layers: {', '.join(LAYERS)}", field=field
            )
    return layers


def deepest(layers: Iterable[str]) -> str:
    return max(check_layers(layers), key=_INDEX.__getitem__)


def stride(layer: str) -> int:
    """Pixels between neighbouring feature positions of a VGG-19 layer (1, 2, 4, 8, 16 or 32)."""
    block = int(layer[4]) if layer.startswith("pool") else int(layer.split("_")[0][-1])
    return 2 ** (block if layer.startswith("pool") else block - 1)


def min_side(layers: Iterable[str]) -> int:
    """Smallest input side (px) for which every layer of ``layers`` has a feature map: the deepest
    layer's stride (VGG's 2×2 pools floor, so a narrower input pools to nothing and torch raises)."""
    return max(stride(k) for k in check_layers(layers))


def wrap_multiple(layers: Iterable[str]) -> int:
    """Side lengths must be multiples of this for a feature map at ``layers`` to wrap around exactly:
    2 to the number of pooling layers up to the deepest one.

    >>> wrap_multiple(["relu1_1", "pool2"]), wrap_multiple(["relu5_1"])
    (4, 16)
    """
    stop = _INDEX[deepest(layers)]
    return 2 ** sum(1 for name in LAYERS[: stop + 1] if name.startswith("pool"))


class VGG19(nn.Module):
    """Frozen VGG-19 feature extractor truncated after ``last_layer``.

    >>> vgg = VGG19(weights, last_layer="relu5_1")          # doctest: +SKIP
    >>> feats = vgg(image, ["relu1_1", "relu4_2"])          # doctest: +SKIP
    """

    _perm: torch.Tensor
    _mul: torch.Tensor
    _add: torch.Tensor

    def __init__(
        self,
        weights: VGGWeights,
        *,
        pool: str = "max",
        last_layer: str = "relu5_4",
        padding_mode: PaddingMode = "zeros",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if padding_mode not in ("zeros", "circular"):
            raise ConfigError(
                f"padding_mode must be 'zeros' or 'circular', got {padding_mode!r}", field="padding_mode"
            )
        # "circular" wraps each convolution around the image edges (seamless textures, impasto.texture).
        self.padding_mode = padding_mode
        if pool not in get_args(Pool):
            raise ConfigError(f"pool must be 'max' or 'avg', got {pool!r}", field="pool")
        check_layers([last_layer])
        self.pool = pool
        self.source = weights.source
        pre = weights.preprocessing
        perm = [2, 1, 0] if pre.channel_order == "bgr" else [0, 1, 2]
        std = torch.tensor(pre.std, dtype=torch.float32)
        # x_pre = x[:, perm] * scale / std - mean / std, as one per-channel affine map.
        self.register_buffer("_perm", torch.tensor(perm), persistent=False)
        self.register_buffer("_mul", (pre.scale / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_add", (-torch.tensor(pre.mean) / std).view(1, 3, 1, 1), persistent=False)
        self.names = LAYERS[: _INDEX[last_layer] + 1]
        self.convs = nn.ModuleDict()
        for name in self.names:
            if name.startswith("conv"):
                w, b = weights.layers[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1, padding_mode=padding_mode)
                with torch.no_grad():
                    conv.weight.copy_(w)
                    assert conv.bias is not None
                    conv.bias.copy_(b)
                self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()
        self.channels_last = False
        self.set_compute(dtype, channels_last=channels_last)

    def set_compute(self, dtype: torch.dtype, *, channels_last: bool | None = None) -> VGG19:
        """Run the convolutions in ``dtype`` (float32 or bfloat16) and optionally channels-last layout.

        Only the convolution weights change; the input image, the preprocessing and whatever the caller
        computes from the returned features (Gram matrices, losses) stay float32. Returns ``self``.
        """
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"unsupported compute dtype {dtype}")
        if channels_last is not None:
            self.channels_last = bool(channels_last)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for conv in self.convs.values():
            # Module.to takes memory_format at run time; torch's type stubs leave it out.
            conv.to(dtype=dtype, memory_format=fmt)  # type: ignore[call-overload]
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the convolutions run in (float32 unless :meth:`set_compute` changed it)."""
        first = cast(nn.Conv2d, self.convs[self.names[0]])
        return first.weight.dtype

    @property
    def last_layer(self) -> str:
        return self.names[-1]

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        return image[:, self._perm] * self._mul.to(image.dtype) + self._add.to(image.dtype)

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(check_layers(layers))
        if not wanted:
            return {}
        stop = deepest(wanted)
        if _INDEX[stop] > _INDEX[self.last_layer]:
            raise ConfigError(f"layer '{stop}' is deeper than this network's last layer '{self.last_layer}'")
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) image, got shape {tuple(image.shape)}")
        # One fused cast + layout change, then every layer runs in the compute dtype and layout.
        x = self.preprocess(image.float()).to(
            self.dtype, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format
        )
        out: dict[str, torch.Tensor] = {}
        conv_out = ""
        for name in self.names:
            if name.startswith("conv"):
                x = self.convs[name](x)
                conv_out = name
            elif name.startswith("relu"):
                # In place unless the caller asked for the pre-ReLU output (a conv's backward needs
                # only its input, so overwriting its output saves one activation per layer).
                x = F.relu(x, inplace=conv_out not in wanted)
            elif self.pool == "max":
                x = F.max_pool2d(x, 2, 2, ceil_mode=False)
            else:
                # Gatys et al. 2015 (texture synthesis) and 2016 replace max by average pooling for
                # nicer gradients; max stays the default here as in jcjohnson/neural-style.
                x = F.avg_pool2d(x, 2, 2, ceil_mode=False)
            if name in wanted:
                out[name] = x
            if name == stop:
                break
        return out


#: What a pipeline's ``weights`` argument may be: a weight file, weights already loaded, or None for
#: the verified default (fetched on first use).
WeightsInput = str | os.PathLike | VGGWeights | None


def feature_extractor(
    layers: Iterable[str],
    *,
    pool: str = "max",
    weights: WeightsInput = None,
    device: torch.device | None = None,
    padding_mode: PaddingMode = "zeros",
    precision: str | None = None,
) -> VGG19:
    """The VGG-19 of every pipeline: built from the (once per process) loaded weights, truncated after
    the deepest of ``layers``, moved to ``device``; with ``precision`` (``auto``, ``bf16``, ``fp32``)
    its convolutions set to run in what that resolves to on the device (:func:`impasto.precision.apply`,
    whose escalation hook :func:`impasto.precision.escalation` gives)."""
    loaded = weights if isinstance(weights, VGGWeights) else load_cached(weights)
    device = device or torch.device("cpu")
    vgg = VGG19(loaded, pool=pool, last_layer=deepest(layers), padding_mode=padding_mode).to(device)
    if precision is not None:
        apply_precision(vgg, precision, device)
    return vgg


__all__ = [
    "CHANNELS",
    "CONV_NAMES",
    "LAYERS",
    "VGG19",
    "WeightsInput",
    "check_layers",
    "deepest",
    "feature_extractor",
    "min_side",
    "stride",
    "wrap_multiple",
]
