"""README pictures for DeepDream → docs/dream/.

    nice -n 10 .venv/bin/python scripts/dream_gallery.py               # everything (~30 min on 2 busy cores)
    nice -n 10 .venv/bin/python scripts/dream_gallery.py --only zoom   # layers | guided | zoom

Each picture is made with the library's defaults (4 octaves × 10 steps, step 1.5/255, jitter 32, seed
0) except where the figure says otherwise; images are 384 px (the zoom 256 px) to keep CPU time modest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto.dream import DreamConfig, dream, dream_zoom  # noqa: E402
from impasto.figures import labelled_grid  # noqa: E402
from impasto.images import load_image  # noqa: E402
from impasto.output import atomic_write, save_animation  # noqa: E402

EX = ROOT / "examples"
OUT = ROOT / "docs" / "dream"
PARTS = ("layers", "guided", "zoom")
SIZE = 384
LAYERS = ("relu2_2", "relu3_3", "relu4_2", "relu5_2")


def progress(label: str):
    def log(event) -> None:
        if event.step % 10 == 0 or event.step == event.total:
            eta = "?" if event.eta is None else f"{event.eta:.0f} s"
            print(
                f"  {label} {event.stage} {event.step}/{event.total} objective "
                f"{event.losses['objective']:.4g} (eta {eta})",
                flush=True,
            )

    return log


def save_jpeg(figure, name: str, quality: int = 85) -> None:
    path = OUT / name
    atomic_write(path, lambda fh: figure.save(fh, format="JPEG", quality=quality, optimize=True))
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)", flush=True)


def layers_figure() -> None:
    photo = load_image(EX / "tubingen.jpg", SIZE).rgb
    cells, labels = [photo], ["input"]
    for layer in LAYERS:
        result = dream(photo, DreamConfig(layers=(layer,), size=None), callback=progress(layer))
        cells.append(result.image)
        labels.append(layer)
    figure = labelled_grid(
        [cells],
        col_labels=labels,
        cell_size=(SIZE, SIZE * 3 // 4),
        title="impasto dream --layer L   (VGG-19, shallow to deep; 4 octaves x 10 steps each)",
    )
    save_jpeg(figure, "layers.jpg")


def guided_figure() -> None:
    photo = load_image(EX / "golden_gate.jpg", SIZE).rgb
    guide = load_image(EX / "starry_night.jpg", 224).rgb
    plain = dream(photo, DreamConfig(layers=("relu4_2",), size=None), callback=progress("plain"))
    guided = dream(
        photo, DreamConfig(layers=("relu4_2",), size=None), guide=guide, callback=progress("guided")
    )
    kept = dream(
        photo,
        DreamConfig(layers=("relu4_2",), size=None, preserve_color=True),
        guide=guide,
        callback=progress("guided, preserve colour"),
    )
    figure = labelled_grid(
        [[photo, guide, plain.image, guided.image, kept.image]],
        col_labels=["input", "guide", "relu4_2", "--guide starry_night", "--guide ... --preserve-color"],
        cell_size=(300, 225),
        title="Guided dreaming: each position pushed towards its best-matching guide feature",
    )
    save_jpeg(figure, "guided.jpg")


def zoom_animation() -> None:
    config = DreamConfig(layers=("relu4_2",), size=256, octaves=2, steps=5, frames=24, zoom=0.05, fps=8)
    result = dream_zoom(EX / "hoovertowernight.jpg", config, callback=progress("zoom"))
    path = save_animation(result.frames, OUT / "zoom.gif", fps=config.fps)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append", help="make only this picture (repeatable)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for part in args.only or PARTS:
        start = time.perf_counter()
        {"layers": layers_figure, "guided": guided_figure, "zoom": zoom_animation}[part]()
        print(f"{part}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
