"""The one progress clock: step, total and ETA over the whole schedule (multi-scale, tiles, octaves),
previews from tiled runs, events as plain data."""

from __future__ import annotations

import json

import pytest
import torch

from impasto.dream import dream
from impasto.progress import Clock, ProgressEvent, Stage
from impasto.stylize import stylize


def test_eta_weights_stages_by_cost(monkeypatch):
    """After the cheap first stage, the ETA counts the expensive second one at its own cost."""
    now = [0.0]
    monkeypatch.setattr("impasto.progress.time.perf_counter", lambda: now[0])
    events: list[ProgressEvent] = []
    clock = Clock([Stage("small", 2, cost=1.0), Stage("large", 2, cost=4.0)], events.append)
    for stage, step in ((0, 1), (0, 2), (1, 1), (1, 2)):
        now[0] += 1.0 if stage == 0 else 4.0  # a step takes time in proportion to its cost
        clock.report(stage, step, {"total": 1.0})
    assert [e.step for e in events] == [1, 2, 3, 4] and {e.total for e in events} == {4}
    assert [e.eta for e in events] == [pytest.approx(v) for v in (9.0, 8.0, 4.0, 0.0)]
    assert [e.stage for e in events] == ["small", "small", "large", "large"]


def test_resumed_clock_counts_earlier_steps_but_not_their_rate(monkeypatch):
    now = [10.0]
    monkeypatch.setattr("impasto.progress.time.perf_counter", lambda: now[0])
    events: list[ProgressEvent] = []
    clock = Clock.single(10, events.append, done=6, elapsed_before=100.0)
    now[0] += 2.0
    clock.report(0, 7, {})
    assert events[-1].step == 7 and events[-1].elapsed == pytest.approx(102.0)
    assert events[-1].eta == pytest.approx(6.0)  # 2 s for the one step of this session, 3 to go


def test_relay_scales_another_runs_steps_into_its_stage():
    events: list[ProgressEvent] = []
    clock = Clock([Stage("", 10)] * 2, events.append)
    clock.relay(1)(ProgressEvent(3, 6, {}, 0.0, None))
    assert (events[-1].step, events[-1].total) == (15, 20)


def test_unknown_total_has_no_eta_and_grows():
    events: list[ProgressEvent] = []
    clock = Clock.single(0, events.append)
    clock.report(0, 3, {})
    assert (events[-1].step, events[-1].total, events[-1].eta) == (3, 3, None)


def test_event_to_dict_is_json():
    event = ProgressEvent(
        2, 5, {"total": torch.tensor(1.5).item()}, 1.25, None, torch.zeros(1, 3, 2, 2), "scale 1/2"
    )
    d = event.to_dict()
    assert json.loads(json.dumps(d)) == {
        "step": 2,
        "total": 5,
        "losses": {"total": 1.5},
        "elapsed": 1.25,
        "eta": None,
        "stage": "scale 1/2",
        "note": "",
    }


def test_two_scale_run_reports_over_the_whole_schedule(tiny_content, tiny_style, vgg_weights):
    events: list[ProgressEvent] = []
    stylize(
        tiny_content,
        tiny_style,
        size=40,
        iters=3,
        scales=2,
        faces="off",
        device="cpu",
        callback=events.append,
    )
    assert {e.total for e in events} == {6}
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] == 6 and steps[0] == 1
    first_scale = [e for e in events if e.stage.startswith("scale 1/2")]
    assert first_scale and all(e.eta is not None and e.eta > 0 for e in first_scale)
    assert max(e.step for e in first_scale) <= 3 < steps[-1]


def test_tiled_run_sends_the_whole_canvas_as_preview(tiny_content, tiny_style, vgg_weights):
    events: list[ProgressEvent] = []
    result = stylize(
        tiny_content, tiny_style, size=80, iters=2, tile=64, faces="off", device="cpu", callback=events.append
    )
    tiles = {e.stage for e in events}
    assert len(tiles) > 1 and all("tile" in t for t in tiles)
    previews = [e.image for e in events if e.image is not None]
    assert previews and all(p.shape == result.image.shape for p in previews)
    assert {e.total for e in events} == {2 * len(tiles)}
    steps = [e.step for e in events]
    assert steps == sorted(steps)


def test_dream_octaves_share_one_schedule(tiny_content, vgg_weights):
    events: list[ProgressEvent] = []
    dream(
        tiny_content, layers=("relu2_1",), octaves=2, steps=2, size=64, device="cpu", callback=events.append
    )
    assert [e.step for e in events] == [1, 2, 3, 4] and {e.total for e in events} == {4}
    assert events[0].stage.startswith("octave 1/2") and events[-1].stage.startswith("octave 2/2")
    assert events[-1].eta == 0.0
