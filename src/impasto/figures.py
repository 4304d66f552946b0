"""Labelled image grids (contact sheets, reconstructions, side-by-side comparisons).

Labels use Pillow's bundled font (``ImageFont.load_default(size=...)``), so nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .images import to_pil

Cell = torch.Tensor | Image.Image | None


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _as_pil(cell: Cell, box: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    """Fit ``cell`` inside ``box`` (width, height), centred on the background colour."""
    canvas = Image.new("RGB", box, background)
    if cell is None:
        return canvas
    im = to_pil(cell) if isinstance(cell, torch.Tensor) else cell.convert("RGB")
    h, w = _fit_inside((im.height, im.width), box)
    im = im.resize((w, h), Image.Resampling.LANCZOS)
    canvas.paste(im, ((box[0] - w) // 2, (box[1] - h) // 2))
    return canvas


def _fit_inside(hw: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    h, w = hw
    scale = min(box[0] / w, box[1] / h)
    return max(1, round(h * scale)), max(1, round(w * scale))


def labelled_grid(
    cells: Sequence[Sequence[Cell]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    cell_size: tuple[int, int] = (256, 192),
    title: str | None = None,
    pad: int = 6,
    font_size: int = 14,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Arrange ``cells[row][col]`` (tensors in [0, 1] or Pillow images; None leaves a gap) in a grid
    with optional row labels on the left, column labels on top and a title. Returns a Pillow image."""
    rows = len(cells)
    cols = max((len(r) for r in cells), default=0)
    if rows == 0 or cols == 0:
        raise ValueError("labelled_grid needs at least one cell")
    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font)
        return int(right - left), int(bottom - top)

    label_w = max((text_size(t)[0] for t in row_labels or ()), default=0)
    label_w = label_w + 2 * pad if row_labels else 0
    head_h = max((text_size(t)[1] for t in col_labels or ()), default=0)
    head_h = head_h + 2 * pad if col_labels else 0
    title_h = text_size(title)[1] + 2 * pad if title else 0
    ch = cell_size[1]
    # A column is as wide as its cell or its label, whichever is wider (labels never overlap).
    widest = max((text_size(t)[0] for t in col_labels or ()), default=0)
    cw = max(cell_size[0], widest + pad)
    width = label_w + cols * (cw + pad) + pad
    height = title_h + head_h + rows * (ch + pad) + pad
    sheet = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(sheet)
    ink = (20, 20, 20)
    if title:
        tw, _ = text_size(title)
        draw.multiline_text(((width - tw) // 2, pad), title, fill=ink, font=font, align="center")
    for c, text in enumerate(col_labels or ()):
        tw, th = text_size(text)
        x = label_w + pad + c * (cw + pad) + (cw - tw) // 2
        draw.multiline_text((x, title_h + pad), text, fill=ink, font=font, align="center")
    for r, row in enumerate(cells):
        y = title_h + head_h + pad + r * (ch + pad)
        if row_labels and r < len(row_labels):
            tw, th = text_size(row_labels[r])
            draw.multiline_text((pad, y + (ch - th) // 2), row_labels[r], fill=ink, font=font)
        for c, cell in enumerate(row):
            x = label_w + pad + c * (cw + pad) + (cw - cell_size[0]) // 2
            sheet.paste(_as_pil(cell, cell_size, background), (x, y))
    return sheet


def save_figure(figure: Image.Image, path) -> None:
    """Write a Pillow figure atomically (format from the extension)."""
    from pathlib import Path

    from .images import SAVE_FORMATS
    from .output import atomic_write, check_output_path

    p = check_output_path(Path(path))
    fmt = SAVE_FORMATS[p.suffix.lower()]
    atomic_write(p, lambda fh: figure.save(fh, format=fmt))
