"""Losses as small pure functions (Gatys et al. 2015/2016; Johnson et al. 2016).

Each takes plain tensors; targets are computed once by the caller under ``torch.no_grad()``.
"""

from __future__ import annotations

import torch


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features, normalised by the layer size C·H·W → (N, C, C).

    With ``mask`` (N or 1, 1, H, W), features are weighted by it and the normalisation uses the mask's
    mass instead of H·W (Gatys et al. 2017, spatial control). Computed in float32 whatever the input.
    """
    n, c, h, w = features.shape
    f = features.float()
    if mask is not None:
        f = f * mask.float()
        denom = c * mask.float().sum(dim=(1, 2, 3)).clamp_min(1e-8).view(-1, 1, 1).expand(n, 1, 1)
    else:
        denom = torch.tensor(float(c * h * w), device=f.device)
    f = f.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / denom


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps (Gatys et al. use a sum; the mean makes the weight
    independent of the image size)."""
    return torch.mean((features.float() - target.float()) ** 2)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error between the Gram matrix of ``features`` and a target Gram matrix."""
    return torch.mean((gram(features, mask) - target_gram.float()) ** 2)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (Johnson et al. 2016 use the β=2 form)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return (dx.float() ** 2).mean() + (dy.float() ** 2).mean()
