"""The command line in-process (and once as a real process for Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from impasto.cli.stylize import intermediate_path
from impasto.reconstruct import CONTENT_LAYERS


def test_stylize_writes_requested_size_and_format(tmp_path, run_cli, content_path, style_path):
    out = tmp_path / "out.jpg"
    code, _, err = run_cli(
        "stylize", content_path, style_path, "-o", out, "--size", "48", "--iters", "6", "--save-every", "3"
    )
    assert code == 0, err
    with Image.open(out) as im:
        assert im.format == "JPEG" and max(im.size) == 48 and im.size == (48, 36)
    assert intermediate_path(out, 3).exists()
    assert f"wrote {out}" in err
    # stderr is not a terminal here: progress comes as plain lines (first and last step), not a bar
    progress = [ln for ln in err.splitlines() if ln.startswith("stylize: ")]
    assert progress[0].startswith("stylize: 1/6 (17%) elapsed ") and "ETA " in progress[0], err
    assert progress[-1].startswith("stylize: 6/6 (100%)") and "total=" in progress[-1], err
    assert "\r" not in err


def _assert_one_line_error(code, err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("impasto: error:"), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "notimage.jpg").write_text("not an image")
    (tmp_path / "adir").mkdir()
    Image.new("RGB", (300, 300), (10, 20, 30)).save(tmp_path / "big.png")
    good = tmp_path / "good.jpg"
    Image.effect_noise((200, 200), 50).convert("RGB").save(good)
    (tmp_path / "trunc.jpg").write_bytes(good.read_bytes()[:2000])
    return tmp_path


@pytest.mark.parametrize(
    "case,needles",
    [
        ("missing", ["content image", "does not exist"]),
        ("directory", ["is a directory"]),
        ("notimage", ["not a readable image"]),
        ("truncated", ["truncated or corrupt"]),
        ("pixels", ["above the limit"]),
        ("extension", ["unknown extension"]),
        ("outdir", ["does not exist"]),
        ("same", ["one of the inputs"]),
        ("size", ["--size"]),
        ("layer", ["did you mean 'relu4_2'"]),
        ("weight", ["style-weight must be positive"]),
        ("weights_file", ["weights file"]),
    ],
)
def test_bad_input_one_line_exit_2(case, needles, bad_files, run_cli, style_path, monkeypatch):
    t = bad_files
    out = t / "o.png"
    args = {
        "missing": [t / "nope.jpg", style_path, "-o", out],
        "directory": [t / "adir", style_path, "-o", out],
        "notimage": [t / "notimage.jpg", style_path, "-o", out],
        "truncated": [t / "trunc.jpg", style_path, "-o", out],
        "pixels": [t / "big.png", style_path, "-o", out],
        "extension": [t / "good.jpg", style_path, "-o", t / "o.gif"],
        "outdir": [t / "good.jpg", style_path, "-o", t / "nodir" / "o.png"],
        "same": [t / "good.jpg", style_path, "-o", t / "good.jpg"],
        "size": [t / "good.jpg", style_path, "-o", out, "--size", "0"],
        "layer": [t / "good.jpg", style_path, "-o", out, "--content-layers", "relu42"],
        "weight": [t / "good.jpg", style_path, "-o", out, "--style-weight", "-1"],
        "weights_file": [t / "good.jpg", style_path, "-o", out, "--weights", t / "notimage.jpg"],
    }[case]
    if case == "pixels":
        monkeypatch.setenv("IMPASTO_MAX_PIXELS", "10000")
    before = (t / "good.jpg").read_bytes()
    code, _, err = (
        run_cli("stylize", *args, "--size", "32", "--iters", "2")
        if case != "size"
        else run_cli("stylize", *args)
    )
    _assert_one_line_error(code, err, *needles)
    assert not out.exists() and not (t / "o.gif").exists()
    assert (t / "good.jpg").read_bytes() == before
    assert not [p for p in t.iterdir() if p.name.endswith(".part")]


def test_usage_errors_are_one_line(run_cli):
    code, _, err = run_cli("stylize", "a.jpg")
    _assert_one_line_error(code, err, "required")
    code, _, err = run_cli("stylize", "a.jpg", "b.jpg", "-o", "x.png", "--iters", "many")
    _assert_one_line_error(code, err, "--iters")


def test_ctrl_c_writes_best_image_and_exits_cleanly(tmp_path, content_path, style_path):
    out = tmp_path / "interrupted.png"
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_MININTERVAL="0")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impasto",
            "stylize",
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--size",
            "48",
            "--iters",
            "5000",
            "--save-every",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    first_step = intermediate_path(out, 1)
    deadline = time.time() + 120
    while not first_step.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert first_step.exists(), proc.stderr.read() if proc.poll() is not None else "no progress"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "best image so far" in err
    with Image.open(out) as im:
        assert im.size == (48, 36)


# -- issue 13, finding 3: no output ever overwrites an input, checked before any work ---------------
def test_outputs_that_are_inputs_are_refused_before_any_work(tmp_path, run_cli, monkeypatch):
    for name, colour in (
        ("c.png", (90, 60, 30)),
        ("s.png", (10, 80, 200)),
        ("init.png", (5, 5, 5)),
        ("o.0002.png", (1, 2, 3)),
    ):
        Image.new("RGB", (40, 40), colour).save(tmp_path / name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.chdir(tmp_path)
    cases = [
        (("stylize", "c.png", "s.png", "--init", "init.png", "-o", "init.png", "--iters", "2"), "init.png"),
        (
            ("stylize", "o.0002.png", "s.png", "-o", "o.png", "--save-every", "2", "--iters", "4"),
            "o.0002.png",
        ),
        (("texture", "s.png", "-o", "t.png", "--tiled-preview", "./t.png", "--iters", "2"), "written twice"),
        (("texture", "s.png", "--init", "init.png", "-o", "sub/../init.png", "--iters", "2"), "init.png"),
        (
            (
                "reconstruct",
                "content",
                "c.png",
                "-o",
                f"content_1_{CONTENT_LAYERS[0]}.png",
                "--each",
                ".",
                "--iters",
                "2",
            ),
            "written twice",
        ),
    ]  # (the iteration counts only keep a run short where the check is missing)
    (tmp_path / "sub").mkdir()
    for argv, needle in cases:
        code, _, err = run_cli(*argv, "--size", "32")
        _assert_one_line_error(code, err, needle)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


# -- issue 13, finding 4: tiny and odd images are one line, exit 2, before any work -------------------
@pytest.mark.parametrize("w, h", [(1, 7), (3, 7), (1, 300)])
def test_tiny_images_are_refused_with_one_line_by_every_pipeline(tmp_path, run_cli, w, h):
    tiny = tmp_path / f"tiny{w}x{h}.png"
    Image.new("RGB", (w, h), (120, 80, 40)).save(tiny)
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), (20, 40, 60)).save(good)
    for argv in (
        ("stylize", tiny, good, "--size", "32"),
        ("stylize", good, tiny, "--size", "32"),
        ("texture", tiny, "--style-size", "32"),
        ("reconstruct", "style", tiny, "--size", "32"),
        ("sweep", tiny, good, "--size", "32"),
        ("dream", tiny, "--size", "16"),
        ("fast", tiny),
        ("fast", tiny, "--size", "32"),
    ):
        if argv == ("fast", tiny, "--size", "32") and (w, h) == (3, 7):
            continue  # 14x32 at --size 32: large enough for the fast network
        code, _, err = run_cli(*argv, "-o", tmp_path / "out.png")
        _assert_one_line_error(code, err, "needs at least")
    assert not (tmp_path / "out.png").exists()


def test_stylize_looks_the_weights_up_once(tmp_path, run_cli, content_path, style_path, monkeypatch):
    """The CLI loads the VGG-19 weights (fetching them before the progress bar) and hands them to the
    pipeline, which builds its network from them instead of looking them up again."""
    import impasto.vgg

    def refuse(*args, **kwargs):
        raise AssertionError("the pipeline looked the weights up again")

    monkeypatch.setattr(impasto.vgg, "load_cached", refuse)
    out = tmp_path / "out.png"
    code, _, err = run_cli(
        "stylize", content_path, style_path, "-o", out, "--size", "32", "--iters", "2", "--faces", "off"
    )
    assert code == 0, err
    assert out.exists()
