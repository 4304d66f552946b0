"""Region masks for spatial control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural
Style Transfer"): each style image may be confined to a region of the output.

A mask is a grey image: white = full style, black = none, grey values are soft weights (features are
weighted by the mask before their Gram matrix, which is normalised by the mask's mass). Masks of
another size are resized to the content image (aspect ratio is not preserved: the mask is stretched).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .images import open_image, resize, size_of

MaskInput = str | os.PathLike | torch.Tensor


def load_mask(mask: MaskInput, size: tuple[int, int] | None = None, *, what: str = "mask") -> torch.Tensor:
    """A mask as a (1, 1, H, W) float tensor in [0, 1], resized to ``size`` (height, width) if given.

    Files: greyscale value (colour images are converted to luminance); when the file has an alpha
    channel, transparent pixels count as black.
    """
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        while m.dim() < 4:
            m = m.unsqueeze(0)
        if m.shape[1] != 1:
            m = m.mean(dim=1, keepdim=True)
        m = m.clamp(0, 1)
    else:
        im = open_image(mask, what=what)
        alpha = None
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
            im = rgba
        arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        if alpha is not None:
            arr = arr * alpha
        m = torch.from_numpy(arr)[None, None].contiguous()
    if size is not None and size_of(m) != tuple(size):
        m = resize(m, (int(size[0]), int(size[1])))
    return m


def fit_mask(mask: torch.Tensor, size: tuple[int, int], *, clamp: bool = True) -> torch.Tensor:
    """Resize a (1, 1, h, w) mask to a feature map's (H, W): area averaging when shrinking, else bilinear
    (smooth; stays in [0, 1] with ``clamp``, off for weight maps whose values may exceed 1)."""
    if size_of(mask) == tuple(size):
        return mask
    if mask.shape[-2] >= size[0] and mask.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(mask, size)
    grown = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
    return grown.clamp(0, 1) if clamp else grown


__all__ = ["MaskInput", "fit_mask", "load_mask"]
