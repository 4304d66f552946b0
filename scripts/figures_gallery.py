"""README pictures for textures, reconstructions and the trade-off sheet → docs/figures/.

    nice -n 10 .venv/bin/python scripts/figures_gallery.py            # everything (~1 h on 2 busy CPU cores)
    nice -n 10 .venv/bin/python scripts/figures_gallery.py --only sweep

Sizes and iteration counts are deliberately small (rendered in fp32 on 2 CPU cores shared by several
jobs): 128–256 px and 40–120 L-BFGS iterations, so the figures preview what the commands give with
their defaults (256 px, 200–300 iterations).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto.figures import labelled_grid, save_figure  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.reconstruct import reconstruct  # noqa: E402
from impasto.sweep import sweep  # noqa: E402
from impasto.texture import synthesize_texture, tile  # noqa: E402

EX = ROOT / "examples"
OUT = ROOT / "docs" / "figures"
PARTS = ("texture", "texture-tileable", "reconstruct-content", "reconstruct-style", "sweep")


def log(event) -> None:
    if event.step % 25 == 0 or event.step == event.total:
        print(
            f"  {event.stage or ''} {event.step}/{event.total} loss {event.losses.get('total', 0):.4g} "
            f"({event.elapsed:.0f} s)",
            flush=True,
        )


def save_jpeg(figure, name: str) -> None:
    path = OUT / name
    save_figure(figure, path)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)", flush=True)


def texture(quick: bool) -> None:
    iters = 10 if quick else 100
    style = EX / "starry_night.jpg"
    plain = synthesize_texture(style, width=192, height=144, style_size=160, iters=iters, callback=log)
    source = load_image(style, 160).rgb
    fig = labelled_grid(
        [[source, plain.image]],
        col_labels=["Starry Night (source, 160 px)", "texture 192x144 (from noise)"],
        cell_size=(192, 144),
        font_size=14,
    )
    save_jpeg(fig, "texture_starry_night.jpg")


def texture_tileable(quick: bool) -> None:
    iters = 10 if quick else 100
    side = 64 if quick else 192
    tileable = synthesize_texture(
        EX / "starry_night.jpg",
        width=side,
        height=side,
        style_size=160,
        iters=iters,
        tileable=True,
        callback=log,
    )
    fig = labelled_grid(
        [[tile(tileable.image, 2, 2)]],
        col_labels=[f"--tileable {side}x{side}, tiled 2x2"],
        cell_size=(2 * side, 2 * side),
        font_size=14,
    )
    save_jpeg(fig, "texture_starry_night_tiled.jpg")


def reconstruction(kind: str, image: str, full_iters: int, title: str, name: str) -> Callable[[bool], None]:
    """The part drawing ``kind`` reconstructions of ``image`` from noise (``full_iters`` per cell)."""

    def part(quick: bool) -> None:
        size, iters = (64, 5) if quick else (128, full_iters)
        result = reconstruct(EX / image, kind=kind, size=size, iters=iters, callback=log)
        save_jpeg(result.figure(title=title), name)

    return part


reconstruct_content = reconstruction(
    "content",
    "tubingen.jpg",
    80,
    "content reconstructions of Tubingen (from noise, one layer each)",
    "reconstruct_content_tubingen.jpg",
)
reconstruct_style = reconstruction(
    "style",
    "starry_night.jpg",
    60,
    "style reconstructions of Starry Night (from noise, growing layer sets)",
    "reconstruct_style_starry_night.jpg",
)


def trade_off(quick: bool) -> None:
    size, iters = (48, 3) if quick else (128, 40)
    # Started from the photo, not from noise as in the paper: 40 iterations are too few to grow the
    # content out of noise (see the README; `impasto sweep` starts from noise by default).
    result = sweep(
        EX / "tubingen.jpg", EX / "starry_night.jpg", size=size, iters=iters, init="content", callback=log
    )
    fig = result.figure(
        title="Tubingen x Starry Night: style layers (rows) by content/style weight ratio (columns)"
    )
    save_jpeg(fig, "sweep_tubingen_starry_night.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append", help="render only these parts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few iterations (smoke test)")
    args = parser.parse_args()
    # One thread per process: on a shared, oversubscribed CPU two spinning threads are ~3x slower.
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = {
        "texture": texture,
        "texture-tileable": texture_tileable,
        "reconstruct-content": reconstruct_content,
        "reconstruct-style": reconstruct_style,
        "sweep": trade_off,
    }
    for name in args.only or PARTS:
        start = time.perf_counter()
        print(f"[{name}]", flush=True)
        jobs[name](args.quick)
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
