"""texture: size independent of the source, falling style loss, seamless wrap-around, CLI and bad input.

Real VGG-19 weights, 32–48 px, a few dozen iterations.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from impasto.errors import ConfigError
from impasto.images import noise
from impasto.texture import TextureConfig, parse_size, style_loss_of, synthesize_texture, tile
from impasto.vgg import wrap_multiple

# Shallow layers converge in few iterations at tiny sizes; wrap multiple 4.
FAST_LAYERS = ("relu1_1", "pool1", "pool2")


def test_output_has_the_requested_size_and_style_loss_falls(tiny_style, vgg_weights):
    cfg = TextureConfig(width=40, height=24, style_size=48, iters=30, style_layers=FAST_LAYERS, device="cpu")
    result = synthesize_texture(tiny_style, cfg)
    assert result.image.shape == (1, 3, 24, 40)  # source is 64x51: the output size is independent of it
    assert 0 <= result.image.min() and result.image.max() <= 1
    before = sum(style_loss_of(noise((1, 3, 24, 40), seed=0), tiny_style, cfg).values())
    after = sum(style_loss_of(result.image, tiny_style, cfg).values())
    assert after < 0.15 * before  # falls by more than 85 %
    assert result.history[-1]["style"] < result.history[0]["style"]


def _seam_ratio(image: torch.Tensor) -> tuple[float, float]:
    """Mean |difference| across the wrap-around seam divided by the mean across interior neighbours,
    for columns and rows. Each is measured on the image blurred along the seam (5 px), so pixel noise
    averages out while a real discontinuity (unrelated left and right edges) stays."""
    x = image.mean(dim=1, keepdim=True)  # luminance-ish
    ratios = []
    for dim in (-1, -2):
        kernel = (5, 1) if dim == -1 else (1, 5)
        blurred = F.avg_pool2d(
            F.pad(x, (2, 2, 0, 0) if dim == -2 else (0, 0, 2, 2), mode="circular"), kernel, 1
        )
        interior = (blurred.diff(dim=dim)).abs().mean()
        first = blurred.select(dim, 0)
        last = blurred.select(dim, blurred.shape[dim] - 1)
        ratios.append(float((first - last).abs().mean() / interior))
    return ratios[0], ratios[1]


def test_tileable_texture_wraps_around_as_smoothly_as_its_interior(tiny_style, vgg_weights):
    common = dict(width=48, height=48, style_size=48, style_layers=FAST_LAYERS, device="cpu", seed=1)
    tiled = synthesize_texture(tiny_style, TextureConfig(tileable=True, iters=60, **common)).image
    # the contrast needs no convergence: its edges are unrelated whatever the iteration count
    plain = synthesize_texture(tiny_style, TextureConfig(tileable=False, iters=25, **common)).image
    tiled_cols, tiled_rows = _seam_ratio(tiled)
    plain_cols, plain_rows = _seam_ratio(plain)
    # The seam is one line, so its ratio is one noisy sample around 1 (measured: 1.2 and 1.1 here;
    # 1.9 and 1.0 with seed 2), while unrelated edges meeting give 1.6-7.
    assert max(tiled_cols, tiled_rows) < 2.2, (tiled_cols, tiled_rows)
    # contrast: the same synthesis without wrap-around has a visible seam where its edges meet
    assert plain_cols + plain_rows > 2 * (tiled_cols + tiled_rows), (
        plain_cols,
        plain_rows,
        tiled_cols,
        tiled_rows,
    )
    big = tile(tiled, 2, 2)
    assert big.shape == (1, 3, 96, 96)
    assert torch.equal(big[..., 48:, 48:], tiled)


def test_parse_size():
    assert parse_size("320x200") == (320, 200)
    assert parse_size(" 64 X 32 ") == (64, 32)
    assert parse_size("128") == (128, 128)
    for bad in ("0x10", "abc", "10x", "-5x20", "16x99999", "1.5x20"):
        with pytest.raises(ConfigError):
            parse_size(bad)


def test_config_rules():
    assert wrap_multiple(("relu1_1", "pool1", "pool2", "pool3", "pool4")) == 16
    assert wrap_multiple(("relu1_1", "relu2_1")) == 2
    with pytest.raises(ConfigError, match="multiples of 16"):
        TextureConfig(width=100, height=96, tileable=True)
    with pytest.raises(ConfigError, match="--tileable with content"):
        TextureConfig(tileable=True, init="photo.jpg")
    with pytest.raises(ConfigError, match="style-weight"):
        TextureConfig(style_weight=-1)
    with pytest.raises(ConfigError, match="unknown VGG-19 layer"):
        TextureConfig(style_layers=("relu1_1", "relu1_9"))


@pytest.mark.parametrize("tileable", [False, True])
def test_bf16_texture_agrees_with_fp32(tiny_style, vgg_weights, tileable):
    """``precision`` reaches the network: bf16 gives a different image (it really ran in bfloat16) whose
    style loss is close to the fp32 run's."""
    cfg = TextureConfig(
        width=32, height=32, style_size=32, iters=6, style_layers=FAST_LAYERS, tileable=tileable, device="cpu"
    )
    fp32 = synthesize_texture(tiny_style, cfg, precision="fp32")
    bf16 = synthesize_texture(tiny_style, cfg, precision="bf16")
    diff = (fp32.image - bf16.image).abs()
    assert 0 < float(diff.mean()) < 0.05
    lf, lb = fp32.history[-1]["total"], bf16.history[-1]["total"]
    assert abs(lb - lf) <= 0.3 * lf, (lf, lb)
