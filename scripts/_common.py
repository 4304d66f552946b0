"""What the gallery scripts (and benchmarks/arbitrary_vs_stl.py) share: the example pictures they use
and one labelled row of pictures saved as a figure."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto.figures import labelled_grid, save_figure  # noqa: E402

EX = ROOT / "examples"
PHOTOS = ("tubingen.jpg", "golden_gate.jpg", "brad_pitt.jpg")
#: Every painting or drawing in examples/ (examples/SOURCES.md).
PAINTINGS = (
    "starry_night.jpg",
    "the_scream.jpg",
    "shipwreck.jpg",
    "seated-nude.jpg",
    "picasso_selfport1907.jpg",
    "woman-with-hat-matisse.jpg",
    "escher_sphere.jpg",
    "frida_kahlo.jpg",
)
#: The paintings the shipped fast network (impasto-6) was trained on, by its style names.
IMPASTO6_FILES = {
    "starry_night": "starry_night.jpg",
    "the_scream": "the_scream.jpg",
    "shipwreck": "shipwreck.jpg",
    "seated_nude": "seated-nude.jpg",
    "woman_with_hat": "woman-with-hat-matisse.jpg",
    "picasso_selfportrait": "picasso_selfport1907.jpg",
}


def save_row(
    cells: Sequence[torch.Tensor],
    labels: Sequence[str],
    path: Path,
    *,
    title: str,
    cell_size: tuple[int, int] = (220, 165),
) -> None:
    """One row of pictures, each under its label, with a title, written to ``path``."""
    save_figure(labelled_grid([list(cells)], col_labels=list(labels), cell_size=cell_size, title=title), path)
