"""`impasto styles`: the shipped model listed."""

from __future__ import annotations


def test_styles_lists_the_shipped_model(run_cli):
    code, out, _ = run_cli("styles")
    assert code == 0
    assert "impasto-6 (default)" in out and "starry_night" in out and "the_scream" in out
