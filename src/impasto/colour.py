"""Colour handling for style transfer (Gatys et al. 2016, "Preserving Color in Neural Artistic Style
Transfer"): luminance / chroma in YIQ, and matching an image's colour mean and covariance to another's.

All functions take and return float RGB tensors (N, 3, H, W) in [0, 1] and never modify their inputs.
"""

from __future__ import annotations

import torch

# NTSC YIQ, as in Gatys et al. 2016. The I and Q rows sum to zero, so the inverse's first column is
# all ones: R, G and B each equal Y plus a chroma offset.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    m = matrix.to(device=image.device, dtype=torch.float64)
    out = torch.einsum("ij,njhw->nihw", m, image.double())
    return out.to(image.dtype)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB → YIQ (Y in [0, 1]; I, Q signed)."""
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YIQ → RGB (not clamped)."""
    return _apply(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, (N, 1, H, W)."""
    return rgb_to_yiq(image)[:, :1]


def grey(image: torch.Tensor) -> torch.Tensor:
    """The luminance repeated on three channels: the image the network sees in luminance-only mode."""
    return luminance(image).expand(-1, 3, -1, -1).contiguous()


def match_luminance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grey version of ``source`` whose luminance has ``target``'s mean and standard deviation
    (Gatys et al. 2016, section 2: luminance-only transfer matches the style's luminance histogram to
    the content's first)."""
    ls, lt = luminance(source), luminance(target)
    scale = lt.std() / ls.std().clamp_min(1e-6)
    matched = (ls - ls.mean()) * scale + lt.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def combine_luminance(luma_image: torch.Tensor, colour_image: torch.Tensor) -> torch.Tensor:
    """Luminance of ``luma_image`` with the chroma (I, Q) of ``colour_image`` (same size).

    The chroma is kept exactly: instead of clipping R, G, B (which would shift hue), Y is limited per
    pixel to the range in which Y + chroma offset stays inside [0, 1] for all three channels; the
    colour image's own Y is always inside that range.
    """
    if luma_image.shape[-2:] != colour_image.shape[-2:]:
        raise ValueError("combine_luminance needs images of the same size")
    yiq = rgb_to_yiq(colour_image.double())
    chroma = yiq.clone()
    chroma[:, :1] = 0
    offsets = yiq_to_rgb(chroma)  # per channel: RGB = Y + offset
    lo = (-offsets.amin(dim=1, keepdim=True)).clamp_min(0)
    hi = (1 - offsets.amax(dim=1, keepdim=True)).clamp_max(1)
    y = luminance(luma_image.double()).clamp(lo, hi)
    out = yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1))
    # The clamp only removes float round-off (the values are in range by construction).
    return out.clamp(0, 1).to(luma_image.dtype)


def colour_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of the pixels' RGB values, in float64."""
    px = image.double().permute(1, 0, 2, 3).reshape(3, -1)
    mean = px.mean(dim=1)
    centred = px - mean[:, None]
    return mean, centred @ centred.T / max(1, px.shape[1] - 1)


def _sqrtm(cov: torch.Tensor, *, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-10)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**power) @ vecs.T


def match_colour(
    source: torch.Tensor, target: torch.Tensor, *, method: str = "eigen", clamp: bool = True
) -> torch.Tensor:
    """``source`` linearly transformed, x' = A (x - μ_s) + μ_t, so that its colour mean and covariance
    equal ``target``'s (Gatys et al. 2016, section 3, "colour histogram matching").

    ``method="eigen"`` uses A = Σ_t^½ Σ_s^-½ (the Image Analogies transform, via eigen-decomposition);
    ``method="cholesky"`` uses A = L_t L_s⁻¹. Both match mean and covariance exactly before ``clamp``
    brings the result back into [0, 1].
    """
    mu_s, cov_s = colour_stats(source)
    mu_t, cov_t = colour_stats(target)
    eye = torch.eye(3, dtype=torch.float64, device=cov_s.device) * 1e-8
    if method == "eigen":
        a = _sqrtm(cov_t) @ _sqrtm(cov_s, inverse=True)
    elif method == "cholesky":
        a = torch.linalg.cholesky(cov_t + eye) @ torch.linalg.inv(torch.linalg.cholesky(cov_s + eye))
    else:
        raise ValueError(f"unknown colour matching method {method!r}")
    px = source.double().permute(1, 0, 2, 3).reshape(3, -1)
    out = a @ (px - mu_s[:, None]) + mu_t[:, None]
    n, _, h, w = source.shape
    out = out.reshape(3, n, h, w).permute(1, 0, 2, 3).to(source.dtype)
    return out.clamp(0, 1) if clamp else out


__all__ = [
    "colour_stats",
    "combine_luminance",
    "grey",
    "luminance",
    "match_colour",
    "match_luminance",
    "rgb_to_yiq",
    "yiq_to_rgb",
]
