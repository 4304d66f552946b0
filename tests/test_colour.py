"""Colour conversions and statistics matching (Gatys et al. 2016, "Preserving Color ...")."""

from __future__ import annotations

import pytest
import torch

from impasto import colour


def _random_image(seed: int, h: int = 24, w: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 1, 1, generator=g)
    return (0.6 * torch.rand(1, 3, h, w, generator=g) + 0.4 * base).clamp(0, 1)


def test_yiq_round_trip_and_grey_has_no_chroma():
    x = _random_image(0)
    assert torch.allclose(colour.yiq_to_rgb(colour.rgb_to_yiq(x)), x, atol=1e-6)
    g = colour.grey(x)
    assert torch.allclose(colour.rgb_to_yiq(g)[:, 1:], torch.zeros(1, 2, 24, 32), atol=1e-6)
    assert torch.allclose(colour.luminance(g), colour.luminance(x), atol=1e-6)


def test_combine_luminance_keeps_chroma_exactly_and_stays_in_range():
    content = _random_image(1)
    luma = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(2))  # includes extreme Y
    out = colour.combine_luminance(luma, content)
    assert out.min() >= 0 and out.max() <= 1
    iq_out = colour.rgb_to_yiq(out.double())[:, 1:]
    iq_content = colour.rgb_to_yiq(content.double())[:, 1:]
    assert torch.allclose(iq_out, iq_content, atol=1e-6)
    # where the requested luminance is reachable with that chroma, it is used as is
    y_out, y_want = colour.luminance(out), colour.luminance(luma)
    assert (y_out - y_want).abs().median() < 1e-5


@pytest.mark.parametrize("method", ["eigen", "cholesky"])
def test_match_colour_moves_mean_and_covariance(method):
    source, target = _random_image(3), _random_image(4) ** 2
    out = colour.match_colour(source, target, method=method, clamp=False)
    mu_o, cov_o = colour.colour_stats(out)
    mu_t, cov_t = colour.colour_stats(target)
    assert torch.allclose(mu_o, mu_t, atol=1e-5)
    assert torch.allclose(cov_o, cov_t, atol=1e-5)
    mu_s, _ = colour.colour_stats(source)
    assert not torch.allclose(mu_s, mu_t, atol=1e-2)  # the property is not trivially true


def test_match_luminance_matches_mean_and_std():
    source, target = _random_image(5), _random_image(6) * 0.5
    out = colour.match_luminance(source, target)
    assert out.shape == source.shape
    lo, lt = colour.luminance(out), colour.luminance(target)
    assert abs(float(lo.mean() - lt.mean())) < 1e-4
    assert abs(float(lo.std() - lt.std())) < 1e-4
