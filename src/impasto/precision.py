"""Mixed precision as a layer around the optimisation step: which dtype the VGG-19 runs in.

Only the network's convolutions (≈ 99 % of the arithmetic) ever run in bfloat16. Everything the
optimiser sees stays float32: the image parameter, Gram matrices, losses, L-BFGS history. That split
is what keeps L-BFGS with its strong-Wolfe line search stable (a naive ``torch.autocast`` also puts
the Gram products and the loss reductions into bfloat16, whose 8-bit mantissa turns the small
differences the line search compares into noise). :func:`apply` adds a safety net: an escalation hook
for :func:`impasto.optimize.optimize` that finishes the run in float32 if bfloat16 ever stalls L-BFGS
or produces a non-finite loss.

>>> escalate = apply(vgg, "auto", torch.device("cpu"))         # doctest: +SKIP
>>> result = optimize(image, loss_fn, iters=500, escalate=escalate)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch

from .errors import ConfigError
from .options import option

if TYPE_CHECKING:
    from .optimize import Escalate
    from .vgg import VGG19

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def precision_option() -> Any:
    """The ``precision`` field of a VGG pipeline's config (the pipelines with a network of their own
    declare it with their own help)."""
    return option("auto", help="auto (bf16 where the CPU runs it natively, else fp32), bf16 or fp32")


DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def cpu_bf16_is_fast() -> bool:
    """True when this CPU has native bfloat16 matrix units (AMX tiles or AVX-512 BF16).

    Without them oneDNN emulates bfloat16 with float32 arithmetic plus conversions, which is slower
    than plain float32, so ``auto`` keeps float32 there.
    """
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for name in checks:
        fn = getattr(torch.cpu, name, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # pragma: no cover - very old builds
            pass
    return False


def cuda_bf16_is_fast(device: torch.device) -> bool:
    """Ampere (compute capability 8.0) and newer run bfloat16 on tensor cores."""
    if not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8 and torch.cuda.is_bf16_supported()


def check(precision: str) -> None:
    """A config's ``precision`` field: one of :data:`PRECISIONS`, else a ConfigError naming it."""
    if precision not in PRECISIONS:
        raise ConfigError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}", field="precision"
        )


def resolve(precision: str, device: torch.device | str) -> torch.dtype:
    """``auto`` → bfloat16 where the device runs it natively and fast, else float32."""
    device = torch.device(device)
    check(precision)
    if precision != "auto":
        dtype = DTYPES[precision]
        if dtype == torch.bfloat16 and device.type == "mps" and not _mps_bf16_supported():
            raise ConfigError(
                "precision 'bf16' is not supported on this MPS device; use fp32", field="precision"
            )
        return dtype
    if device.type == "cpu":
        return torch.bfloat16 if cpu_bf16_is_fast() else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if cuda_bf16_is_fast(device) else torch.float32
    return torch.float32  # MPS and others: float32 unless asked


def _mps_bf16_supported() -> bool:  # pragma: no cover - needs Apple hardware
    try:
        torch.zeros(1, dtype=torch.bfloat16, device="mps")
        return True
    except (RuntimeError, TypeError):
        return False


def use_channels_last(device: torch.device | str) -> bool:
    """NHWC is the layout oneDNN (CPU) and cuDNN tensor cores (CUDA) convolve fastest in."""
    return torch.device(device).type in ("cpu", "cuda")


def apply(vgg: VGG19, precision: str, device: torch.device | str) -> Escalate | None:
    """Set ``vgg`` to run in the precision ``precision`` resolves to on ``device``.

    Returns the escalation hook for :func:`impasto.optimize.optimize` (:func:`escalation`).
    """
    dtype = resolve(precision, device)
    vgg.set_compute(dtype, channels_last=use_channels_last(device))
    return escalation(vgg)


def escalation(vgg: VGG19) -> Escalate | None:
    """The escalation hook of a network set to bfloat16 (None when it runs in float32): if a bfloat16
    run ever produces a non-finite loss or L-BFGS stalls early, the hook switches the network to
    float32 once and the optimiser continues from the best image, so no run ends in NaN or short of
    its iterations because of bfloat16."""
    if vgg.dtype == torch.float32:
        return None

    def escalate(reason: str) -> bool:
        if vgg.dtype == torch.float32:
            return False
        vgg.set_compute(torch.float32)
        return True

    return escalate


def name(dtype: torch.dtype) -> str:
    return {torch.bfloat16: "bf16", torch.float32: "fp32", torch.float16: "fp16"}.get(dtype, str(dtype))


def default_threads() -> int:
    """Threads for intra-op parallelism: one per usable physical core, unless OMP_NUM_THREADS says.

    Hyper-threads share a core's matrix units, so more threads than physical cores only add
    synchronisation; fewer CPUs may be usable than exist (containers, ``taskset``).
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(usable, torch.get_num_threads()))


__all__ = [
    "DTYPES",
    "PRECISIONS",
    "apply",
    "cpu_bf16_is_fast",
    "cuda_bf16_is_fast",
    "default_threads",
    "escalation",
    "name",
    "resolve",
    "use_channels_last",
]
