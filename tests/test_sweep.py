"""sweep: Gatys et al. 2016 Fig. 3 — the content/style ratio moves the result towards the photo, rows grow the
style layer sets, the sheet has one labelled cell per (row, ratio); CLI and bad input.

Real VGG-19 weights, 32 px, a few iterations.
"""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import ConfigError
from impasto.sweep import SweepConfig, format_ratio, sweep


@pytest.fixture(scope="module")
def small_sweep(tiny_content, tiny_style, vgg_weights):
    return sweep(
        tiny_content,
        tiny_style,
        rows=("relu1_1", "relu2_1"),
        ratios=(1e-6, 1.0),
        size=32,
        iters=8,
        init="noise",
        device="cpu",
    )


def test_higher_ratio_keeps_more_content(small_sweep):
    for row in small_sweep.cells:
        low, high = row
        # raw content error = weighted content term / ratio
        raw_low = low.history[-1]["content"] / 1e-6
        raw_high = high.history[-1]["content"] / 1.0
        assert raw_high < 0.5 * raw_low
        assert (high.image - small_sweep.content).abs().mean() < (
            low.image - small_sweep.content
        ).abs().mean()


def test_sheet_has_a_labelled_cell_per_row_and_ratio(small_sweep):
    assert [[c.layers for c in row] for row in small_sweep.cells] == [
        [("relu1_1",)] * 2,
        [("relu1_1", "relu2_1")] * 2,
    ]
    assert small_sweep.col_labels == ["content/style 1e-6", "content/style 1"]
    fig = small_sweep.figure(font_size=12)
    h, w = small_sweep.content.shape[-2:]
    assert fig.height > 2 * h and fig.width > 2 * w
    arr = np.asarray(fig)
    header = arr[: fig.height - 2 * (h + 6) - 6]
    assert (header < 128).any(), "column label strip is blank"
    assert (arr[-h:, :30] < 128).any(), "row label strip is blank"
    # through the middle of each row of cells: one painted run of a cell's width per ratio
    for r in range(2):
        y = fig.height - 6 - h // 2 - r * (h + 6)
        assert _wide_runs((arr[y] != 255).any(axis=1), w - 2) == 2


def _wide_runs(painted, min_len: int) -> int:
    runs, length = 0, 0
    for p in [*list(painted), False]:
        if p:
            length += 1
        else:
            runs += length >= min_len
            length = 0
    return runs


def test_format_ratio():
    assert [format_ratio(r) for r in (1e-5, 1e-4, 3e-3, 0.25, 2.5e-4, 9.99e-4)] == [
        "1e-5",
        "1e-4",
        "3e-3",
        "0.25",
        "2.5e-4",
        "1e-3",
    ]


def test_config_rules():
    assert SweepConfig().ratios == (1e-5, 1e-4, 1e-3, 1e-2)
    assert len(SweepConfig().layer_sets) == 5
    with pytest.raises(ConfigError, match="ratios"):
        SweepConfig(ratios=(1e-3, 0.0))
    with pytest.raises(ConfigError, match="unknown VGG-19 layer"):
        SweepConfig(rows=("relu1_1", "relu2_7"))
    with pytest.raises(ConfigError, match="init"):
        SweepConfig(init="style")


@pytest.mark.parametrize("init", ["noise", "content"])
def test_bf16_sweep_agrees_with_fp32(tiny_content, tiny_style, vgg_weights, init):
    """``precision`` reaches the network: bf16 cells differ from fp32 ones but their losses stay close."""
    cfg = SweepConfig(
        rows=("relu1_1",), content_layer="relu2_1", ratios=(1e-3,), size=32, iters=4, init=init, device="cpu"
    )
    fp32 = sweep(tiny_content, tiny_style, cfg, precision="fp32")
    bf16 = sweep(tiny_content, tiny_style, cfg, precision="bf16")
    a, b = fp32.cells[0][0], bf16.cells[0][0]
    assert 0 < float((a.image - b.image).abs().mean()) < 0.05
    lf, lb = a.history[-1]["total"], b.history[-1]["total"]
    assert abs(lb - lf) <= 0.3 * lf, (lf, lb)
