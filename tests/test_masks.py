"""Region masks (Gatys et al. 2017 spatial control)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from impasto.errors import ImageError
from impasto.masks import fit_mask, load_mask


def test_load_mask_resizes_and_keeps_soft_values(tmp_path):
    im = Image.new("L", (40, 20), 0)
    im.paste(255, (0, 0, 20, 20))
    im.paste(128, (20, 0, 40, 10))
    path = tmp_path / "m.png"
    im.save(path)
    m = load_mask(path)
    assert m.shape == (1, 1, 20, 40) and float(m[0, 0, 5, 5]) == 1.0 and float(m[0, 0, 15, 30]) == 0.0
    assert abs(float(m[0, 0, 5, 30]) - 128 / 255) < 1e-6
    small = load_mask(path, (10, 20))
    assert small.shape == (1, 1, 10, 20) and 0 <= float(small.min()) and float(small.max()) <= 1


def test_transparent_pixels_count_as_black(tmp_path):
    im = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    im.paste((255, 255, 255, 0), (0, 0, 4, 8))
    path = tmp_path / "a.png"
    im.save(path)
    m = load_mask(path)
    assert float(m[..., :4].max()) == 0.0 and float(m[..., 4:].min()) == 1.0


def test_not_an_image_is_one_clear_error(tmp_path):
    bad = tmp_path / "mask.png"
    bad.write_text("not an image")
    with pytest.raises(ImageError, match=r"mask '.*mask\.png' is not a readable image"):
        load_mask(bad)


def test_fit_mask_averages_down_to_feature_size():
    m = torch.zeros(1, 1, 32, 32)
    m[..., :16] = 1
    f = fit_mask(m, (4, 4))
    assert f.shape == (1, 1, 4, 4)
    assert torch.equal(f[..., :2], torch.ones(1, 1, 4, 2)) and torch.equal(
        f[..., 2:], torch.zeros(1, 1, 4, 2)
    )
