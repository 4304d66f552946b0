"""One progress clock for every long job: the whole schedule is known up front, so step, total,
elapsed time and ETA are over the WHOLE run — every scale of a multi-scale run, every tile, octave,
cell, frame or training step — not restarted at each stage.

A schedule is a list of :class:`Stage` s, each some steps of a relative cost per step (pixels for an
image optimisation: a step at 724 px costs about twice one at 512 px). The ETA is the elapsed time per
unit of work done so far times the work left. Pipelines report each finished step with
:meth:`Clock.report` (or hand :meth:`Clock.relay` to a function that emits its own per-stage events);
the clock turns it into one :class:`ProgressEvent` for the caller's callback. The library never prints:
the CLI's progress bar and the service's worker are such callbacks.

>>> events = []
>>> clock = Clock([Stage("scale 1/2", 2, cost=1.0), Stage("scale 2/2", 2, cost=3.0)], events.append)
>>> clock.total
4
>>> for stage in range(2):
...     for step in (1, 2):
...         clock.report(stage, step, {"total": 1.0})
>>> [(e.step, e.total, e.stage) for e in events]
[(1, 4, 'scale 1/2'), (2, 4, 'scale 1/2'), (3, 4, 'scale 2/2'), (4, 4, 'scale 2/2')]
>>> events[-1].eta
0.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long-running pipeline, as a callback sees it (step and total over the whole run)."""

    step: int
    total: int
    losses: Mapping[str, float]
    elapsed: float
    eta: float | None
    image: torch.Tensor | None = None  # current image, (1, 3, H, W) in [0, 1]; do not modify
    stage: str = ""  # e.g. "scale 2/3 (362 px)"; empty for single-stage runs
    note: str = ""  # e.g. "converged at 212" on the event that ends a stage early

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values (the image left out: it is a picture, not a number)."""
        return {
            "step": int(self.step),
            "total": int(self.total),
            "losses": {k: float(v) for k, v in self.losses.items()},
            "elapsed": float(self.elapsed),
            "eta": None if self.eta is None else float(self.eta),
            "stage": str(self.stage),
            "note": str(self.note),
        }


Callback = Callable[[ProgressEvent], None]
#: What a pipeline calls once per finished step of one stage: ``(step within the stage, losses, image)``.
#: :meth:`Clock.reporter` gives one (a :class:`StageReport`, which can also end its stage early).
Report = Callable[[int, Mapping[str, float], "torch.Tensor | None"], None]


@dataclass(frozen=True)
class Stage:
    """Part of a schedule: ``steps`` steps of relative cost ``cost`` each, shown as ``label``."""

    label: str
    steps: int
    cost: float = 1.0


@dataclass
class Clock:
    """Progress over a whole schedule of :class:`Stage` s, reported to ``callback``.

    ``done`` steps (and ``elapsed_before`` seconds) were run before this session, e.g. by a training
    run being resumed: they count in ``step`` and ``elapsed`` but not in the rate the ETA uses.
    A stage whose optimiser stops early (a stalled L-BFGS) simply leaves the rest of its steps
    unreported: the next stage starts at its own offset, so ``step`` never goes back. A stage that
    ends early on purpose (the convergence stop) says so with :meth:`end_stage`: its unrun steps leave
    the schedule, so total and ETA are those of what is left to do.
    """

    stages: Sequence[Stage]
    callback: Callback | None
    done: int = 0
    elapsed_before: float = 0.0
    start: float = field(default_factory=lambda: time.perf_counter())

    def __post_init__(self) -> None:
        self.stages = list(self.stages)
        self._last: tuple[Mapping[str, float], torch.Tensor | None] = ({}, None)
        self._layout()
        self.step = self.done
        self._work_done_at_start = self._work_at(self.done)

    def _layout(self) -> None:
        self._offsets: list[int] = []
        self._work_before: list[float] = []
        steps, work = 0, 0.0
        for s in self.stages:
            self._offsets.append(steps)
            self._work_before.append(work)
            steps += s.steps
            work += s.steps * s.cost
        self.total = steps
        self.total_work = work

    @classmethod
    def single(cls, steps: int, callback: Callback | None, label: str = "", **kw: Any) -> Clock:
        """A one-stage schedule."""
        return cls([Stage(label, steps)], callback, **kw)

    def _work_at(self, global_step: int) -> float:
        work, left = 0.0, global_step
        for s in self.stages:
            n = min(left, s.steps)
            work += n * s.cost
            left -= n
            if left <= 0:
                break
        return work

    def report(
        self,
        stage: int,
        step: int,
        losses: Mapping[str, float],
        image: torch.Tensor | None = None,
        *,
        label: str | None = None,
        note: str = "",
    ) -> None:
        """Step ``step`` (1-based, within stage ``stage``) is done; tell the callback."""
        s = self.stages[stage]
        self._last = (losses, image)
        last = stage == len(self.stages) - 1  # only the last stage may run over (a frame count guessed low)
        self.step = max(self.step, self._offsets[stage] + (step if last else min(step, s.steps)))
        if self.callback is None:
            return
        elapsed = time.perf_counter() - self.start
        work = self._work_before[stage] + min(step, s.steps) * s.cost
        rate_work = work - self._work_done_at_start
        total = max(self.total, self.step)
        if self.total_work > 0 and rate_work > 0:
            eta: float | None = max(0.0, elapsed / rate_work * (self.total_work - work))
        else:
            eta = None
        event = ProgressEvent(
            self.step,
            total,
            losses,
            self.elapsed_before + elapsed,
            eta,
            image,
            s.label if label is None else label,
            note,
        )
        self.callback(event)

    def end_stage(self, stage: int, steps: int, note: str) -> None:
        """Stage ``stage`` ended after ``steps`` of its steps (e.g. converged): the rest leave the
        schedule, and the callback gets the stage's last step again, with ``note`` saying why.

        >>> events = []
        >>> clock = Clock([Stage("a", 10), Stage("b", 10)], events.append)
        >>> clock.report(0, 4, {"total": 2.0})
        >>> clock.end_stage(0, 4, "converged at 4")
        >>> (clock.total, events[-1].step, events[-1].total, events[-1].note)
        (14, 4, 14, 'converged at 4')
        """
        stages = list(self.stages)
        s = stages[stage]
        stages[stage] = Stage(s.label, min(s.steps, max(0, steps)), s.cost)
        self.stages = stages
        self._layout()
        losses, image = self._last
        self.report(stage, self.stages[stage].steps, losses, image, note=note)

    def reporter(self, stage: int) -> StageReport:
        """``report`` bound to one stage: what :func:`impasto.optimize.optimize` takes as ``report``."""
        return StageReport(self, stage)

    def relay(self, stage: int) -> Callback:
        """A callback taking another pipeline's events as progress through ``stage`` (e.g. each photo
        of a folder as one stage of the folder's run): its step/total scaled to the stage's steps."""
        steps = self.stages[stage].steps

        def relay(event: ProgressEvent) -> None:
            step = round(event.step * steps / event.total) if event.total else event.step
            self.report(stage, step, event.losses, event.image)

        return relay


@dataclass(frozen=True)
class StageReport:
    """One stage of a :class:`Clock`: called per finished step; :meth:`end` ends the stage early."""

    clock: Clock
    stage: int

    def __call__(self, step: int, losses: Mapping[str, float], image: torch.Tensor | None = None) -> None:
        self.clock.report(self.stage, step, losses, image)

    def end(self, steps: int, note: str) -> None:
        self.clock.end_stage(self.stage, steps, note)


__all__ = ["Callback", "Clock", "ProgressEvent", "Report", "Stage", "StageReport"]
