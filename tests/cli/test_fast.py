from __future__ import annotations

from PIL import Image

from .conftest import EXAMPLES
from .refusal import wrote_image


def test_fast_single_file_and_folder(tmp_path, tiny_model, run_cli):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (40 + 8 * i, 32), (30 * i, 120, 200)).save(src / f"p{i}.png")
    code, _, err = run_cli(
        "fast", src / "p0.png", "--model", tiny_model, "--style", "1", "-o", tmp_path / "one.png"
    )
    assert wrote_image(code, err, tmp_path / "one.png") == (40, 32)
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
