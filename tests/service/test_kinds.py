"""Form fields → typed configs, derived from the config dataclasses (no server needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from impasto.errors import ConfigError
from impasto.service.kinds import FileField, Kind, build_config, convert, field_docs, load_kinds


@dataclass(frozen=True)
class ToyConfig:
    """A config with every supported field type; a field added here is accepted with no other change."""

    size: int = 64
    """Longest side."""
    weight: float = 1.0
    blend: tuple[float, ...] | None = None
    """One weight per style."""
    layers: tuple[str, ...] = ("relu1_1",)
    mode: Literal["a", "b"] = "a"
    flag: bool = False
    tile: int | str = "auto"
    lr: float | None = None
    device: str = "auto"
    colour: str = "none"

    def __post_init__(self) -> None:
        if self.size > 1000:
            raise ConfigError("size too large", field="size")


TOY = Kind(
    "toy",
    "Toy",
    ToyConfig,
    (FileField("content", "content image"),),
    run=lambda *a: None,
    aliases={"blend_weights": "blend"},
    choices={"colour": ("none", "luminance")},
)


def test_every_field_type_converts_from_form_strings():
    config, shown = build_config(
        TOY,
        {
            "size": ["32"],
            "weight": ["2.5"],
            "blend_weights": ["0.7,0.3"],
            "layers": ["relu1_1", "relu2_1"],
            "mode": ["b"],
            "flag": ["on"],
            "tile": ["128"],
            "lr": [""],
            "colour": ["luminance"],
        },
    )
    assert config == ToyConfig(
        size=32,
        weight=2.5,
        blend=(0.7, 0.3),
        layers=("relu1_1", "relu2_1"),
        mode="b",
        flag=True,
        tile=128,
        lr=None,
        colour="luminance",
    )
    assert shown["blend_weights"] == [0.7, 0.3] and shown["tile"] == 128
    assert build_config(TOY, {"tile": ["off"]})[0].tile == "off"


@pytest.mark.parametrize(
    "form,field",
    [
        ({"size": ["big"]}, "size"),
        ({"size": ["2.5"]}, "size"),
        ({"size": ["5000"]}, "size"),
        ({"weight": ["inf"]}, "weight"),
        ({"flag": ["perhaps"]}, "flag"),
        ({"mode": ["c"]}, "mode"),
        ({"device": ["cuda"]}, "device"),
        ({"nope": ["1"]}, "nope"),
        ({"colour": ["../x"]}, "colour"),
        ({"colour": ["sepia"]}, "colour"),
        ({"size": ["1", "2"]}, "size"),
        ({"blend_weights": ["a,b"]}, "blend_weights"),
    ],
)
def test_bad_values_name_their_form_field(form, field):
    with pytest.raises(ConfigError) as err:
        build_config(TOY, form)
    assert err.value.field == field


def test_server_fields_are_not_exposed_and_docs_are_read():
    params = TOY.params()
    assert "device" not in params and "blend_weights" in params and "blend" not in params
    assert params["size"].doc == "Longest side." and params["blend_weights"].doc == "One weight per style."
    assert field_docs(ToyConfig)["size"] == "Longest side."
    assert convert(tuple[int, ...], ["1, 2", "3"], "x") == (1, 2, 3)


def test_real_kinds_map_every_exposed_field_of_their_config():
    import dataclasses

    kinds = load_kinds()
    assert "stylize" in kinds
    for kind in kinds.values():
        exposed = {p.field for p in kind.params().values()}
        for f in dataclasses.fields(kind.config_cls):
            if f.name not in exposed:  # hidden on purpose: server-side or not a single-image setting
                assert f.name in {"device", "weights"} | set(kind.hidden), (kind.name, f.name)
        defaults = kind.config_cls()
        config, _ = build_config(kind, {})
        assert config == defaults


def test_compute_budget_admits_the_default_job_at_the_limits_and_nothing_beyond():
    from impasto.service.kinds import check_job
    from impasto.service.limits import LimitError, Limits

    kinds = load_kinds()
    limits = Limits(max_size=1024, max_iters=2000)
    stylize, sizes = kinds["stylize"], {"content": [(1024, 1024)], "style": [(800, 600)]}
    check_job(
        stylize,
        build_config(stylize, {"size": ["1024"], "iters": ["2000"], "scales": ["1"]})[0],
        sizes,
        limits,
    )
    # the default coarse-to-fine schedule at the limits (512 → 724 → 1024) is what the limits allow
    check_job(stylize, build_config(stylize, {"size": ["1024"], "iters": ["2000"]})[0], sizes, limits)
    check_job(
        stylize,
        build_config(stylize, {"size": ["512"], "iters": ["2000"], "scales": ["3"]})[0],
        sizes,
        limits,
    )
    for form, field in (
        ({"size": ["1024"], "iters": ["2000"], "scales": ["12"]}, "scales"),
        ({"size": ["1024"], "iters": ["2000"], "style_scale": ["8"]}, "style_scale"),
        ({"size": ["1024"], "iters": ["2000"], "tile": ["256"]}, "tile"),
    ):
        with pytest.raises(LimitError) as info:
            check_job(stylize, build_config(stylize, form)[0], sizes, limits)
        assert info.value.status == 422 and info.value.field == field, form
    dream = kinds["dream"]
    check_job(
        dream,
        build_config(dream, {"size": ["1024"], "steps": ["1000"]})[0],
        {"content": [(768, 1024)]},
        limits,
    )
    with pytest.raises(LimitError) as info:
        check_job(
            dream,
            build_config(dream, {"size": ["1024"], "octaves": ["20"], "steps": ["2000"]})[0],
            {"content": [(1024, 1024)]},
            limits,
        )
    assert info.value.field == "octaves"
