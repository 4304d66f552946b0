"""Tiled rendering: tile layout, blending weights, seamless tiled runs with global style targets."""

from __future__ import annotations

import itertools

import pytest
import torch

from impasto.errors import ConfigError
from impasto.stylize import StylizeConfig, stylize
from impasto.tiling import feather, is_tiled, optimize_tiled, spans, tile_boxes, tile_weight


@pytest.mark.parametrize("length,tile,overlap", [(100, 64, 16), (64, 64, 16), (300, 96, 24), (97, 64, 32)])
def test_spans_cover_with_overlap(length, tile, overlap):
    s = spans(length, tile, overlap)
    assert s[0][0] == 0 and s[-1][1] == length
    assert all(b - a == min(tile, length) for a, b in s)
    for (_a0, a1), (b0, _) in itertools.pairwise(s):
        assert a1 - b0 >= overlap  # neighbours overlap at least as asked
    assert is_tiled(64, (48, 100)) and not is_tiled(128, (48, 100)) and not is_tiled(None, (4000, 4000))


def test_blending_is_a_partition_of_unity():
    """Blending constant tiles in raster order reproduces the constant everywhere: weights cross-fade
    without gaps or bumps, and the starting canvas never leaks through."""
    hw, tile, overlap = (150, 130), 64, 20
    canvas = torch.zeros(1, 1, *hw)
    for box in tile_boxes(hw, tile, overlap):
        y0, y1, x0, x1 = box
        w = tile_weight(box, overlap)
        canvas[..., y0:y1, x0:x1] = canvas[..., y0:y1, x0:x1] * (1 - w) + 1.0 * w
    assert torch.allclose(canvas, torch.ones_like(canvas), atol=1e-6)
    f = feather(10, 4, 0)
    assert float(f[0]) < 0.1 and torch.all(f[1:] >= f[:-1]) and float(f[-1]) == 1.0


def _seam_run(weight_fn=None, monkeypatch=None):
    """Tiles whose losses pull them to different flat greys (each tile's content-crop mean of a
    horizontal ramp): without blending the canvas would step at every tile border."""
    hw = (40, 200)
    ramp = torch.linspace(0, 1, hw[1]).view(1, 1, 1, -1).expand(1, 3, *hw).contiguous()

    def make_tile_loss(crop):
        target = float(crop.mean())

        def loss_fn(x):
            d = ((x - target) ** 2).mean()
            return d, {"d": d}

        return loss_fn

    return optimize_tiled(
        torch.full((1, 3, *hw), 0.5), ramp, make_tile_loss, tile=64, overlap=24, iters=5
    ).image


def test_tiled_run_is_seamless():
    out = _seam_run()[0, 0, 0]
    boxes = tile_boxes((40, 200), 64, 24)
    means = [float(torch.linspace(0, 1, 200)[x0:x1].mean()) for _, _, x0, x1 in boxes]
    gap = min(b - a for a, b in itertools.pairwise(means))
    assert gap > 0.1  # the tiles' targets really differ
    steps = (out[1:] - out[:-1]).abs()
    # a hard cut would jump by `gap` at a border; the raised-cosine cross-fade spreads it over the
    # overlap, so no step between neighbouring pixels exceeds a tenth of it
    assert float(steps.max()) < 0.1 * gap, float(steps.max())
    assert abs(float(out[0]) - means[0]) < 1e-3 and abs(float(out[-1]) - means[-1]) < 1e-3


def test_hard_cut_would_show(monkeypatch):
    """The seam check above can fail: with blending switched off the step appears."""
    import impasto.tiling as tiling

    monkeypatch.setattr(
        tiling,
        "tile_weight",
        lambda box, overlap, device=None: torch.ones(1, 1, box[1] - box[0], box[3] - box[2]),
    )
    out = _seam_run()[0, 0, 0]
    assert float((out[1:] - out[:-1]).abs().max()) > 0.1


def test_tiled_stylize_uses_whole_style_statistics(content_path, style_path):
    """A real tiled stylisation: right shape, finite, stylised, and no tile border stands out among
    the image's own column-to-column differences."""
    kw = dict(
        size=96,
        iters=5,
        precision="bf16",
        scales=1,
        style_layers=("relu1_1", "relu2_1", "relu3_1"),
        content_layers=("relu3_2",),
    )
    res = stylize(content_path, style_path, tile=64, **kw)
    img = res.image[0]
    assert img.shape == (3, 72, 96) and torch.isfinite(img).all()
    from impasto.images import load_image

    content = load_image(content_path, 96).rgb[0]
    assert float((img - content).abs().mean()) > 0.01
    col = (img[:, :, 1:] - img[:, :, :-1]).abs().mean(dim=(0, 1))
    edges = {
        x for _, _, x0, x1 in tile_boxes((72, 96), 64, 32) for x in (x0 - 1, x1 - 1) if 0 <= x < col.numel()
    }
    assert max(float(col[e]) for e in edges) <= 2.0 * float(torch.quantile(col, 0.9))


def test_tile_option_validated(run_cli, content_path, style_path, tmp_path):
    with pytest.raises(ConfigError, match="tile"):
        StylizeConfig(tile=16)
    code, _, err = run_cli("stylize", content_path, style_path, "-o", tmp_path / "o.png", "--tile", "8")
    assert code == 2 and "tile" in err
