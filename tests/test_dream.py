"""DeepDream on the real VGG-19 at tiny sizes: properties of the objective, the tiling, the octave loop,
the zoom animation and the CLI's handling of bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
from PIL import Image

from impasto.colour import rgb_to_yiq
from impasto.dream import (
    DreamConfig,
    Objective,
    _spans,
    dream,
    dream_zoom,
    gradient,
    guide_match_sum,
    keep_colour,
    mean_square,
    save_animation,
    zoom_in,
)
from impasto.errors import ConfigError
from impasto.images import resize
from impasto.optimize import Cancelled
from impasto.vgg import feature_extractor


@pytest.fixture(scope="module")
def small(tiny_content) -> torch.Tensor:
    """64x48 crop-free resize of the Tübingen photo."""
    return resize(tiny_content, (48, 64))


def objectives(image: torch.Tensor, steps: int, **kw):
    """One octave of relu3_1 dreaming without jitter: (the objective after each step, the result)."""
    history: list[float] = []
    result = dream(
        image,
        size=None,
        layers=("relu3_1",),
        octaves=1,
        steps=steps,
        jitter=0,
        callback=lambda e: history.append(e.losses["objective"]),
        **kw,
    )
    return history, result


def test_objective_rises_over_steps(small, vgg_weights):
    history, result = objectives(small, 6)
    assert len(history) == 6 == len(result.history)
    assert history[-1] > 1.5 * history[0]
    assert sum(b > a for a, b in itertools.pairwise(history)) >= 4
    assert result.image.shape == small.shape
    assert 0 <= float(result.image.min()) and float(result.image.max()) <= 1


@pytest.mark.parametrize(("layers", "kind"), [(("relu3_1",), "mean-square"), (("relu2_1", "relu3_1"), "l2")])
def test_tiled_gradient_agrees_with_whole_image(vgg_weights, tiny_content, layers, kind):
    image = resize(tiny_content, (48, 64))
    vgg = feature_extractor(layers)
    objective = Objective(layers, None, kind)
    v_whole, g_whole = gradient(vgg, objective, image)
    # Reference: plain autograd of the objective of the whole image.
    x = image.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(objective(vgg(x, layers)), x)
    assert torch.allclose(g_whole, g_ref, rtol=1e-4, atol=1e-6 * float(g_ref.abs().max()))
    for seed in (0, 1) if kind == "mean-square" else (2,):  # different random tile grids
        v_tiled, g_tiled = gradient(
            vgg, objective, image, tile=32, margin=16, generator=torch.Generator().manual_seed(seed)
        )
        assert v_tiled == pytest.approx(v_whole, rel=1e-3)
        assert float((g_tiled - g_whole).norm() / g_whole.norm()) < 1e-3


def test_tile_spans_cover_the_image_on_aligned_cuts():
    for length, tile, offset in ((100, 32, 0), (100, 32, 8), (33, 64, 16), (64, 16, 8)):
        spans = _spans(length, tile, offset, 8)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert all(a % 8 == 0 for a, _ in spans)
        assert all(b - a <= tile for a, b in spans)


def test_same_seed_same_dream(small, vgg_weights):
    cfg = DreamConfig(size=None, layers=("relu2_2",), octaves=2, octave_scale=1.4, steps=2, jitter=8, seed=3)
    a = dream(small, cfg).image
    b = dream(small, cfg).image
    c = dream(small, cfg, seed=4).image
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_channel_objective_depends_only_on_those_channels(small, vgg_weights):
    channels = (5, 40, 77)
    vgg = feature_extractor(("relu3_1",))
    feats = vgg(small, ["relu3_1"])["relu3_1"].detach()
    objective = Objective(("relu3_1",), channels)
    manual = (feats[:, list(channels)] ** 2).mean()
    assert float(objective({"relu3_1": feats})) == pytest.approx(float(manual), rel=1e-5)
    # Changing every other channel leaves the objective unchanged; its gradient there is zero.
    other = [c for c in range(feats.shape[1]) if c not in channels]
    altered = feats.clone()
    altered[:, other] = torch.rand_like(altered[:, other]) * 100
    assert float(objective({"relu3_1": altered})) == pytest.approx(float(manual), rel=1e-5)
    f = feats.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(mean_square(f, channels), f)
    assert float(g[:, other].abs().max()) == 0 and float(g[:, list(channels)].abs().max()) > 0
    # And the pixel gradient is the gradient of the manual computation.
    _, g_pixels = gradient(vgg, objective, small)
    x = small.clone().requires_grad_(True)
    (g_manual,) = torch.autograd.grad((vgg(x, ["relu3_1"])["relu3_1"][:, list(channels)] ** 2).mean(), x)
    assert torch.allclose(g_pixels, g_manual, rtol=1e-4, atol=1e-6 * float(g_manual.abs().max()))


def test_guide_gradient_is_the_best_matching_guide_feature():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(1, 6, 3, 4, generator=gen, requires_grad=True)
    guide = torch.randn(6, 10, generator=gen)
    (g,) = torch.autograd.grad(guide_match_sum(features, guide), features)
    x = features.detach()[0].reshape(6, -1)
    best = guide[:, (x.T @ guide).argmax(dim=1)]  # the notebook's objective_guide
    assert torch.allclose(g[0].reshape(6, -1), best)


def test_guided_dream_moves_towards_the_guide(small, tiny_style, vgg_weights):
    history, _ = objectives(small, 3, guide=tiny_style, guide_size=48)
    assert history[-1] > history[0]


def test_preserve_color_keeps_the_chroma():
    gen = torch.Generator().manual_seed(0)
    original = torch.rand(1, 3, 16, 16, generator=gen) * 0.5 + 0.25
    dreamed = torch.rand(1, 3, 16, 16, generator=gen) * 0.5 + 0.25
    out = keep_colour(dreamed, original)
    yiq_out, yiq_orig, yiq_dream = rgb_to_yiq(out), rgb_to_yiq(original), rgb_to_yiq(dreamed)
    assert torch.allclose(yiq_out[:, 1:], yiq_orig[:, 1:], atol=1e-5)  # chroma kept exactly
    inside = ((out > 0) & (out < 1)).all(dim=1, keepdim=True)  # where Y needed no limiting
    assert float(inside.float().mean()) > 0.5
    assert torch.allclose(yiq_out[:, :1][inside], yiq_dream[:, :1][inside], atol=1e-5)


def test_interrupt_returns_the_dream_so_far_at_full_size(small, vgg_weights):
    def stop(event):
        if event.step == 2:
            raise Cancelled

    result = dream(small, size=None, layers=("relu2_1",), octaves=3, steps=2, callback=stop)
    assert result.interrupted
    assert result.image.shape == small.shape
    assert not torch.equal(result.image, small)


def test_zoom_in_keeps_size_and_magnifies_the_centre():
    image = torch.zeros(1, 3, 40, 40)
    image[..., 18:22, 18:22] = 1
    out = zoom_in(image, 0.5)
    assert out.shape == image.shape
    assert float(out.mean()) > 2 * float(image.mean())


def test_zoom_animation_has_the_requested_frames_and_size(tmp_path, vgg_weights, tiny_content):
    image = resize(tiny_content, (32, 40))
    result = dream_zoom(image, size=None, layers=("relu2_1",), octaves=1, steps=1, frames=3, zoom=0.1)
    assert len(result.frames) == 3 and not result.interrupted
    assert all(f.shape == (1, 3, 32, 40) for f in result.frames)
    gif = save_animation(result.frames, tmp_path / "zoom.gif", fps=5)
    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.size == (40, 32)
        assert im.info["loop"] == 0 and im.info["duration"] == 200
    av = pytest.importorskip("av")  # the `video` extra; `make test` installs it
    mp4 = save_animation(result.frames, tmp_path / "zoom.mp4", fps=5)
    with av.open(str(mp4)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 3 and (decoded[0].width, decoded[0].height) == (40, 32)


def test_config_rejects_bad_values():
    for bad in (
        {"layers": ("relu9_9",)},
        {"channels": (64,), "layers": ("relu1_1",)},
        {"octave_scale": 1.0},
        {"steps": 0},
        {"tile": 10},
        {"zoom": 0.5},
        {"channels": (1, 1)},
        {"objective": "max"},
    ):
        with pytest.raises(ConfigError):
            DreamConfig(**bad)


@pytest.mark.parametrize("guided", [False, True])
def test_bf16_dream_agrees_with_fp32(small, tiny_style, vgg_weights, guided):
    """``precision`` reaches the network: the bf16 dream differs (it ran in bfloat16) but only slightly."""
    cfg = DreamConfig(
        layers=("relu2_1",), octaves=1, steps=3, size=None, jitter=0, tile="off", guide_size=48, device="cpu"
    )
    guide = tiny_style if guided else None
    fp32 = dream(small, cfg, guide=guide, precision="fp32")
    bf16 = dream(small, cfg, guide=guide, precision="bf16")
    diff = (fp32.image - bf16.image).abs()
    assert 0 < float(diff.mean()) < 0.01, float(diff.mean())
    for a, b in zip(fp32.history, bf16.history, strict=True):
        assert abs(a["objective"] - b["objective"]) <= 0.05 * abs(a["objective"]), (a, b)
