"""Render the README gallery of `impasto stylize` at the library's defaults (run by hand: `make gallery`).

Raw renders are cached in out/gallery/ (a render is skipped when its file exists, so the script can be
stopped and resumed); the labelled figures are written to docs/gallery/. jcjohnson/neural-style's
published outputs of the same pairs are read from ../shared/images/reference/ when that directory
exists (only this script reads it; figures are made without the reference column otherwise).

Every render below is one call of the public API; the equivalent CLI command is in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto.figures import labelled_grid, save_figure  # noqa: E402
from impasto.images import load_image, resize  # noqa: E402
from impasto.multiscale import SQRT2, schedule  # noqa: E402
from impasto.options import options_of  # noqa: E402
from impasto.output import save_image  # noqa: E402
from impasto.stylize import StylizeConfig, make_loss, style_targets, stylize  # noqa: E402
from impasto.vgg import feature_extractor  # noqa: E402

EX = ROOT / "examples"
CACHE = ROOT / "out" / "gallery"
DOCS = ROOT / "docs" / "gallery"
REFERENCE = ROOT.parent / "shared" / "images" / "reference"
CONTENT = EX / "tubingen.jpg"

# Every render uses the library's defaults (StylizeConfig: 512 px, at most 500 iterations ending at the
# convergence stop, started from the arbitrary-style network's painting), unless --size/--iters say
# otherwise (jcjohnson/neural-style's references: 512 px, 1000 iterations from noise).
DEFAULTS = StylizeConfig()
SIZE = DEFAULTS.size
ITERS = DEFAULTS.iters
EXTRA_SIZE = SIZE  # blend, masks, reverse
EXTRA_ITERS = ITERS
REFINE = 0  # --refine N: this many more iterations for the four pairs, restarted from the first render
WORKER = False  # --worker: render whatever is not yet rendered or being rendered; no figures
#: name -> what the render's run said: seconds, iterations run, "converged at N" (kept beside the PNG)
RUNS: dict[str, dict] = {}

PAIRS = {  # name -> (style file, title)
    "starry": ("starry_night.jpg", "The Starry Night (van Gogh)"),
    "scream": ("the_scream.jpg", "The Scream (Munch)"),
    "shipwreck": ("shipwreck.jpg", "The Shipwreck of the Minotaur (Turner)"),
    "seated_nude": ("seated-nude.jpg", "Femme nue assise (Picasso)"),
}

OPTIONS: dict = {}  # extra StylizeConfig fields for every render (e.g. precision), from the command line
LOSSES: dict = {}  # pair -> the yardstick's (content, style) of impasto's render and of neural-style's


def render(
    name: str, content, style, *, masks=None, iters: int | None = None, size: int | None = None, **options
) -> torch.Tensor:
    """Stylize once and cache the result as out/gallery/<name>.png."""
    iters, size = iters or ITERS, size or SIZE
    path = CACHE / f"{name}_{size}px_{iters}it.png"
    CACHE.mkdir(parents=True, exist_ok=True)
    if path.exists():
        meta = path.with_suffix(".json")
        if meta.exists():
            RUNS[name] = json.loads(meta.read_text())
        return load_image(path).rgb
    lock = path.with_suffix(".lock")
    try:  # several workers may run side by side (--worker); each render is done once
        lock.touch(exist_ok=False)
    except FileExistsError:
        if WORKER:
            return None
        while not path.exists():
            time.sleep(10)
        return load_image(path).rgb
    options = {**OPTIONS, **options}
    print(f"rendering {name} size={size} iters={iters} {options}", flush=True)
    start = time.time()

    def log(event):
        if event.step % 10 == 0:
            print(f"  {name} {event.stage} {event.step}/{event.total} {time.time() - start:.0f}s", flush=True)

    result = stylize(content, style, masks=masks, callback=log, iters=iters, size=size, **options)
    seconds = time.time() - start
    RUNS[name] = {"seconds": round(seconds, 1), "iterations": len(result.history), "note": result.note}
    print(f"  {name} done in {seconds:.0f}s ({len(result.history)} iterations {result.note})", flush=True)
    save_image(result.image, path)
    path.with_suffix(".json").write_text(json.dumps(RUNS[name]))
    lock.unlink(missing_ok=True)
    return result.image


def refined(name: str, content, style, **options) -> torch.Tensor | None:
    """REFINE more iterations, starting from the cached ITERS-iteration render (``init=PATH``)."""
    base = render(name, content, style, **options)
    if base is None or not REFINE:
        return base
    base_path = CACHE / f"{name}_{SIZE}px_{ITERS}it.png"
    return render(f"{name}_refined", content, style, init=str(base_path), iters=REFINE, **options)


def reference(name: str) -> Image.Image | None:
    path = REFERENCE / name
    return Image.open(path).convert("RGB") if path.exists() else None


def yardstick(content: Path, style: Path, images: dict[str, torch.Tensor | None]) -> dict[str, tuple]:
    """(content loss, style loss) of each image on one yardstick: impasto's default loss at the default
    size, float32 network, each image resized to the content's working size."""
    config = StylizeConfig(precision="fp32")
    c = load_image(content, config.size).rgb
    s = load_image(style, round(config.size * config.style_scale)).rgb
    vgg = feature_extractor(config.content_layers + config.style_layers, precision="fp32")
    loss = make_loss(vgg, config, c, style_targets(vgg, [s], None, config))
    out = {}
    with torch.no_grad():
        for label, image in images.items():
            if image is not None:
                _, parts = loss(resize(image.float(), tuple(c.shape[-2:])))
                out[label] = (float(parts["content"]), float(parts["style"]))
    return out


def as_tensor(image: Image.Image | None) -> torch.Tensor | None:
    if image is None:
        return None
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def loss_label(losses: dict[str, tuple], label: str) -> str:
    if label not in losses:
        return ""
    content, style = losses[label]
    return f"\ncontent {content:.3g}, style {style:.3g}"


def thumb(path: Path, size: int = 512) -> torch.Tensor:
    return load_image(path, size).rgb


def sky_mask() -> Path:
    """Soft mask of Tübingen's sky (blue, in the upper part), made from the photo by thresholding."""
    path = CACHE / "tubingen_sky_mask.png"
    if path.exists():
        return path
    im = Image.open(CONTENT).convert("RGB").resize((512, 384), Image.Resampling.LANCZOS)
    px = torch.from_numpy(__import__("numpy").asarray(im, dtype="float32") / 255.0)
    r, b = px[..., 0], px[..., 2]
    sky = ((b - r) > 0.12) & (b > 0.55)
    sky[int(0.62 * sky.shape[0]) :] = False  # the river reflects the sky: keep the upper part only
    mask = Image.fromarray((sky.numpy() * 255).astype("uint8"), "L")
    mask = (
        mask.filter(ImageFilter.MaxFilter(5))
        .filter(ImageFilter.MinFilter(9))
        .filter(ImageFilter.GaussianBlur(3))
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{os.getpid()}.png")
    mask.save(tmp)
    os.replace(tmp, path)  # workers may race here: each write is atomic
    return path


def invert(path: Path) -> Path:
    out = path.with_name(path.stem + "_inverse.png")
    tmp = path.with_name(f".{os.getpid()}.inv.png")
    Image.eval(Image.open(path).convert("L"), lambda v: 255 - v).save(tmp)
    os.replace(tmp, out)
    return out


def save(fig: Image.Image, name: str) -> None:
    if WORKER:
        return
    DOCS.mkdir(parents=True, exist_ok=True)
    path = DOCS / name
    save_figure(fig, path)
    kb = path.stat().st_size // 1024
    print(f"wrote {path.relative_to(ROOT)} ({fig.width}x{fig.height}, {kb} KB)", flush=True)


def main(argv=None) -> int:
    global SIZE, ITERS, WORKER, REFINE
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=None, help="render only these sections")
    parser.add_argument("--figures-only", action="store_true", help="compose figures from cached renders")
    parser.add_argument("--precision", default=None, help="passed to stylize when supported (e.g. bf16)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"size of the main renders (default {SIZE})")
    parser.add_argument(
        "--iters", type=int, default=ITERS, help=f"iterations of the main renders (default {ITERS})"
    )
    parser.add_argument(
        "--refine",
        type=int,
        default=REFINE,
        help=f"extra iterations for the four pairs, from the first render (default {REFINE}; 0: none)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's; on a busy shared CPU use 1 and run several --worker)",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="only render (skipping renders another worker holds); run several, then once without",
    )
    args = parser.parse_args(argv)
    WORKER = args.worker
    REFINE = args.refine
    if args.threads:
        torch.set_num_threads(args.threads)
    SIZE, ITERS = args.size, args.iters
    extra = {"size": min(EXTRA_SIZE, SIZE), "iters": min(EXTRA_ITERS, ITERS)}
    if args.precision and "precision" in {o.name for o in options_of(StylizeConfig)}:
        OPTIONS["precision"] = args.precision
    want = (lambda s: True) if not args.only else (lambda s: s in args.only)
    cells = (320, 240)

    # 1. The four classic pairs, colour and luminance-only, next to jcjohnson/neural-style's outputs.
    for key, (style_file, _) in PAIRS.items():  # colour renders first: they matter most
        if want(key):
            render(f"tubingen_{key}", CONTENT, EX / style_file)
    for key, (style_file, title) in PAIRS.items():
        if not want(key):
            continue
        style = EX / style_file
        ours = refined(f"tubingen_{key}", CONTENT, style)
        ours_lum = refined(f"tubingen_{key}_luminance", CONTENT, style, preserve_color="luminance")
        ref, ref_lum = reference(f"tubingen_{key}.png"), reference(f"original_color_tubingen_{key}.png")
        if WORKER:
            continue
        losses = yardstick(CONTENT, style, {"impasto": ours, "neural-style": as_tensor(ref)})
        LOSSES[key] = {**losses, "run": RUNS.get(f"tubingen_{key}", {})}
        run = RUNS.get(f"tubingen_{key}", {})
        budget = f"{run['iterations']} iterations" if run else f"{ITERS} iterations at most"
        fig = labelled_grid(
            [[thumb(style), ours, ref], [thumb(CONTENT), ours_lum, ref_lum]],
            row_labels=["colour", "--preserve-color\nluminance"],
            col_labels=[
                "input",
                f"impasto ({SIZE} px, defaults: {budget})" + loss_label(losses, "impasto"),
                "jcjohnson/neural-style (512 px)" + loss_label(losses, "neural-style"),
            ],
            cell_size=cells,
            title=f"Tuebingen in the style of {title}, default settings",
        )
        save(fig, f"tubingen_{key}.jpg")
    if LOSSES and not args.only:
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / "losses.json").write_text(json.dumps(LOSSES, indent=1) + "\n")

    # 2. Colour: default vs histogram matching vs luminance-only.
    if want("colour"):
        style = EX / "starry_night.jpg"
        hist = render("tubingen_starry_histogram", CONTENT, style, preserve_color="histogram")
        fig = labelled_grid(
            [
                [
                    thumb(style),
                    render("tubingen_starry", CONTENT, style),
                    hist,
                    render("tubingen_starry_luminance", CONTENT, style, preserve_color="luminance"),
                ]
            ],
            col_labels=["style", "default", "--preserve-color histogram", "--preserve-color luminance"],
            cell_size=cells,
            title=f"Preserving colour (Gatys et al. 2016); {SIZE} px, default settings",
        )
        save(fig, "colour.jpg")

    # 3. Blend of two styles.
    if want("blend"):
        a, b = EX / "starry_night.jpg", EX / "the_scream.jpg"
        blend = render(
            "tubingen_blend_starry_scream", CONTENT, [a, b], style_blend_weights=(0.5, 0.5), **extra
        )
        fig = labelled_grid(
            [[render("tubingen_starry", CONTENT, a), blend, render("tubingen_scream", CONTENT, b)]],
            col_labels=[
                "Starry Night",
                f"--style starry:0.5 --style scream:0.5\n({extra['size']} px)",
                "The Scream",
            ],
            cell_size=cells,
            title="Blending styles (weights normalised); default settings",
        )
        save(fig, "blend.jpg")

    # 4. Spatial control: the sky in one style, the town in another.
    if want("mask"):
        sky = sky_mask()
        town = invert(sky)
        a, b = EX / "starry_night.jpg", EX / "shipwreck.jpg"
        masked = render("tubingen_masks_starry_shipwreck", CONTENT, [a, b], masks=[sky, town], **extra)
        fig = labelled_grid(
            [[load_image(sky).rgb, masked]],
            col_labels=["mask 1 (sky; mask 2 is its inverse)", "sky: Starry Night, rest: Shipwreck"],
            cell_size=cells,
            title="Spatial control with --mask (Gatys et al. 2017)",
        )
        save(fig, "masks.jpg")

    # 5. The system in reverse: a painting as content, a photo as style.
    if want("reverse"):
        painting, photo = EX / "starry_night.jpg", CONTENT
        rev = render("reverse_starry_tubingen", painting, photo, **extra)
        fig = labelled_grid(
            [[thumb(painting), thumb(photo), rev]],
            col_labels=["content: The Starry Night", "style: Tuebingen photo", "result"],
            cell_size=cells,
            title="The system in reverse",
        )
        save(fig, "reverse.jpg")

    # 6. Multi-scale, coarse-to-fine: √2 × the main size, on the default schedule (starting at ≤ 512).
    if want("multiscale"):
        style = EX / "starry_night.jpg"
        big_size = round(SIZE * SQRT2) if SIZE <= 512 else 2 * SIZE
        sizes = schedule(big_size) if big_size > 512 else schedule(big_size, start_size=SIZE)
        big = render(
            "tubingen_starry_multiscale",
            CONTENT,
            style,
            size=big_size,
            iters=max(30, ITERS // 2),
            start_size=sizes[0],
        )
        single = render("tubingen_starry", CONTENT, style)
        if big is None or single is None:
            return 0
        save_image(big, DOCS / f"tubingen_starry_{big_size}.jpg", quality=85)
        h, w = big.shape[-2:]
        crop = (slice(None), slice(None), slice(h // 4, h // 4 + h // 2), slice(w // 2, w // 2 + w // 2))
        up = torch.nn.functional.interpolate(single, size=(h, w), mode="bicubic", align_corners=False).clamp(
            0, 1
        )
        fig = labelled_grid(
            [[up[crop], big[crop]]],
            col_labels=[
                f"{SIZE} px single scale, upscaled",
                f"{big_size} px, {len(sizes)} scales ({', '.join(map(str, sizes))})",
            ],
            cell_size=cells,
            title="Coarse-to-fine (right half, middle rows of each image)",
        )
        save(fig, "multiscale.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
