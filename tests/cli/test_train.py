"""`impasto train`: a usable model from a few photos, outputs that would overwrite inputs refused."""

from __future__ import annotations

from PIL import Image

from .conftest import EXAMPLES


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
