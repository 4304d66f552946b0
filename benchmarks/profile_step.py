"""torch.profiler summary of one loss evaluation (VGG-19 forward + backward, Gram, losses).

.venv/bin/python benchmarks/profile_step.py --size 512 --precision bf16 --threads 2
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from impasto.images import load_image
from impasto.precision import apply as apply_precision
from impasto.stylize import StylizeConfig, make_loss, style_targets
from impasto.vgg import feature_extractor

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--rows", type=int, default=14)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    config = StylizeConfig(size=a.size, precision=a.precision)
    c = load_image(ROOT / "examples" / "tubingen.jpg", a.size).rgb
    s = load_image(ROOT / "examples" / "starry_night.jpg", a.size).rgb
    vgg = feature_extractor(tuple(dict.fromkeys(config.content_layers + config.style_layers)))
    apply_precision(vgg, a.precision, "cpu")
    loss_fn = make_loss(vgg, config, c, style_targets(vgg, [s], None, config))

    def step():
        x = c.clone().requires_grad_(True)
        total, _ = loss_fn(x)
        total.backward()

    step()  # warm-up (oneDNN primitive creation)
    step()
    print("#", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    t, cpu = time.perf_counter(), time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(
        f"# {a.size} px {a.precision}, {torch.get_num_threads()} threads: one evaluation "
        f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - cpu:.2f} s CPU (profiled)"
    )
    print(
        prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows, max_name_column_width=38)
    )


if __name__ == "__main__":
    main()
