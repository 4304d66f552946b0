"""One timed pastiche 1.6.0 run, executed by the pastiche virtual environment's python (no impasto
import). Prints one JSON line. Called by benchmarks/compare.py."""

from __future__ import annotations

import json
import resource
import time

import torch
from pastiche.pastiche import VGG_MEAN, PasticheArtist

from _worker_args import worker_parser


def main() -> None:
    a = worker_parser().parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    # pastiche's CLI defaults (L-BFGS, max pooling, block4_relu2 / block{1..5}_relu1), longest side
    # --size for both images, as `pastiche --size N --style-size N --num-steps ITERS`.
    artist = PasticheArtist(a.content, [a.style], device="cpu", size=a.size, style_size=a.size)
    setup = time.perf_counter() - t0
    cpu0 = time.process_time()
    t1 = time.perf_counter()
    for _ in range(a.iters):
        artist.draw()
    opt_time = time.perf_counter() - t1
    cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x = artist.pastiche.detach().squeeze(0).clone()
    for i, shift in enumerate(VGG_MEAN):  # undo pastiche's BGR, mean-subtracted 0–255 encoding
        x[i] += shift
    rgb = (x[[2, 1, 0]] / 255.0).clamp(0, 1).unsqueeze(0)
    torch.save(rgb.contiguous(), a.save)
    print(
        json.dumps(
            {
                "tool": "pastiche-1.6.0",
                "dtype": "fp32",
                "size": list(rgb.shape[-2:]),
                "iters": a.iters,
                "evals": a.iters,
                "setup_s": setup,
                "opt_s": opt_time,
                "cpu_s": cpu,
                "peak_rss_mib": rss,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
