"""One timed impasto run in a fresh process (called by benchmarks/compare.py); prints one JSON line."""

from __future__ import annotations

import json
import resource
import time

import torch

from _worker_args import worker_parser
from impasto.images import load_image
from impasto.optimize import optimize
from impasto.precision import apply as apply_precision
from impasto.precision import name as dtype_name
from impasto.stylize import StylizeConfig, make_loss, style_targets
from impasto.vgg import feature_extractor


def main() -> None:
    p = worker_parser()
    p.add_argument("--precision", default="auto")
    p.add_argument("--tile", type=int, default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    config = StylizeConfig(size=a.size, iters=a.iters, precision=a.precision, device="cpu", tile=a.tile)
    c = load_image(a.content, a.size).rgb
    s = load_image(a.style, a.size).rgb
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    vgg = feature_extractor(layers, device=torch.device("cpu"))
    escalate = apply_precision(vgg, config.precision, "cpu")
    dtype = dtype_name(vgg.dtype)
    targets = style_targets(vgg, [s], None, config)
    evals = {"n": 0}

    def counted(loss_fn):
        def fn(x):
            evals["n"] += 1
            return loss_fn(x)

        return fn

    setup = time.perf_counter() - t0
    cpu0 = time.process_time()
    t1 = time.perf_counter()
    if a.tile:
        from impasto.tiling import optimize_tiled

        result = optimize_tiled(
            c,
            c,
            lambda crop: counted(make_loss(vgg, config, crop, targets)),
            tile=a.tile,
            iters=a.iters,
            escalate=escalate,
        )
    else:
        result = optimize(c, counted(make_loss(vgg, config, c, targets)), iters=a.iters, escalate=escalate)
    opt_time = time.perf_counter() - t1
    cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB
    torch.save(result.image.contiguous(), a.save)
    print(
        json.dumps(
            {
                "tool": f"impasto-{a.precision}",
                "dtype": dtype,
                "final_dtype": dtype_name(vgg.dtype),
                "size": list(c.shape[-2:]),
                "iters": result.steps,
                "evals": evals["n"],
                "setup_s": setup,
                "opt_s": opt_time,
                "cpu_s": cpu,
                "peak_rss_mib": rss,
                "stop_reason": result.stop_reason,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
