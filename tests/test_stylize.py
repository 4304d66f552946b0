"""stylize: blends, colour preservation, masks, multi-scale, per-layer weights and the CLI around it.

Real VGG-19 weights at tiny sizes (32–64 px) and few iterations.
"""

from __future__ import annotations

import pytest
import torch

from impasto import colour
from impasto.images import load_image
from impasto.stylize import StylizeConfig, make_loss, style_targets, stylize
from impasto.vgg import feature_extractor

SCREAM = "the_scream.jpg"


@pytest.fixture(scope="module")
def paths(content_path, style_path):
    return content_path, style_path, content_path.parent / SCREAM


def test_blend_of_one_and_zero_equals_the_single_style(paths, vgg_weights):
    content, starry, scream = paths
    single = stylize(content, starry, size=32, iters=3)
    blend = stylize(content, [starry, scream], size=32, iters=3, style_blend_weights=(1.0, 0.0))
    other = stylize(content, [starry, scream], size=32, iters=3, style_blend_weights=(0.5, 0.5))
    assert torch.allclose(single.image, blend.image, atol=1e-6)
    assert not torch.allclose(single.image, other.image, atol=1e-3)


def test_blend_weights_are_normalised(vgg_weights, tiny_style):
    vgg = feature_extractor(StylizeConfig().style_layers)
    cfg = StylizeConfig()
    # a blend of one style with itself equals that style only if the weights are normalised
    a = style_targets(vgg, [tiny_style], None, cfg)[0].grams
    b = style_targets(vgg, [tiny_style, tiny_style.clone()], (3.0, 1.0), cfg)[0].grams
    for layer in cfg.style_layers:
        assert torch.allclose(a[layer], b[layer], rtol=1e-4, atol=1e-3)


def test_luminance_mode_keeps_the_content_chroma_exactly(content_path, style_path, vgg_weights):
    result = stylize(content_path, style_path, size=32, iters=5, preserve_color="luminance")
    content = load_image(content_path, 32).rgb
    iq = colour.rgb_to_yiq(result.image.double())[:, 1:]
    iq_content = colour.rgb_to_yiq(content.double())[:, 1:]
    assert torch.allclose(iq, iq_content, atol=1e-5)
    # ... while the luminance did change
    assert (colour.luminance(result.image) - colour.luminance(content)).abs().mean() > 0.01


def test_histogram_mode_moves_the_style_colours_to_the_content(content_path, style_path):
    from impasto.stylize import prepare_colour

    content = load_image(content_path, 64).rgb
    style = load_image(style_path, 64).rgb
    _, (matched,) = prepare_colour("histogram", content, [style])
    mu_c, cov_c = colour.colour_stats(content)
    mu_s, cov_s = colour.colour_stats(style)
    mu_m, cov_m = colour.colour_stats(matched)
    # matched up to the clamp into [0, 1]
    assert (mu_m - mu_c).abs().max() < 0.02 < (mu_s - mu_c).abs().max()
    assert (cov_m - cov_c).abs().max() < 0.1 * cov_c.abs().max() < (cov_s - cov_c).abs().max()


def test_zero_mask_region_stays_close_to_the_content(content_path, style_path, vgg_weights):
    content = load_image(content_path, 48).rgb  # 36 x 48
    mask = torch.zeros(1, 1, 36, 48)
    mask[..., :24] = 1.0  # style on the left half only; the right half is covered by no style
    result = stylize(content_path, style_path, masks=[mask], size=48, iters=12)
    change = (result.image - content).abs().mean(dim=(0, 1))
    # away from the border (VGG's receptive fields spread the style loss's gradient across it)
    left, right = float(change[:, :18].mean()), float(change[:, 33:].mean())
    assert left > 0.03
    assert right < 0.3 * left


def test_multiscale_run_ends_at_the_requested_size(content_path, style_path, vgg_weights):
    stages = []
    result = stylize(
        content_path, style_path, size=48, iters=3, scales=2, callback=lambda e: stages.append(e.stage)
    )
    assert tuple(result.image.shape[-2:]) == (36, 48)
    assert stages[0] == "scale 1/2 (34 px)" and stages[-1] == "scale 2/2 (48 px)"


def test_per_layer_weights_scale_each_term(vgg_weights, tiny_content, tiny_style):
    base = StylizeConfig(style_layers=("relu1_1", "relu2_1"), content_layers=("relu2_2",))
    weighted = StylizeConfig(
        style_layers=("relu1_1", "relu2_1"),
        style_layer_weights=(3.0, 1.0),
        content_layers=("relu2_2",),
        content_layer_weights=(0.5,),
    )
    vgg = feature_extractor(("relu1_1", "relu2_1", "relu2_2"))
    x = tiny_content.flip(-1)
    _, p0 = make_loss(vgg, base, tiny_content, style_targets(vgg, [tiny_style], None, base))(x)
    _, p1 = make_loss(vgg, weighted, tiny_content, style_targets(vgg, [tiny_style], None, weighted))(x)
    assert torch.allclose(p1["style.relu1_1"], 3 * p0["style.relu1_1"])
    assert torch.allclose(p1["style.relu2_1"], p0["style.relu2_1"])
    assert torch.allclose(p1["content"], 0.5 * p0["content"])


def test_normalize_gradients_gives_each_term_unit_l1_gradient(vgg_weights, tiny_content, tiny_style):
    cfg = StylizeConfig(
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        normalize_gradients=True,
        tv_weight=0.0,
        content_weight=1.0,
        style_weight=1.0,
    )
    vgg = feature_extractor(("relu1_1",))
    x = tiny_content.flip(-1).clone().requires_grad_(True)
    feats = {}

    def hook_vgg(img, layers):  # the VGG, remembering the features of its last call
        feats["f"] = vgg(img, layers)
        return feats["f"]

    total, parts = make_loss(hook_vgg, cfg, tiny_content, style_targets(vgg, [tiny_style], None, cfg))(x)
    feats["f"]["relu1_1"].retain_grad()
    total.backward()
    # two terms (content and style) each contribute a gradient of L1 norm 1 at relu1_1
    g = feats["f"]["relu1_1"].grad
    assert 1.0 < float(g.abs().sum()) <= 2.0 + 1e-4
    assert float(parts["style"].detach()) > 0 and torch.isfinite(x.grad).all()


# --------------------------------------------------------------------------- portraits (--faces)

PORTRAIT = "brad_pitt.jpg"


def _face_change(result, content, box):
    x0, y0, x1, y1 = box
    return float((result.image - content)[..., y0:y1, x0:x1].abs().mean())


def test_faces_auto_changes_the_face_less_than_off(content_path, style_path, vgg_weights):
    from impasto import faces

    portrait = content_path.parent / PORTRAIT
    content = load_image(portrait, 80).rgb
    (face,) = faces.detect(content)
    box = (round(face.x), round(face.y), round(face.x + face.w), round(face.y + face.h))
    auto = stylize(portrait, style_path, size=80, iters=15, faces="auto")
    off = stylize(portrait, style_path, size=80, iters=15, faces="off")
    assert _face_change(auto, content, box) < 0.8 * _face_change(off, content, box)


def test_without_faces_auto_is_bit_for_bit_off(content_path, style_path, vgg_weights):
    auto = stylize(content_path, style_path, size=32, iters=3, faces="auto")  # Tübingen: no face
    off = stylize(content_path, style_path, size=32, iters=3, faces="off")
    assert torch.equal(auto.image, off.image)
    black = stylize(content_path, style_path, size=32, iters=3, face_mask=torch.zeros(1, 1, 4, 4))
    assert torch.equal(black.image, off.image)


def test_spatially_weighted_content_loss_of_ones_is_the_plain_loss():
    from impasto import losses

    f, t = torch.rand(1, 4, 6, 5), torch.rand(1, 4, 6, 5)
    assert torch.allclose(losses.content_loss(f, t, torch.ones(1, 1, 6, 5)), losses.content_loss(f, t))
    w = torch.zeros(1, 1, 6, 5)
    w[..., :3, :] = 2.0
    assert torch.allclose(losses.content_loss(f, t, w), ((f - t)[..., :3, :] ** 2).sum() * 2 / f.numel())


def test_fast_init_starts_from_the_arbitrary_network_painting(content_path, style_path, vgg_weights):
    from impasto.stylize import fast_start

    # at a working size (256 px; at 64 px the network's strokes are too coarse for the painting's
    # Gram statistics) the painted start has far less style loss than the photo: the reason for the
    # default (benchmarks/RESULTS.md, "Time to quality")
    config = StylizeConfig(size=256)
    vgg = feature_extractor(config.content_layers + config.style_layers)
    photo, style = load_image(content_path, 256).rgb, load_image(style_path, 256).rgb
    loss = make_loss(vgg, config, photo, style_targets(vgg, [style], None, config))
    with torch.no_grad():
        assert loss(fast_start(photo, [style], config))[0] < 0.75 * loss(photo)[0]
    # stylize starts there: one Adam step from it stays near that painting, not near the photo
    fast = stylize(content_path, style_path, size=64, iters=1, tol=0.0, init="fast", optimizer="adam")
    content, small = load_image(content_path, 64).rgb, load_image(style_path, 64).rgb
    painting = fast_start(content, [small], StylizeConfig(size=64))
    assert (fast.image - painting).abs().mean() < 0.25 * (fast.image - content).abs().mean()


def test_convergence_stop_ends_the_run_and_the_result_says_so(content_path, style_path, vgg_weights):
    events = []
    result = stylize(content_path, style_path, size=48, iters=200, tol=0.02, callback=events.append)
    assert result.converged_at is not None and result.converged_at < 200
    assert result.note == f"converged at {result.converged_at}" == events[-1].note
    assert len(result.history) == result.converged_at == events[-1].step == events[-1].total
    full = stylize(content_path, style_path, size=48, iters=30, tol=0.0)
    assert full.converged_at is None and full.note == "" and len(full.history) == 30


def test_convergence_stop_applies_to_each_scale(content_path, style_path, vgg_weights):
    events = []
    stylize(content_path, style_path, size=48, iters=200, scales=2, tol=0.02, callback=events.append)
    notes = [(e.stage, e.note) for e in events if e.note]
    assert [stage for stage, _ in notes] == ["scale 1/2 (34 px)", "scale 2/2 (48 px)"]
    assert events[-1].step == events[-1].total < 400  # both scales' unrun steps left the schedule
