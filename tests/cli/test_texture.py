"""`impasto texture`: the texture and its tiled preview, options from TextureConfig; bad input is one line and exit 2."""

from __future__ import annotations

from PIL import Image

from impasto.texture import (
    TextureConfig,
    parse_size,
)

from .refusal import assert_refused, refusals, wrote_image


def test_cli_writes_texture_and_tiled_preview(run_cli, style_path, tmp_path, vgg_weights):
    out, preview = tmp_path / "tex.png", tmp_path / "tex_2x2.png"
    code, _, err = run_cli(
        "texture",
        style_path,
        "-o",
        out,
        "--size",
        "32x16",
        "--iters",
        "3",
        "--style-size",
        "32",
        "--tileable",
        "--tiled-preview",
        preview,
        "--style-layers",
        "relu1_1,pool1",
        "--device",
        "cpu",
    )
    assert wrote_image(code, err, out) == (32, 16)
    assert Image.open(preview).size == (64, 32)


@refusals(
    ("--size 0x10", "width must be between"),
    ("--size abc", "size must be WIDTHxHEIGHT"),
    ("--style-weight 0", "style-weight must be positive"),
    ("--style-layers relu1_1,conv9_9", "unknown VGG-19 layer 'conv9_9'"),
    ("--tileable --init IMG", "--tileable with content"),
    ("--tileable --size 40x40", "multiples of 16"),
)
def test_cli_bad_input_is_one_line_exit_2_and_no_output(
    run_cli, style_path, content_path, tmp_path, args, message
):
    out = tmp_path / "tex.png"
    args = tuple(str(content_path) if a == "IMG" else a for a in args)
    code, _stdout, err = run_cli("texture", style_path, "-o", out, *args)
    assert_refused(code, err, message, out)


def test_cli_defaults_come_from_the_config():
    from impasto.cli import build_parser

    args = build_parser().parse_args(["texture", "s.jpg", "-o", "o.png"])
    d = TextureConfig()
    assert parse_size(args.size) == (d.width, d.height)
    for name in (
        "iters",
        "style_size",
        "style_layers",
        "style_weight",
        "pool",
        "tileable",
        "init",
        "optimizer",
        "lr",
        "seed",
        "device",
    ):
        assert getattr(args, name) == getattr(d, name), name
