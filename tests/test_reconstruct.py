"""reconstruct: Gatys et al. 2016 Fig. 1 — shallow content layers give the image back, deep ones less so;
style sets match Gram matrices; the grid has one labelled cell per layer (set); Ctrl-C keeps what is done.

Real VGG-19 weights, 32 px, a few iterations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F

from impasto.errors import ConfigError
from impasto.images import noise
from impasto.optimize import Cancelled
from impasto.reconstruct import CONTENT_LAYERS, ReconstructConfig, cumulative, reconstruct

SIZE = 32


@pytest.fixture(scope="module")
def content_cells(tiny_content, vgg_weights):
    return reconstruct(
        tiny_content, kind="content", layers=("conv1_2", "conv4_2"), size=SIZE, iters=25, device="cpu"
    )


def test_content_from_a_shallow_layer_is_nearly_the_image_and_a_deep_one_is_not(content_cells):
    original = content_cells.original
    assert original.shape[-1] == SIZE
    shallow, deep = (c.image for c in content_cells.cells)
    # Compared at 1/4 resolution: a conv1_2 reconstruction keeps a little high-frequency noise the
    # 3x3 filters barely see, while the deep one loses the image's actual structure.
    error = lambda x: float((F.avg_pool2d(x, 4) - F.avg_pool2d(original, 4)).abs().mean())  # noqa: E731
    start = error(noise(original.shape, seed=0))
    assert error(shallow) < 0.3 * start  # white noise became the picture
    assert error(deep) > 2 * error(shallow)  # Gatys et al. Fig. 1: deep layers lose the exact pixels
    for cell in content_cells.cells:
        assert cell.history[-1]["content"] < 0.2 * cell.history[0]["content"]


def test_grid_has_one_labelled_cell_per_layer_plus_the_original(content_cells):
    pad = 6  # labelled_grid's default
    fig = content_cells.figure(font_size=12)
    bare = content_cells.figure(font_size=12, with_original=False)
    h, w = content_cells.original.shape[-2:]
    n = 1 + len(content_cells.cells)
    # n equal columns (each as wide as the cell or its label) separated by the padding
    col_w = (fig.width - pad) / n
    assert col_w == int(col_w) and col_w >= w + pad
    assert (bare.width - pad) / (n - 1) == col_w
    arr = np.asarray(fig)
    assert (arr[: fig.height - h - 2 * pad] < 128).any(), "label strip is blank"
    for k in range(n):  # every cell is painted, not background
        assert (arr[fig.height - pad - h // 2, int(pad + k * col_w + col_w / 2) - pad] != 255).any()


def test_style_cells_grow_their_layer_sets_and_match_grams(tiny_style, vgg_weights):
    result = reconstruct(
        tiny_style, kind="style", layers=("relu1_1", "relu2_1"), size=SIZE, iters=15, device="cpu"
    )
    assert [c.layers for c in result.cells] == [("relu1_1",), ("relu1_1", "relu2_1")]
    assert [c.label for c in result.cells] == ["relu1_1", "relu1_1 + relu2_1"]
    for cell in result.cells:
        assert cell.history[-1]["style"] < 0.2 * cell.history[0]["style"]


def test_interrupt_keeps_finished_cells_and_the_current_best(tiny_content, vgg_weights):
    def stop_in_second_cell(event):
        if event.stage.startswith("cell 2/") and event.step >= 2:
            raise Cancelled

    result = reconstruct(
        tiny_content,
        kind="content",
        layers=("conv1_2", "conv2_2", "conv3_2"),
        size=SIZE,
        iters=4,
        callback=stop_in_second_cell,
        device="cpu",
    )
    assert result.interrupted
    first, second, third = result.cells
    assert first.image is not None and not first.interrupted
    assert second.image is not None and second.interrupted
    assert third.image is None
    assert result.figure().width > 0  # an unfinished grid still renders


def test_defaults_are_gatys_figure_1():
    assert ReconstructConfig().layer_sets == tuple((n,) for n in CONTENT_LAYERS)
    sets = ReconstructConfig(kind="style").layer_sets
    assert sets[0] == ("relu1_1",) and sets[-1] == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert cumulative("abc") == (("a",), ("a", "b"), ("a", "b", "c"))
    with pytest.raises(ConfigError):
        ReconstructConfig(kind="texture")
    with pytest.raises(ConfigError, match="unknown VGG-19 layer"):
        ReconstructConfig(layers=("conv1_2", "conv6_2"))


@pytest.mark.parametrize("kind", ["content", "style"])
def test_bf16_reconstruction_agrees_with_fp32(tiny_content, vgg_weights, kind):
    """``precision`` reaches the network: bf16 cells differ from fp32 ones but their losses stay close."""
    cfg = ReconstructConfig(kind=kind, layers=("relu1_1", "relu2_1"), size=32, iters=6, device="cpu")
    fp32 = reconstruct(tiny_content, cfg, precision="fp32")
    bf16 = reconstruct(tiny_content, cfg, precision="bf16")
    for a, b in zip(fp32.cells, bf16.cells, strict=True):
        assert 0 < float((a.image - b.image).abs().mean()) < 0.05
        lf, lb = a.history[-1]["total"], b.history[-1]["total"]
        assert abs(lb - lf) <= 0.3 * lf, (a.label, lf, lb)
