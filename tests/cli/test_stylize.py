"""`impasto stylize`: options from StylizeConfig, blends and layer weights, masks, faces, folders; bad input is one line and exit 2."""

from __future__ import annotations

from dataclasses import fields

import pytest

from impasto.cli import build_parser
from impasto.cli.stylize import config_from_cli, parse_style_spec
from impasto.errors import ConfigError
from impasto.images import load_image
from impasto.stylize import StylizeConfig

from .refusal import assert_refused, refusals, wrote_image

SCREAM = "the_scream.jpg"
PORTRAIT = "brad_pitt.jpg"


@pytest.fixture(scope="module")
def paths(content_path, style_path):
    return content_path, style_path, content_path.parent / SCREAM


def test_cli_defaults_equal_the_config_defaults():
    args = build_parser().parse_args(["stylize", "c.jpg", "s.jpg", "-o", "o.png"])
    assert config_from_cli(args) == StylizeConfig()
    for f in fields(StylizeConfig):
        if f.name not in ("content_layers", "style_layers"):
            assert getattr(args, f.name, f.default) == f.default, f.name


def test_cli_parses_blends_and_layer_weights():
    args = build_parser().parse_args(
        [
            "stylize",
            "c.jpg",
            "--style",
            "a.jpg:0.7",
            "--style",
            "b.jpg:0.3",
            "-o",
            "o.png",
            "--style-layers",
            "relu1_1:0.2,relu2_1",
            "--content-layers",
            "relu4_2:2",
        ]
    )
    cfg = config_from_cli(args)
    assert cfg.style_blend_weights == (0.7, 0.3)
    assert cfg.style_layers == ("relu1_1", "relu2_1") and cfg.style_layer_weights == (0.2, 1.0)
    assert cfg.content_layer_weights == (2.0,)


def test_style_specs_with_colons_in_paths(tmp_path):
    odd = tmp_path / "a:b.jpg"
    odd.write_bytes(b"")
    assert parse_style_spec(str(odd)) == (str(odd), None)
    assert parse_style_spec(f"{odd}:0.5") == (str(odd), 0.5)
    assert parse_style_spec("C:/art/x.jpg") == ("C:/art/x.jpg", None)
    with pytest.raises(ConfigError, match="not a number"):
        parse_style_spec(f"{odd}:heavy")


def test_cli_two_styles_with_masks_writes_the_output(run_cli, tmp_path, paths, vgg_weights):
    from PIL import Image

    content, starry, scream = paths
    left, right = tmp_path / "left.png", tmp_path / "right.png"
    Image.new("L", (10, 10), 255).save(left)
    Image.new("L", (10, 10), 0).save(right)  # another size: resized
    out = tmp_path / "out.png"
    code, _, err = run_cli(
        "stylize",
        content,
        "-o",
        out,
        "--style",
        f"{starry}:0.5",
        "--style",
        scream,
        "--mask",
        left,
        "--mask",
        right,
        "--size",
        "32",
        "--iters",
        "2",
    )
    assert wrote_image(code, err, out) == (32, 24)


@refusals(
    ("--style-layers relu1_1,relu9_9", "unknown VGG-19 layer 'relu9_9'"),
    ("--content-weight 0", "content-weight must be positive"),
    ("--style-weight -3", "style-weight must be positive"),
    ("--style-layers relu1_1:-1", "must be positive"),
    ("--style STYLE:abc", "blend weight 'abc'"),
    ("--style STYLE:-0.5", "must be zero or positive"),
    ("--style STYLE:0", "must not all be zero"),
    ("--mask NOTIMAGE", "not a readable image"),
    ("--mask MASK --mask MASK", "2 masks given for 1 style"),
    ("--size 9000", "size must be between"),
    ("--start-size 600", "start-size must be between"),
    ("--scale-factor 0.5", "scale-factor must be between"),
    ("--face-style 1.5", "face-style must be between 0 and 1"),
    ("--face-style -0.1", "face-style must be between 0 and 1"),
    ("--face-mask NOTIMAGE", "face mask"),
)
def test_bad_input_is_one_line_exit_2_and_no_output(run_cli, tmp_path, paths, args, message):
    from PIL import Image

    content, starry, _ = paths
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    mask = tmp_path / "mask.png"
    Image.new("L", (8, 8), 255).save(mask)
    subst = {"NOTIMAGE": str(bad), "MASK": str(mask)}
    extra = [subst.get(a, a).replace("STYLE", str(starry)) for a in args]
    positional = [] if any(a.startswith(str(starry)) for a in extra) else [starry]
    out = tmp_path / "out.png"
    code, _, err = run_cli("stylize", content, *positional, "-o", out, "--size", "32", "--iters", "1", *extra)
    assert_refused(code, err, message, out)


def test_folder_paints_every_photo_with_one_style_computation(
    run_cli, tmp_path, paths, monkeypatch, vgg_weights
):
    import importlib

    mod = importlib.import_module("impasto.stylize")  # the module, not the function impasto exports

    content, starry, _ = paths
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("tubingen.jpg", PORTRAIT, "golden_gate.jpg"):
        (folder / name).write_bytes((content.parent / name).read_bytes())
    (folder / "broken.jpg").write_text("not a photo")
    calls = []
    real = mod.style_targets
    monkeypatch.setattr(mod, "style_targets", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = tmp_path / "painted"
    code, _, err = run_cli("stylize", folder, starry, "-o", out, "--size", "32", "--iters", "2")
    assert len(calls) == 1
    assert sorted(p.name for p in out.iterdir()) == ["brad_pitt.png", "golden_gate.png", "tubingen.png"]
    assert "skipped" in err and "broken.jpg" in err and code == 2  # the unreadable photo, reported
    assert load_image(out / "tubingen.png").size == load_image(content, 32).size


def test_folder_without_images_is_one_line_and_writes_nothing(run_cli, tmp_path, paths):
    _, starry, _ = paths
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    out = tmp_path / "painted"
    code, _, err = run_cli("stylize", tmp_path / "empty", starry, "-o", out, "--size", "32")
    assert_refused(code, err, "holds no images", out)


def test_folder_ctrl_c_keeps_the_photos_finished(run_cli, tmp_path, paths, monkeypatch, vgg_weights):
    import importlib

    cli = importlib.import_module("impasto.cli.stylize")
    content, starry, _ = paths
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("golden_gate.jpg", "tubingen.jpg"):
        (folder / name).write_bytes((content.parent / name).read_bytes())
    real = cli.stylize

    def second_photo_interrupted(src, *a, **k):
        if "tubingen" in str(src):
            raise KeyboardInterrupt
        return real(src, *a, **k)

    monkeypatch.setattr(cli, "stylize", second_photo_interrupted)
    out = tmp_path / "painted"
    code, _, err = run_cli("stylize", folder, starry, "-o", out, "--size", "32", "--iters", "2")
    assert code == 130 and "interrupted" in err and "wrote 1 of 2" in err
    assert [p.name for p in out.iterdir()] == ["golden_gate.png"]


def test_converged_run_says_where_in_the_closing_line(run_cli, tmp_path, paths, vgg_weights):
    content, starry, _ = paths
    out = tmp_path / "out.png"
    code, _, err = run_cli(
        "stylize", content, starry, "-o", out, "--size", "40", "--iters", "300", "--tol", "0.02"
    )
    lines = err.strip().splitlines()
    assert code == 0 and out.exists()
    assert lines[-1].startswith(f"wrote {out} (converged at ") and lines[-1].endswith(")")
    steps = int(lines[-1].rsplit(" ", 1)[1].rstrip(")"))
    assert 20 < steps < 300
    # the plain progress line (stderr is not a terminal here) says it too, at N of N
    assert any(f"{steps}/{steps} (100%)" in ln and f"(converged at {steps})" in ln for ln in lines)


@pytest.mark.parametrize("tol", ["-0.1", "2", "x"])
def test_bad_tol_is_one_line(run_cli, tmp_path, paths, tol):
    content, starry, _ = paths
    out = tmp_path / "out.png"
    code, _, err = run_cli("stylize", content, starry, "-o", out, "--tol", tol)
    assert_refused(code, err, "tol", out)
