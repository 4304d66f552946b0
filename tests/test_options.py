"""impasto.options: one declaration per option, read back by the checks, the CLI and the web service."""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import Literal

import pytest
from PIL import Image

from impasto.errors import ConfigError
from impasto.options import check, option, options_of
from impasto.texture import TextureConfig


def _one_word(value: str) -> None:
    if " " in value:
        raise ConfigError(f"name must be one word, got {value!r}", field="name")


@dataclass(frozen=True)
class Toy:
    size: int = option(64, min=16, max=256, help="side")
    weight: float = option(1.0, above=0, help="a weight")
    share: float = option(0.5, min=0, below=1)
    mode: Literal["a", "b", "c"] = option("a")
    tile: int | Literal["auto", "off"] = option("auto", min=8)
    lr: float | None = option(None, above=0)
    layers: tuple[str, ...] = option(("x",))
    blend: tuple[float, ...] | None = option(None, min=0)
    flag: bool = False
    """A plain field: its help is its docstring."""
    name: str = option("toy", validate=_one_word)

    def __post_init__(self) -> None:
        check(self)


def test_specs_read_types_choices_bounds_and_help():
    specs = {o.name: o for o in options_of(Toy)}
    assert [o.name for o in options_of(Toy)] == [f.name for f in fields(Toy)]
    assert (specs["size"].scalar, specs["size"].min, specs["size"].max, specs["size"].help) == (
        int,
        16,
        256,
        "side",
    )
    assert specs["mode"].choices == ("a", "b", "c") and specs["mode"].kinds == ()
    assert specs["tile"].choices == ("auto", "off") and specs["tile"].kinds == (int,)
    assert specs["lr"].nullable and not specs["lr"].repeated and specs["lr"].min_open
    assert specs["blend"].repeated and specs["blend"].nullable and specs["blend"].scalar is float
    assert specs["flag"].help == "A plain field: its help is its docstring." and specs["flag"].min is None
    assert specs["share"].bounds() == "at least 0 and below 1"
    assert specs["weight"].bounds() == "positive"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"size": 8}, "size", "size must be between 16 and 256, got 8"),
        ({"size": 32.0}, "size", "size must be an integer, got 32.0"),
        ({"size": True}, "size", "size must be an integer"),
        ({"weight": 0}, "weight", "weight must be positive, got 0"),
        ({"weight": float("nan")}, "weight", "weight must be a finite number"),
        ({"share": 1.0}, "share", "share must be at least 0 and below 1, got 1.0"),
        ({"mode": "d"}, "mode", "mode must be one of a, b, c, got 'd'"),
        ({"tile": "on"}, "tile", "tile must be an integer, 'auto' or 'off', got 'on'"),
        ({"tile": 4}, "tile", "tile must be at least 8, got 4"),
        ({"lr": -1.0}, "lr", "lr must be positive"),
        ({"blend": (1.0, -0.5)}, "blend", "blend must be zero or positive, got -0.5"),
        ({"flag": "yes"}, "flag", "flag must be true or false"),
        ({"name": "two words"}, "name", "name must be one word"),
        ({"name": 3}, "name", "name must be a name or path, got 3"),
    ],
)
def test_check_names_the_field_and_its_rule(values, field, message):
    with pytest.raises(ConfigError) as exc:
        Toy(**values)
    assert exc.value.field == field and str(exc.value).startswith(message), str(exc.value)


def test_values_inside_the_declaration_pass():
    Toy(size=16, weight=1e-9, share=0, mode="c", tile=8, lr=0.5, layers=("a", "b"), blend=(0.0, 1), flag=True)
    Toy(tile="off", lr=None, blend=None)


def test_the_optimizers_are_declared_once():
    from impasto.optimize import OPTIMIZERS
    from impasto.stylize import StylizeConfig
    from impasto.sweep import SweepConfig

    for cls in (StylizeConfig, TextureConfig, SweepConfig):
        assert next(o for o in options_of(cls) if o.name == "optimizer").choices == OPTIMIZERS


# -- the proof: one new option, declared in one place, reaches the CLI, the API and GET /v1/kinds --------


@dataclass(frozen=True)
class GrainyTexture(TextureConfig):
    """TextureConfig with one option more, declared once and nowhere else."""

    grain: float = option(0.1, min=0.0, max=1.0, help="film grain added to the texture")


@pytest.fixture
def grainy(monkeypatch):
    """The texture pipeline's config replaced by GrainyTexture where the CLI and the service read it."""
    import impasto.cli.texture
    import impasto.texture

    monkeypatch.setattr(impasto.texture, "TextureConfig", GrainyTexture)
    monkeypatch.setattr(impasto.cli.texture, "TextureConfig", GrainyTexture)
    return GrainyTexture


def test_a_new_option_appears_in_the_cli(grainy, capsys):
    from impasto.cli import build_parser
    from impasto.cli.common import config_from_args

    parser = build_parser()
    args = parser.parse_args(["texture", "s.png", "-o", "o.png", "--grain", "0.7"])
    assert args.grain == 0.7 and config_from_args(grainy, args, width=32, height=32).grain == 0.7
    assert parser.parse_args(["texture", "s.png", "-o", "o.png"]).grain == 0.1  # the declared default
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["texture", "s.png", "-o", "o.png", "--grain", "2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--grain" in err and "grain must be between 0 and 1, got 2.0" in err
    with pytest.raises(SystemExit):
        parser.parse_args(["texture", "--help"])
    assert "film grain added to the texture (default 0.1)" in " ".join(capsys.readouterr().out.split())


def test_a_new_option_is_accepted_checked_and_listed_by_the_api(grainy, tmp_path):
    from fastapi.testclient import TestClient

    from impasto.service.app import create_app
    from impasto.service.backends import build
    from impasto.service.limits import Settings

    settings = Settings(data_dir=tmp_path / "data")
    client = TestClient(create_app(settings, build(settings)), base_url="http://127.0.0.1:8000")
    png = io.BytesIO()
    Image.effect_noise((48, 48), 40).convert("RGB").save(png, format="PNG")

    def submit(grain: str):
        files = [("style", ("s.png", png.getvalue(), "image/png"))]
        data = {"kind": "texture", "width": "32", "height": "32", "iters": "2", "grain": grain}
        return client.post("/v1/jobs", data=data, files=files)

    ok = submit("0.25")
    assert ok.status_code in (200, 201, 202), ok.text
    assert ok.json()["params"]["grain"] == 0.25
    bad = submit("3")
    assert bad.status_code == 422 and bad.json()["field"] == "grain", bad.text
    assert "grain must be between 0 and 1" in bad.json()["detail"]

    kinds = {k["name"]: k for k in client.get("/v1/kinds").json()["kinds"]}
    listed = {p["name"]: p for p in kinds["texture"]["params"]}["grain"]
    assert listed == {
        "name": "grain",
        "type": "number",
        "default": 0.1,
        "doc": "film grain added to the texture",
        "minimum": 0.0,
        "maximum": 1.0,
    }
