"""The shared optimisation loop: progress events, best-so-far on interruption, determinism."""

from __future__ import annotations

import pytest
import torch

from impasto.optimize import Cancelled, ProgressEvent, optimize
from impasto.stylize import stylize


def _quadratic(target):
    def loss_fn(x):
        d = ((x - target) ** 2).mean()
        return d, {"dist": d}

    return loss_fn


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_minimises_and_reports_every_step(optimizer):
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    start = torch.zeros(1, 3, 8, 8)
    events: list[ProgressEvent] = []
    res = optimize(
        start,
        _quadratic(target),
        iters=15,
        optimizer=optimizer,
        lr=0.1 if optimizer == "adam" else None,
        callback=events.append,
    )
    assert float(start.abs().sum()) == 0  # the caller's tensor is not modified
    assert float(((res.image - target) ** 2).mean()) < 0.5 * float(((start - target) ** 2).mean())
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] <= 15 and len(steps) >= 2
    assert all(e.total == 15 and "dist" in e.losses and "total" in e.losses for e in events)
    assert events[-1].eta is not None and events[-1].image.shape == start.shape
    assert len(res.history) == len(events)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Cancelled])
def test_interruption_returns_best_so_far(stop):
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    seen = []

    def callback(event):
        seen.append(event.losses["total"])
        if event.step == 4:
            raise stop()

    res = optimize(
        torch.zeros(1, 3, 8, 8), _quadratic(target), iters=100, optimizer="adam", lr=0.05, callback=callback
    )
    assert res.interrupted and res.steps == 4
    best = float(((res.image - target) ** 2).mean())
    assert best <= min(seen) + 1e-7 and best < float((target**2).mean())


def test_non_finite_loss_stops_with_best_image():
    calls = {"n": 0}

    def loss_fn(x):
        calls["n"] += 1
        v = (x**2).mean() * (float("nan") if calls["n"] > 3 else 1.0)
        return v, {}

    res = optimize(torch.ones(1, 3, 4, 4), loss_fn, iters=10, optimizer="adam", lr=0.1)
    assert "nan" in res.stop_reason and torch.isfinite(res.image).all()


def test_style_loss_falls_by_a_large_fraction(tiny_content, tiny_style):
    res = stylize(tiny_content, tiny_style, size=48, iters=30)
    style = [h["style"] for h in res.history]
    assert style[-1] < 0.1 * style[0]
    assert res.image.shape == (1, 3, 36, 48)


def test_seeded_runs_identical_and_seeds_differ(tiny_content, tiny_style):
    a = stylize(tiny_content, tiny_style, size=48, iters=8, init="noise", seed=7).image
    b = stylize(tiny_content, tiny_style, size=48, iters=8, init="noise", seed=7).image
    c = stylize(tiny_content, tiny_style, size=48, iters=8, init="noise", seed=8).image
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def _plateau(target):
    """A loss that falls fast, then (once x is near the target) almost stops falling: 1e-4 of its
    value over 20 Adam steps."""

    def loss_fn(x):
        d = ((x - target) ** 2).mean()
        total = d + 1.0
        return total, {"dist": d}

    return loss_fn


def test_convergence_stop_ends_a_flat_run_and_says_where():
    # Adam creeps towards the plateau (L-BFGS would solve this quadratic in two steps and stall;
    # its convergence stop is tested on the style loss in tests/test_stylize.py)
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    events: list[ProgressEvent] = []
    kw = dict(iters=400, optimizer="adam", lr=0.05)
    res = optimize(torch.zeros(1, 3, 8, 8), _plateau(target), callback=events.append, tol=1e-3, **kw)
    assert res.converged_at is not None and res.converged_at < 400
    assert res.stop_reason == f"converged at {res.converged_at}" and not res.interrupted
    assert res.steps == res.converged_at == len(res.history)
    # the schedule shrank to what ran: the last event is step N of N and says why
    assert events[-1].step == events[-1].total == res.converged_at
    assert events[-1].note == f"converged at {res.converged_at}"
    # the rule: < 0.1 % better than 20 iterations before, and not before that
    totals = [h["total"] for h in res.history]
    assert min(totals[-21:]) > min(totals[:-20]) * (1 - 1e-3)
    # the best image is kept: its loss is the lowest seen
    assert float(_plateau(target)(res.image)[0]) <= min(totals) + 1e-6
    # tol=0 (the off switch) runs every iteration
    full = optimize(torch.zeros(1, 3, 8, 8), _plateau(target), tol=0.0, **kw)
    assert full.converged_at is None and len(full.history) == 400


def test_convergence_stop_never_fires_while_the_loss_still_falls():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    res = optimize(
        torch.zeros(1, 3, 8, 8), _quadratic(target), iters=60, optimizer="adam", lr=0.005, tol=1e-3
    )
    assert res.converged_at is None and res.steps == 60
