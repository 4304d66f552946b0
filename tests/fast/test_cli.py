from __future__ import annotations

from PIL import Image

from .conftest import EXAMPLES


def test_fast_single_file_and_folder(tmp_path, tiny_model, run_cli):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (40 + 8 * i, 32), (30 * i, 120, 200)).save(src / f"p{i}.png")
    code, _, err = run_cli(
        "fast", src / "p0.png", "--model", tiny_model, "--style", "1", "-o", tmp_path / "one.png"
    )
    assert code == 0, err
    assert Image.open(tmp_path / "one.png").size == (40, 32)
    code, _, err = run_cli(
        "fast",
        src,
        "--model",
        tiny_model,
        "--style",
        "0:0.5,2:0.5",
        "-o",
        tmp_path / "out",
        "--format",
        ".png",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert Image.open(tmp_path / "out" / "p2.png").size == (56, 32)


def test_bad_inputs_one_line_exit_2(tmp_path, tiny_model, run_cli):
    photo = EXAMPLES / "tubingen.jpg"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    cases = [
        (("fast", photo, "--model", junk, "-o", tmp_path / "o.png"), "not a safetensors model file"),
        (("fast", photo, "--model", tiny_model, "--style", "7", "-o", tmp_path / "o.png"), "out of range"),
        (
            ("fast", photo, "--model", tiny_model, "--style", "0:half", "-o", tmp_path / "o.png"),
            "not a number",
        ),
        (("fast", photo, "--model", "no-such-model", "-o", tmp_path / "o.png"), "unknown model"),
        (("fast", photo, "--model", tiny_model, "--strength", "2", "-o", tmp_path / "o.png"), "strength"),
        (
            ("fast", tmp_path / "missing.jpg", "--model", tiny_model, "-o", tmp_path / "o.png"),
            "does not exist",
        ),
        (
            ("train", "--style", photo, "--data", tmp_path / "nothing", "-o", tmp_path / "m.safetensors"),
            "does not exist",
        ),
    ]
    for argv, message in cases:
        code, _, err = run_cli(*argv)
        assert code == 2, (argv, err)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and message in lines[0], (argv, err)
    assert not (tmp_path / "o.png").exists()


def test_styles_lists_the_shipped_model(run_cli):
    code, out, _ = run_cli("styles")
    assert code == 0
    assert "impasto-6 (default)" in out and "starry_night" in out and "the_scream" in out


def test_train_cli_warns_on_few_images_and_writes_a_usable_model(tmp_path, run_cli, vgg_weights):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        Image.new("RGB", (48, 40), (60 * i, 100, 180)).save(data / f"p{i}.png")
    model = tmp_path / "m.safetensors"
    argv = (
        "train",
        "--style",
        EXAMPLES / "the_scream.jpg",
        "--name",
        "scream",
        "--data",
        data,
        "-o",
        model,
        "--steps",
        "1",
        "--width",
        "4",
        "--blocks",
        "1",
        "--crop",
        "32",
        "--batch",
        "1",
        "--style-size",
        "32",
    )
    code, _, err = run_cli(*argv)
    assert code == 0, err
    assert "only 2 training images" in err and model.exists() and model.with_suffix(".ckpt").exists()
    code, _, err = run_cli(
        "fast", data / "p0.png", "--model", model, "--style", "scream", "-o", tmp_path / "o.png"
    )
    assert code == 0, err
    code, _, err = run_cli(*argv[:-2], "--style-size", "64")  # a different run: refused, one line
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("impasto: error:") and "different run" in last


def test_train_refuses_a_preview_that_would_overwrite_a_style_image(tmp_path, run_cli, monkeypatch):
    """Issue 13, finding 3: every output of a command (here train's previews) against every input."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "m-previews").mkdir()
    Image.new("RGB", (64, 64), (9, 99, 9)).save("data/a.png")
    Image.new("RGB", (64, 64), (99, 9, 9)).save("p.png")
    style = tmp_path / "m-previews" / "step000010.png"
    Image.new("RGB", (64, 64), (9, 9, 99)).save(style)
    before = style.read_bytes()
    code, _, err = run_cli(
        "train",
        "--style",
        "m-previews/step000010.png",
        "--data",
        "data",
        "-o",
        "m.safetensors",
        "--preview",
        "p.png",
        "--preview-every",
        "10",
        "--steps",
        "20",
    )
    assert code == 2 and "one of the inputs" in err and err.count("\n") == 1, err
    assert style.read_bytes() == before and not (tmp_path / "m.safetensors").exists()
