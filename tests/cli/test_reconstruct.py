"""`impasto reconstruct`: the grid and --each files, options from ReconstructConfig, Ctrl-C."""

from __future__ import annotations

from impasto.reconstruct import ReconstructConfig

from .refusal import assert_refused, refusals, wrote_image


def run_tiny(run_cli, kind: str, image, tmp_path, *, iters: int, layers: str):
    """`impasto reconstruct KIND` at 24 px on the CPU into tmp_path: (code, stderr, grid, --each folder)."""
    out, each = tmp_path / "grid.png", tmp_path / "cells"
    code, _, err = run_cli(
        "reconstruct",
        kind,
        image,
        "-o",
        out,
        "--size",
        "24",
        "--iters",
        str(iters),
        "--layers",
        layers,
        "--each",
        each,
        "--device",
        "cpu",
    )
    return code, err, out, each


def test_cli_writes_grid_and_each_image(run_cli, content_path, tmp_path, vgg_weights):
    code, err, out, each = run_tiny(
        run_cli, "style", content_path, tmp_path, iters=2, layers="relu1_1,relu2_1"
    )
    assert wrote_image(code, err, out)[1] > 24
    assert sorted(p.name for p in each.iterdir()) == ["style_1_relu1_1.png", "style_2_relu2_1.png"]


@refusals(
    ("content IMG --layers conv1_2,conv2_9", "unknown VGG-19 layer 'conv2_9'"),
    ("style IMG --size 8", "size must be between 16"),
    ("style IMG --size abc", "expected an integer"),
    ("style missing.jpg", "does not exist"),
)
def test_cli_bad_input_is_one_line_exit_2_and_no_output(run_cli, content_path, tmp_path, args, message):
    out = tmp_path / "grid.png"
    args = tuple(
        str(content_path) if a == "IMG" else str(tmp_path / a) if a.endswith(".jpg") else a for a in args
    )
    code, _, err = run_cli("reconstruct", *args, "-o", out)
    assert_refused(code, err, message, out)


def test_cli_defaults_come_from_the_config():
    from impasto.cli import build_parser

    args = build_parser().parse_args(["reconstruct", "style", "i.jpg", "-o", "o.png"])
    d = ReconstructConfig()
    for name in ("layers", "size", "iters", "pool", "optimizer", "lr", "seed", "device"):
        assert getattr(args, name) == getattr(d, name), name


def test_cli_ctrl_c_writes_the_finished_cells_and_exits_130(
    run_cli, content_path, tmp_path, monkeypatch, vgg_weights
):
    import impasto.cli.reconstruct as cli

    class CtrlCInSecondCell:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, event):
            if event.stage.startswith("cell 2/"):
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(cli, "ProgressBar", CtrlCInSecondCell)
    code, err, out, each = run_tiny(
        run_cli, "content", content_path, tmp_path, iters=3, layers="conv1_2,conv2_2,conv3_2"
    )
    assert code == 130
    assert "interrupted; wrote 2/3 cells" in err
    assert out.exists()
    assert sorted(p.name for p in each.iterdir()) == ["content_1_conv1_2.png", "content_2_conv2_2.png"]
