"""The image transformation network of Johnson et al. 2016 ("Perceptual Losses for Real-Time Style
Transfer and Super-Resolution") with conditional instance normalisation (Dumoulin et al. 2017, "A
Learned Representation for Artistic Style"): one network, N styles, each style a row of γ and β.

The style is given as a weight vector per image, ``(N, n_styles)``; one-hot selects a style, any
convex combination blends styles by interpolating their normalisation parameters (Dumoulin et al.,
section 4.3). Input and output are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Literal, cast, get_args

import torch
import torch.nn.functional as F
from torch import nn


class ConditionalInstanceNorm(nn.Module):
    """Instance normalisation (Ulyanov et al. 2016) whose affine γ, β are picked per image from a
    per-style table by a style-weight vector (Dumoulin et al. 2017)."""

    def __init__(self, channels: int, n_styles: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        w = style.to(self.gamma.dtype)
        gamma = (w @ self.gamma).to(x.dtype)
        beta = (w @ self.beta).to(x.dtype)
        if torch.onnx.is_in_onnx_export():  # InstanceNormalization is what ONNX runtimes optimise
            return F.instance_norm(x, eps=self.eps) * gamma[:, :, None, None] + beta[:, :, None, None]
        # Instance norm is group norm with one channel per group. PyTorch's CPU group-norm kernel is
        # ~5x faster than instance_norm (which reshapes into a batch norm and copies) and keeps
        # bfloat16 inputs in bfloat16 with float32 statistics; one image takes its γ, β in the same pass.
        if x.shape[0] == 1:
            return F.group_norm(x, x.shape[1], gamma[0], beta[0], self.eps)
        return torch.addcmul(
            beta[:, :, None, None], F.group_norm(x, x.shape[1], eps=self.eps), gamma[:, :, None, None]
        )


class ConvLayer(nn.Module):
    """Reflection padding + convolution. Johnson et al. use zero padding; reflection padding avoids
    border artefacts (as in pytorch/examples fast_neural_style and Dumoulin et al.)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad,) * 4, mode="reflect"))


class SpaceToDepthConv(nn.Module):
    """A stride-1 :class:`ConvLayer` computed exactly as a smaller-kernel convolution on 2×2
    space-to-depth blocks (pixel unshuffle → conv → pixel shuffle). For the 9×9, 16→3 output layer
    this turns a 3-channel-output, 81-tap convolution that CPUs vectorise badly into a 5×5, 64→12 one:
    same result (to float rounding), ≈ 1.7× faster on this project's CPU. Inference only."""

    def __init__(self, layer: ConvLayer, factor: int = 2) -> None:
        super().__init__()
        w, b = layer.conv.weight.detach(), layer.conv.bias
        o, c, k, _ = w.shape
        f, kk = factor, -(-(k + factor - 1) // factor)
        big = w.new_zeros(o, f, f, c, f, f, kk, kk)
        for a in range(f):  # output sub-pixel (a, b) of block (P, Q) sees input sub-pixel (s, t) of
            for bb in range(f):  # block (P + p, Q + q) through tap (f·p + s − a, f·q + t − bb)
                for s in range(f):
                    for t in range(f):
                        for p in range(kk):
                            for q in range(kk):
                                u, v = f * p + s - a, f * q + t - bb
                                if 0 <= u < k and 0 <= v < k:
                                    big[:, a, bb, :, s, t, p, q] = w[:, :, u, v]
        self.pad, self.factor = layer.pad, f
        self.weight = nn.Parameter(big.reshape(o * f * f, c * f * f, kk, kk), requires_grad=False)
        self.bias = (
            None if b is None else nn.Parameter(b.detach().repeat_interleave(f * f), requires_grad=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad,) * 4, mode="reflect")
        ph, pw = (-x.shape[-2]) % self.factor, (-x.shape[-1]) % self.factor
        if ph or pw:  # odd sizes: pad to whole blocks, crop after
            x = F.pad(x, (0, pw, 0, ph))
        y = F.conv2d(_pixel_unshuffle(x, self.factor), self.weight, self.bias)
        h, w = x.shape[-2] - 2 * self.pad - ph, x.shape[-1] - 2 * self.pad - pw
        return F.pixel_shuffle(y, self.factor)[:, :, :h, :w]


def _pixel_unshuffle(x: torch.Tensor, f: int) -> torch.Tensor:
    """``F.pixel_unshuffle`` that stays fast in channels-last memory (PyTorch's kernel takes ≈ 5 ms
    for a 16-channel 512² bfloat16 image there; one permuted copy takes a fraction of that)."""
    if not x.is_contiguous(memory_format=torch.channels_last) or x.is_contiguous():
        return F.pixel_unshuffle(x, f)
    n, c, h, w = x.shape
    y = x.permute(0, 2, 3, 1).reshape(n, h // f, f, w // f, f, c).permute(0, 1, 3, 5, 2, 4)
    return y.reshape(n, h // f, w // f, c * f * f).permute(0, 3, 1, 2)


#: How the decoder upsamples ×2 before each of its convolutions. ``nearest``: Odena et al. 2016's
#: resize-convolution as Dumoulin et al. use it (the models shipped before the hatching fix);
#: ``bilinear``: the anti-aliased interpolation (see :class:`UpsampleConv`).
Upsample = Literal["nearest", "bilinear"]
UPSAMPLE_MODES: tuple[str, ...] = get_args(Upsample)


class SubPixelUpsampleConv(nn.Module):
    """An :class:`UpsampleConv` (nearest or bilinear ×2, pad 1, 3×3 conv) computed exactly as a 3×3
    convolution of the *low-resolution* input with 4× the output channels, one per output sub-pixel,
    then a pixel shuffle. Each sub-pixel of the upsampled grid sees only input offsets −1..+1, so its
    taps fold together (nearest: each upsampled tap is one input pixel; bilinear: ¾ of the nearest
    input pixel and ¼ of the next); the upsampled border's padding is replication of the input's.
    Same FLOPs for both modes, but no 4× larger intermediate to upsample and pad, and wider
    convolutions: ≈ 15 % off a whole 512 px forward pass on this project's CPU. Inference only."""

    # FOLD[a, d, u]: weight of input offset d (0..2 = −1..+1) in output sub-pixel a's upsampled tap u.
    _FOLD: ClassVar[dict[str, tuple]] = {
        "nearest": (((1, 0, 0), (0, 1, 1), (0, 0, 0)), ((0, 0, 0), (1, 1, 0), (0, 0, 1))),
        "bilinear": (
            ((0.75, 0.25, 0), (0.25, 0.75, 0.75), (0, 0, 0.25)),
            ((0.25, 0, 0), (0.75, 0.75, 0.25), (0, 0.25, 0.75)),
        ),
    }

    def __init__(self, layer: UpsampleConv) -> None:
        super().__init__()
        w, b = layer.conv.conv.weight.detach(), layer.conv.conv.bias
        o, c, k, _ = w.shape
        if k != 3 or layer.conv.pad != 1:
            raise ValueError("SubPixelUpsampleConv folds 3x3 upsample-convolutions only")
        fold = torch.tensor(self._FOLD[layer.mode], dtype=w.dtype, device=w.device)
        big = torch.einsum("adu,bev,ocuv->oabcde", fold, fold, w)
        self.weight = nn.Parameter(big.reshape(o * 4, c, 3, 3), requires_grad=False)
        self.bias = None if b is None else nn.Parameter(b.detach().repeat_interleave(4), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight, self.bias), 2)


class UpsampleConv(nn.Module):
    """×2 upsampling then convolution. Johnson et al. use fractionally strided convolutions; Dumoulin
    et al. (and Odena et al. 2016) upsample then convolve to avoid checkerboards.

    ``mode="nearest"`` (Dumoulin et al.) leaves every upsampled 2×2 block flat, so the decoder's input
    grid shows through as a period-4 pattern the network can and does use: the fine diagonal hatching
    of the first impasto-6 (``benchmarks/hatching.py``; blurring the encoder's strided convolutions,
    Zhang 2019, did not reduce it, bilinear upsampling alone removed it). ``mode="bilinear"`` — a
    departure from Dumoulin et al. — interpolates instead, and its convolution pads by replication
    rather than reflection, which makes :class:`SubPixelUpsampleConv`'s fold exact at the border."""

    def __init__(self, cin: int, cout: int, kernel: int, mode: Upsample = "nearest") -> None:
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"upsample mode must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
        self.mode = mode
        self.conv = ConvLayer(cin, cout, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        y = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv.conv(F.pad(y, (self.conv.pad,) * 4, mode="replicate"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.norm1 = ConditionalInstanceNorm(channels, n_styles)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.norm2 = ConditionalInstanceNorm(channels, n_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), style))
        return x + self.norm2(self.conv2(y), style)


class TransformerNet(nn.Module):
    """Johnson et al. 2016 transformation network: 9×9 conv, two stride-2 convs, ``blocks`` residual
    blocks, two upsample-convs, 9×9 conv. ``width`` is the channel count of the first layer (Johnson
    et al.: 32, giving 32/64/128); ``width=16`` is the smaller, faster variant (16/32/64).
    ``upsample`` is the decoder's interpolation (:class:`UpsampleConv`; a model file records it).

    Output: a sigmoid keeps it in [0, 1] (Dumoulin et al.; Johnson et al. use a scaled tanh).
    """

    def __init__(
        self, n_styles: int = 1, width: int = 32, blocks: int = 5, upsample: Upsample = "nearest"
    ) -> None:
        super().__init__()
        if n_styles < 1 or width < 1 or blocks < 0:
            raise ValueError("n_styles and width must be positive, blocks non-negative")
        self.n_styles, self.width, self.blocks, self.upsample = n_styles, width, blocks, upsample
        c1, c2, c3 = width, 2 * width, 4 * width
        self.conv1 = ConvLayer(3, c1, 9)
        self.norm1 = ConditionalInstanceNorm(c1, n_styles)
        self.conv2 = ConvLayer(c1, c2, 3, stride=2)
        self.norm2 = ConditionalInstanceNorm(c2, n_styles)
        self.conv3 = ConvLayer(c2, c3, 3, stride=2)
        self.norm3 = ConditionalInstanceNorm(c3, n_styles)
        self.res = nn.ModuleList(ResidualBlock(c3, n_styles) for _ in range(blocks))
        # nn.Module: for_inference swaps in an exact rewrite (SubPixelUpsampleConv, SpaceToDepthConv)
        self.up1: nn.Module = UpsampleConv(c3, c2, 3, upsample)
        self.norm4 = ConditionalInstanceNorm(c2, n_styles)
        self.up2: nn.Module = UpsampleConv(c2, c1, 3, upsample)
        self.norm5 = ConditionalInstanceNorm(c1, n_styles)
        self.conv_out: nn.Module = ConvLayer(c1, 3, 9)

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` (N, 3, H, W) in [0, 1]; ``style`` (N, n_styles) or (n_styles,) weights → (N, 3, H, W).

        Any H, W works: the input is reflection-padded to a multiple of 4 and the output cropped back.
        """
        n, _, h, w = x.shape
        if style.dim() == 1:
            style = style.unsqueeze(0).expand(n, -1)
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.core(x, style)[:, :, :h, :w]

    def core(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The network proper: H and W must be multiples of 4; ``style`` is (N, n_styles)."""
        y = F.relu(self.norm1(self.conv1(x), style))
        y = F.relu(self.norm2(self.conv2(y), style))
        y = F.relu(self.norm3(self.conv3(y), style))
        for block in self.res:
            y = block(y, style)
        y = F.relu(self.norm4(self.up1(y), style))
        y = F.relu(self.norm5(self.up2(y), style))
        return torch.sigmoid(self.conv_out(y))


def one_hot(index: int, n_styles: int) -> torch.Tensor:
    w = torch.zeros(n_styles)
    w[index] = 1.0
    return w


def for_inference(net: TransformerNet) -> TransformerNet:
    """A copy of ``net`` with the exact inference rewrites (:class:`SpaceToDepthConv` for the output
    layer, :class:`SubPixelUpsampleConv` for the two upsampling layers): same outputs to float
    rounding, no gradients, eval mode. The original network is left untouched."""
    fast = copy.deepcopy(net)
    fast.conv_out = SpaceToDepthConv(cast(ConvLayer, fast.conv_out))
    fast.up1 = SubPixelUpsampleConv(cast(UpsampleConv, fast.up1))
    fast.up2 = SubPixelUpsampleConv(cast(UpsampleConv, fast.up2))
    return fast.eval().requires_grad_(False)
