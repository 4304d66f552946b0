"""The optimisation loop shared by every image-optimising pipeline (stylize, texture, reconstruct).

It knows nothing about style: it minimises ``loss_fn(image) -> (total, breakdown)`` over the pixels,
reports each step through a callback receiving a frozen :class:`~impasto.progress.ProgressEvent` (or
through ``report``, one stage of a larger :class:`~impasto.progress.Clock`), keeps the best image
seen, and on Ctrl-C (``KeyboardInterrupt``) or :class:`Cancelled` returns that best image instead of
losing the work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch

from .options import option
from .progress import Callback, Clock, ProgressEvent, Report

#: The optimisers every image-optimising pipeline offers (declared once; CLI, service and checks read it).
Optimizer = Literal["lbfgs", "adam"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


def optimizer_option() -> Any:
    """The ``optimizer`` field of an optimisation pipeline's config."""
    return option("lbfgs", help="optimiser")


def lr_option() -> Any:
    """The ``lr`` field beside it (None: the optimiser's own default, see :func:`optimize`)."""
    return option(None, above=0, help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)")


#: The convergence stop looks back this many iterations (see :func:`converged`).
TOL_WINDOW = 20


def tol_option(default: float) -> Any:
    """The ``tol`` field of an optimisation pipeline's config: the convergence stop."""
    return option(
        default,
        min=0.0,
        max=1.0,
        help=f"stop once the loss has improved by less than this fraction over the last {TOL_WINDOW} "
        "iterations (0: always run --iters, which stays the maximum)",
    )


def converged(totals: list[float], tol: float, window: int = TOL_WINDOW) -> bool:
    """Whether a run whose best-so-far losses are ``totals`` (one per iteration) has converged: its
    loss improved by less than the fraction ``tol`` over the last ``window`` iterations.

    >>> converged([100.0] * 5 + [99.99] * 20, tol=1e-3)
    True
    >>> converged([100.0 - i for i in range(25)], tol=1e-3)
    False
    >>> converged([100.0] * 30, tol=0)
    False
    """
    if tol <= 0 or len(totals) <= window:
        return False
    before, now = totals[-1 - window], totals[-1]
    return before - now < tol * abs(before)


LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, Mapping[str, torch.Tensor]]]


class Cancelled(Exception):
    """Raise from a progress callback to stop an optimisation early (the best image is kept)."""


@dataclass
class OptimizeResult:
    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    stop_reason: str = ""
    steps: int = 0
    converged_at: int | None = None
    """The iteration at which the convergence stop (``tol``) ended the run, or None."""


@dataclass
class ImageResult:
    """What an image pipeline returns (stylize, dream, texture): the image, the history of its steps,
    whether Ctrl-C or a callback stopped it early, and the input's alpha channel where it had one (to
    restore on PNG output)."""

    image: torch.Tensor
    """(1, 3, H, W) in [0, 1]."""
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    alpha: torch.Tensor | None = None


__all__ = [
    "TOL_WINDOW",
    "Callback",
    "Cancelled",
    "ImageResult",
    "LossFn",
    "OptimizeResult",
    "ProgressEvent",
    "converged",
    "lbfgs_history",
    "optimize",
    "tol_option",
]


class _NonFinite(Exception):
    pass


class _Converged(Exception):
    pass


@dataclass
class _Best:
    """The lowest loss seen and its image."""

    loss: float
    image: torch.Tensor


#: L-BFGS keeps ``history_size`` pairs of image-sized float32 vectors; cap their memory so a 2048 px
#: image does not spend 10 GB on them (100 pairs take 0.6 GB at 512 px, 9.6 GB at 2048 px). 256 MiB
#: is 56 pairs at 512×384, 14 at 1024×768 and 5 (the floor) at 2048×1536; keeps 1024 px under 2 GB.
LBFGS_HISTORY_BYTES = 256 * 2**20
LBFGS_MAX_HISTORY = 100
LBFGS_MIN_HISTORY = 5

#: Escalation hook: called with the reason the optimiser stopped early (``"nan"``/``"inf"`` in it for a
#: non-finite loss, else a stall); returns True if it changed the computation (e.g. switched the
#: network from bfloat16 to float32), so the remaining iterations are worth running.
Escalate = Callable[[str], bool]


def lbfgs_history(numel: int) -> int:
    """How many (step, gradient-change) pairs L-BFGS keeps for an image of ``numel`` values."""
    fit = LBFGS_HISTORY_BYTES // max(1, 2 * 4 * numel)
    return int(max(LBFGS_MIN_HISTORY, min(LBFGS_MAX_HISTORY, fit)))


def optimize(
    image: torch.Tensor,
    loss_fn: LossFn,
    *,
    iters: int,
    optimizer: Optimizer = "lbfgs",
    lr: float | None = None,
    callback: Callback | None = None,
    stage: str = "",
    clamp: bool = True,
    history_size: int | None = None,
    escalate: Escalate | None = None,
    report: Report | None = None,
    tol: float = 0.0,
) -> OptimizeResult:
    """Minimise ``loss_fn`` over a copy of ``image`` (never modified) for ``iters`` iterations.

    L-BFGS (strong Wolfe line search; one iteration may evaluate the loss more than once) or Adam.
    ``history_size`` (L-BFGS) defaults to what 256 MiB holds, 5 to 100 pairs (:func:`lbfgs_history`).
    If the loss turns non-finite or L-BFGS stops before ``iters`` and ``escalate(reason)`` returns
    True, the run restarts from the best image with a fresh optimiser for the remaining iterations.
    ``report`` (one stage of a pipeline's :class:`~impasto.progress.Clock`) replaces ``callback`` and
    ``stage`` when the run is part of a larger schedule. ``tol`` > 0 ends the run early once the best
    loss has improved by less than that fraction over the last :data:`TOL_WINDOW` iterations
    (:func:`converged`); ``converged_at`` of the result then says at which iteration.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    history: list[dict[str, float]] = []
    best = _Best(math.inf, image.detach().clone())
    bests: list[float] = []  # the best loss so far at each recorded iteration (the convergence stop)
    if report is None:
        report = Clock.single(iters, callback, stage).reporter(0) if callback is not None else None
    steps_done = 0
    x = image.detach().clone().requires_grad_(True)

    def evaluate() -> tuple[torch.Tensor, Mapping[str, torch.Tensor], float]:
        total, parts = loss_fn(x)
        value = float(total.detach())
        if not math.isfinite(value):
            raise _NonFinite(f"loss became {value}")
        if value < best.loss:
            best.loss = value
            best.image = x.detach().clamp(0, 1) if clamp else x.detach().clone()
        return total, parts, value

    def record(step: int, parts: Mapping[str, torch.Tensor], value: float) -> None:
        losses = {k: float(v.detach()) for k, v in parts.items()}
        losses["total"] = value
        history.append(losses)
        if report is not None:
            report(step, losses, x.detach().clamp(0, 1))
        bests.append(best.loss)
        if converged(bests, tol):
            raise _Converged

    def run_lbfgs(budget: int) -> None:
        nonlocal steps_done
        offset = steps_done
        opt = torch.optim.LBFGS(
            [x],
            lr=1.0 if lr is None else lr,
            max_iter=budget,
            max_eval=budget * 2 + 10,
            history_size=history_size or lbfgs_history(x.numel()),
            tolerance_grad=1e-12,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )
        state = opt.state[x]

        def closure() -> torch.Tensor:
            nonlocal steps_done
            opt.zero_grad(set_to_none=True)
            total, parts, value = evaluate()
            total.backward()
            n_iter = offset + state.get("n_iter", 0)
            if n_iter > steps_done:  # first evaluation of a new iteration
                steps_done = n_iter
                record(n_iter, parts, value)
            return total

        opt.step(closure)

    def run_adam(budget: int) -> None:
        nonlocal steps_done
        opt = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
        for _ in range(budget):
            opt.zero_grad(set_to_none=True)
            total, parts, value = evaluate()
            total.backward()
            opt.step()
            if clamp:
                with torch.no_grad():
                    x.clamp_(0, 1)
            steps_done += 1
            record(steps_done, parts, value)

    interrupted, reason, converged_at = False, "", None
    try:
        while steps_done < iters:
            phase_start = steps_done
            try:
                (run_lbfgs if optimizer == "lbfgs" else run_adam)(iters - steps_done)
                if steps_done >= iters:
                    break
                why = "stalled" if steps_done > phase_start else "no progress"
            except _NonFinite as exc:
                why = str(exc)
            if escalate is None or not escalate(why):
                reason = why if ("nan" in why or "inf" in why) else ""
                break
            # Escalated: continue from the best point with a fresh optimiser (its curvature history
            # came from the old computation).
            with torch.no_grad():
                x.copy_(best.image)
            best.loss = math.inf
            if steps_done == phase_start:
                steps_done += 1  # never loop without progress
        # The final point of L-BFGS / Adam has not been scored yet: score it so "best" is honest.
        if iters > 0:
            with torch.no_grad():
                evaluate()
    except KeyboardInterrupt:
        interrupted, reason = True, "interrupted"
    except Cancelled:
        interrupted, reason = True, "cancelled"
    except _Converged:
        # The point that triggered the stop was just evaluated (and kept if it was the best).
        converged_at, reason = steps_done, f"converged at {steps_done}"
        end = getattr(report, "end", None)  # a Clock's stage: its unrun steps leave the schedule
        if end is not None:
            end(steps_done, reason)
    except _NonFinite as exc:
        reason = str(exc)
    return OptimizeResult(best.image, history, interrupted, reason, steps_done, converged_at)
