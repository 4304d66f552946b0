"""figures: labelled grids — layout from the cell size and labels, labels actually drawn, atomic saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from impasto.errors import ImageError
from impasto.figures import labelled_grid, save_figure


def _solid(value: float, h: int = 20, w: int = 30) -> torch.Tensor:
    return torch.full((1, 3, h, w), value)


def test_grid_size_follows_the_layout_and_cells_land_in_their_boxes():
    cells = [[_solid(0.0), _solid(0.5)], [_solid(0.25), None]]
    pad = 6
    sheet = labelled_grid(cells, cell_size=(30, 20), pad=pad)  # no labels: pure layout
    assert sheet.size == (2 * (30 + pad) + pad, 2 * (20 + pad) + pad)
    arr = np.asarray(sheet).astype(int)
    # centre pixel of each box: black, grey, dark grey, and the gap stays background
    centre = lambda r, c: arr[pad + r * (20 + pad) + 10, pad + c * (30 + pad) + 15]  # noqa: E731
    assert abs(centre(0, 0) - 0).max() <= 1
    assert abs(centre(0, 1) - 128).max() <= 1
    assert abs(centre(1, 0) - 64).max() <= 1
    assert (centre(1, 1) == 255).all()


def test_labels_are_drawn_and_widen_columns_instead_of_overlapping():
    cells = [[_solid(0.5), _solid(0.5), _solid(0.5)]]
    labels = ["a rather long column label", "b", "c"]
    plain = labelled_grid(cells, cell_size=(30, 20))
    sheet = labelled_grid(cells, col_labels=labels, row_labels=["row"], cell_size=(30, 20), title="title")
    assert sheet.width > plain.width + 2 * 100  # the long label widened every column
    assert sheet.height > plain.height  # header and title strips
    arr = np.asarray(sheet)
    top = arr[: sheet.height - plain.height]  # title + column-label strips
    assert (top < 128).any(), "label strip is blank"
    left = arr[:, :20]
    assert (left < 128).any(), "row label strip is blank"


def test_empty_grid_is_an_error():
    with pytest.raises(ValueError):
        labelled_grid([[]])


def test_save_figure_checks_the_extension_and_writes_atomically(tmp_path):
    fig = Image.new("RGB", (8, 8), (10, 20, 30))
    with pytest.raises(ImageError):
        save_figure(fig, tmp_path / "sheet.txt")
    save_figure(fig, tmp_path / "sheet.png")
    assert Image.open(tmp_path / "sheet.png").getpixel((0, 0)) == (10, 20, 30)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no temporary left behind
