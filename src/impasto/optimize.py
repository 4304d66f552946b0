"""The optimisation loop shared by every image-optimising pipeline (stylize, texture, reconstruct).

It knows nothing about style: it minimises ``loss_fn(image) -> (total, breakdown)`` over the pixels,
reports each step through a callback receiving a frozen :class:`ProgressEvent`, keeps the best image
seen, and on Ctrl-C (``KeyboardInterrupt``) or :class:`Cancelled` returns that best image instead of
losing the work.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, Mapping[str, torch.Tensor]]]


class Cancelled(Exception):
    """Raise from a progress callback to stop an optimisation early (the best image is kept)."""


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long-running pipeline, as a callback sees it."""

    step: int
    total: int
    losses: Mapping[str, float]
    elapsed: float
    eta: float | None
    image: torch.Tensor | None = None  # current image, (1, 3, H, W) in [0, 1]; do not modify
    stage: str = ""  # e.g. "scale 2/3 (362 px)"; empty for single-stage runs


Callback = Callable[[ProgressEvent], None]


@dataclass
class OptimizeResult:
    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    stop_reason: str = ""
    steps: int = 0


class _NonFinite(Exception):
    pass


def optimize(
    image: torch.Tensor,
    loss_fn: LossFn,
    *,
    iters: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    callback: Callback | None = None,
    stage: str = "",
    clamp: bool = True,
) -> OptimizeResult:
    """Minimise ``loss_fn`` over a copy of ``image`` (never modified) for ``iters`` iterations.

    L-BFGS (strong Wolfe line search; one iteration may evaluate the loss more than once) or Adam.
    """
    x = image.detach().clone().requires_grad_(True)
    history: list[dict[str, float]] = []
    best = {"loss": math.inf, "image": image.detach().clone()}
    start = time.perf_counter()
    steps_done = 0

    def evaluate() -> torch.Tensor:
        total, parts = loss_fn(x)
        value = float(total.detach())
        if not math.isfinite(value):
            raise _NonFinite(f"loss became {value}")
        if value < best["loss"]:
            best["loss"] = value
            best["image"] = x.detach().clamp(0, 1) if clamp else x.detach().clone()
        return total, parts, value

    def report(step: int, parts: Mapping[str, torch.Tensor], value: float) -> None:
        losses = {k: float(v.detach()) for k, v in parts.items()}
        losses["total"] = value
        history.append(losses)
        if callback is not None:
            elapsed = time.perf_counter() - start
            eta = elapsed / step * (iters - step) if step else None
            callback(ProgressEvent(step, iters, losses, elapsed, eta, x.detach().clamp(0, 1), stage))

    interrupted, reason = False, ""
    try:
        if iters <= 0:
            pass
        elif optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                [x], lr=1.0 if lr is None else lr, max_iter=iters, max_eval=iters * 2,
                history_size=100, tolerance_grad=1e-12, tolerance_change=1e-12,
                line_search_fn="strong_wolfe",
            )
            state = opt.state[x]

            def closure() -> torch.Tensor:
                nonlocal steps_done
                opt.zero_grad(set_to_none=True)
                total, parts, value = evaluate()
                total.backward()
                n_iter = state.get("n_iter", 0)
                if n_iter > steps_done:  # first evaluation of a new iteration
                    steps_done = n_iter
                    report(n_iter, parts, value)
                return total

            opt.step(closure)
        elif optimizer == "adam":
            opt = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
            for step in range(1, iters + 1):
                opt.zero_grad(set_to_none=True)
                total, parts, value = evaluate()
                total.backward()
                opt.step()
                if clamp:
                    with torch.no_grad():
                        x.clamp_(0, 1)
                steps_done = step
                report(step, parts, value)
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}")
        # The final point of L-BFGS / Adam has not been scored yet: score it so "best" is honest.
        if iters > 0:
            with torch.no_grad():
                evaluate()
    except KeyboardInterrupt:
        interrupted, reason = True, "interrupted"
    except Cancelled:
        interrupted, reason = True, "cancelled"
    except _NonFinite as exc:
        reason = str(exc)
    return OptimizeResult(best["image"], history, interrupted, reason, steps_done)
