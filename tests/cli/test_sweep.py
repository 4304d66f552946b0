"""`impasto sweep`: the contact sheet, options from SweepConfig; bad input is one line and exit 2."""

from __future__ import annotations

from impasto.sweep import SweepConfig

from .refusal import assert_refused, refusals, wrote_image


def test_cli_writes_a_sheet(run_cli, content_path, style_path, tmp_path, vgg_weights):
    out = tmp_path / "sheet.png"
    code, _, err = run_cli(
        "sweep",
        content_path,
        style_path,
        "-o",
        out,
        "--size",
        "24",
        "--iters",
        "2",
        "--rows",
        "relu1_1",
        "--ratios",
        "1e-4,1e-2",
        "--init",
        "content",
        "--device",
        "cpu",
    )
    assert wrote_image(code, err, out)[0] > 2 * 24


@refusals(
    ("--ratios 1e-4,-1", "ratios must be positive"),
    ("--ratios 1e-4,much", "expected comma-separated numbers"),
    ("--rows relu1_1,relu9_1", "unknown VGG-19 layer 'relu9_1'"),
    ("--size 0", "size must be between 16"),
    ("--content-layer conv4_9", "unknown VGG-19 layer 'conv4_9'"),
)
def test_cli_bad_input_is_one_line_exit_2_and_no_output(
    run_cli, content_path, style_path, tmp_path, args, message
):
    out = tmp_path / "sheet.png"
    code, _, err = run_cli("sweep", content_path, style_path, "-o", out, *args)
    assert_refused(code, err, message, out)


def test_cli_defaults_come_from_the_config():
    from impasto.cli import build_parser

    args = build_parser().parse_args(["sweep", "c.jpg", "s.jpg", "-o", "o.png"])
    d = SweepConfig()
    for name in (
        "ratios",
        "rows",
        "content_layer",
        "size",
        "iters",
        "init",
        "pool",
        "optimizer",
        "lr",
        "seed",
        "device",
    ):
        assert getattr(args, name) == getattr(d, name), name
