"""`impasto dream` and `impasto dream-zoom`: options from DreamConfig; bad input is one line and exit 2."""

from __future__ import annotations

import argparse
from dataclasses import fields

from PIL import Image

from impasto.dream import (
    DreamConfig,
)

from .refusal import assert_refused, refusals


def test_cli_defaults_come_from_the_config():
    from impasto.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("dream", "dream-zoom"):
        defaults = vars(sub.choices[command].parse_args(["in.jpg", "-o", "out.png"]))
        for f in fields(DreamConfig):
            if f.name in defaults:
                assert defaults[f.name] == f.default, (command, f.name)


def test_cli_dream_writes_the_image(run_cli, tmp_path, content_path):
    out = tmp_path / "dream.png"
    code, _, err = run_cli(
        "dream",
        content_path,
        "-o",
        out,
        "--size",
        "48",
        "--octaves",
        "1",
        "--steps",
        "2",
        "--layer",
        "relu2_1",
        "--channels",
        "1,2",
        "--preserve-color",
    )
    assert code == 0, err
    with Image.open(out) as im:
        assert max(im.size) == 48


@refusals(
    ("--layer relu4_9", "unknown VGG-19 layer 'relu4_9'"),
    ("--layer relu4_3 --channels 12,512", "channel 512 is out of range for layer 'relu4_3'"),
    ("--octave-scale 1", "octave-scale must be above 1"),
    ("--steps 0", "steps must be between 1"),
    ("--guide GUIDE", "is not a readable image"),
    ("--guide MISSING", "does not exist"),
    ("--size 16 --layer relu5_2", "layer 'relu5_2' needs at least 16 px"),
)
def test_cli_bad_input_one_line_exit_2(run_cli, tmp_path, content_path, args, message):
    bad_guide = tmp_path / "guide.jpg"
    bad_guide.write_text("not an image")
    args = [
        str(bad_guide) if a == "GUIDE" else str(tmp_path / "nope.jpg") if a == "MISSING" else a for a in args
    ]
    for command, out in (("dream", tmp_path / "out.png"), ("dream-zoom", tmp_path / "out.gif")):
        code, _stdout, err = run_cli(command, content_path, "-o", out, *args)
        assert_refused(code, err, message, out)


def test_cli_zoom_rejects_unknown_extension(run_cli, tmp_path, content_path):
    out = tmp_path / "out.avi"
    code, _, err = run_cli("dream-zoom", content_path, "-o", out)
    assert_refused(code, err, "unknown extension '.avi'", out)
