"""`impasto faces`: the boxes printed and the overlay written."""

from __future__ import annotations

from conftest import EXAMPLES
from impasto.images import load_image


def test_cli_faces_prints_boxes_and_writes_the_overlay(run_cli, tmp_path):
    out = tmp_path / "overlay.png"
    code, stdout, err = run_cli("faces", EXAMPLES / "frida_kahlo.jpg", "-o", out)
    assert code == 0, err
    (line,) = stdout.strip().splitlines()
    _x, _y, w, h, score = line.split()
    assert int(w) > 50 and int(h) > 50 and 0.5 < float(score) <= 1
    assert out.exists() and load_image(out).size == load_image(EXAMPLES / "frida_kahlo.jpg").size
    code, stdout, err = run_cli("faces", EXAMPLES / "tubingen.jpg")
    assert code == 0 and stdout == ""
