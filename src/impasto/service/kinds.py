"""Job kinds: which library pipeline each runs, which files it takes, and how form fields become its
typed config.

The form fields, their types, choices, bounds and help (``GET /v1/kinds``) are derived from the config's
declarations (:func:`impasto.options.options_of`), and the config's own ``__post_init__`` validates the
values against the same declarations, so a field added to ``StylizeConfig`` (or any other config) is
accepted, checked and listed by the API without touching this module. Fields whose type cannot come
from a form (paths, nested objects), fields declared ``service=False`` and server-side settings
(``device``) are not exposed.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ImpastoError
from ..options import Option, field_docs, options_of

__all__ = [
    "FieldError",
    "FileField",
    "Kind",
    "Param",
    "build_config",
    "check_job",
    "convert",
    "field_docs",
    "job_budget",
    "load_kinds",
    "make_config",
    "params_to_config",
]

#: Fields the server decides, never a client.
SERVER_FIELDS = frozenset({"device", "weights", "dtype", "threads", "checkpoint", "output"})


#: Sizes of a job's uploads: file field → (height, width) of each file.
Sizes = Mapping[str, list[tuple[int, int]]]


@dataclass(frozen=True)
class FileField:
    """A file upload a kind takes (``content``, ``style``)."""

    name: str
    what: str
    required: bool = True
    repeatable: bool = False


@dataclass(frozen=True)
class Kind:
    """One job kind: its pipeline's config class and the uploads it needs."""

    name: str
    title: str
    config_cls: type
    files: tuple[FileField, ...]
    run: Callable[..., Outcome]
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Form field name → config field name, where they differ."""
    hidden: frozenset[str] = frozenset()
    """Config fields a client may not send, besides those declared ``service=False``."""
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Config field → the only values a client may send where they are fewer than the declared ones
    (e.g. ``init``: not a server path; ``model``: the installed models)."""
    check_sizes: Callable[[Any, Sizes], None] | None = None
    """Raises :class:`~impasto.errors.ImageError` when an upload (sizes by file field, (h, w) each) is too
    small for the pipeline under this config — the library's own check, run at submit."""
    cost: Callable[[Any, Sizes], float] | None = None
    """Work of a job in pixel-iterations (pixels × iterations summed over scales/octaves/tiles/styles)."""
    derived_sizes: Callable[[Any], dict[str, int]] = field(default_factory=lambda: lambda config: {})
    """Config field → an image side (px) it implies besides the ``*size`` fields (e.g. the style image's)."""

    def form_name(self, config_field: str) -> str:
        for form, cfg in self.aliases.items():
            if cfg == config_field:
                return form
        return config_field

    def params(self) -> dict[str, Param]:
        """Form name → description of every parameter a client may send."""
        out: dict[str, Param] = {}
        for o in options_of(self.config_cls):
            if not o.service or o.name in SERVER_FIELDS or o.name in self.hidden or not _supported(o.type):
                continue
            name = self.form_name(o.name)
            out[name] = Param(name, o.name, o.type, _jsonable(o.default), o.help, self.choices.get(o.name), o)
        return out


@dataclass(frozen=True)
class Param:
    """One form field: a config option under its form name."""

    name: str
    field: str
    type: Any
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    option: Option | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-schema-like description: type, default, declared bounds (``minimum``/``maximum``, or the
        exclusive forms; for a list, of each item), choices (``enum``) and the help text (``doc``)."""
        d = {"name": self.name, **_schema(self.type), "default": self.default, "doc": self.doc}
        if self.option is not None:
            bounds = _bounds(self.option)
            target = d["items"] if d.get("type") == "array" else d
            target.update(bounds)
        if self.choices:
            d["enum"] = list(self.choices)
        return d


def _bounds(o: Option) -> dict[str, float]:
    out: dict[str, float] = {}
    if o.min is not None:
        out["exclusiveMinimum" if o.min_open else "minimum"] = o.min
    if o.max is not None:
        out["exclusiveMaximum" if o.max_open else "maximum"] = o.max
    return out


@dataclass
class Outcome:
    """What a pipeline produced: the image (1, 3, H, W) in [0, 1], its alpha, whether it was cut short."""

    image: Any
    alpha: Any = None
    interrupted: bool = False


class FieldError(ConfigError):
    """A form field is malformed (→ 422 naming the field)."""


# -- type handling ------------------------------------------------------------------------------
_NONE_WORDS = ("", "none", "null")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _supported(tp) -> bool:
    if tp in (int, float, bool, str):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return all(a is type(None) or _supported(a) for a in args)
    if origin is typing.Literal:
        return all(isinstance(a, (str, int, float, bool)) for a in args)
    if origin in (tuple, list):
        items = [a for a in args if a is not Ellipsis]
        return len(set(items)) == 1 and items[0] in (int, float, str)
    return False


def _schema(tp) -> dict[str, Any]:
    names = {int: "integer", float: "number", bool: "boolean", str: "string"}
    if tp in names:
        return {"type": names[tp]}
    if _is_union(tp):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        d = _schema(inner[0]) if len(inner) == 1 else {"type": "string"}
        return {**d, "nullable": type(None) in typing.get_args(tp)}
    if typing.get_origin(tp) is typing.Literal:
        return {"type": "string", "enum": [str(a) for a in typing.get_args(tp)]}
    item = next(a for a in typing.get_args(tp) if a is not Ellipsis)
    return {"type": "array", "items": {"type": names[item]}}


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _scalar(tp, text: str, name: str):
    t = text.strip()
    if tp is bool:
        if t.lower() in _TRUE:
            return True
        if t.lower() in _FALSE:
            return False
        raise FieldError(f"{name} must be true or false, got {text!r}", field=name)
    if tp is int:
        try:
            return int(t)
        except ValueError:
            raise FieldError(f"{name} must be an integer, got {text!r}", field=name) from None
    if tp is float:
        try:
            value = float(t)
        except ValueError:
            raise FieldError(f"{name} must be a number, got {text!r}", field=name) from None
        if not math.isfinite(value):
            raise FieldError(f"{name} must be a finite number, got {text!r}", field=name)
        return value
    if typing.get_origin(tp) is typing.Literal:
        for option in typing.get_args(tp):
            if str(option) == t:
                return option
        raise FieldError(
            f"{name} must be one of {', '.join(map(str, typing.get_args(tp)))}; got {text!r}", field=name
        )
    # A string: never let a client name a file on the server.
    if "/" in t or "\\" in t or t.startswith(("~", ".")) or "\x00" in t:
        raise FieldError(f"{name} must not be a file path, got {text!r}", field=name)
    if len(t) > 200:
        raise FieldError(f"{name} is too long ({len(t)} characters)", field=name)
    return t


def convert(tp, raw: list[str], name: str):
    """Form strings → a value of type ``tp`` (repeated fields or commas make a tuple)."""
    if _is_union(tp):
        args = typing.get_args(tp)
        if type(None) in args and len(raw) == 1 and raw[0].strip().lower() in _NONE_WORDS:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], raw, name)
        errors = []
        for a in inner:  # e.g. int | str: the first that fits
            try:
                return convert(a, raw, name)
            except FieldError as exc:
                errors.append(str(exc))
        raise FieldError(errors[0], field=name)
    if typing.get_origin(tp) in (tuple, list):
        item = next(a for a in typing.get_args(tp) if a is not Ellipsis)
        parts = [p for r in raw for p in r.split(",") if p.strip()]
        if len(parts) > 64:
            raise FieldError(f"{name} has too many items ({len(parts)})", field=name)
        return tuple(_scalar(item, p, name) for p in parts)
    if len(raw) != 1:
        raise FieldError(f"{name} was given {len(raw)} times; give it once", field=name)
    return _scalar(tp, raw[0], name)


# -- building configs -------------------------------------------------------------------------
def build_config(kind: Kind, form: Mapping[str, list[str]]):
    """Form fields (name → values) → (validated config, JSON-able params). Raises :class:`ConfigError`
    whose ``field`` is the form name."""
    params = kind.params()
    values: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    for name, raw in form.items():
        p = params.get(name)
        if p is None:
            known = ", ".join(sorted(params))
            raise FieldError(
                f"unknown parameter '{name}' for kind '{kind.name}' (known: {known})", field=name
            )
        value = convert(p.type, raw, name)
        if p.choices is not None and value is not None and value not in p.choices:
            raise FieldError(f"{name} must be one of {', '.join(p.choices)}; got {value!r}", field=name)
        values[p.field] = value
        shown[name] = _jsonable(value)
    return make_config(kind, values), shown


def make_config(kind: Kind, values: Mapping[str, Any]):
    """Construct and validate the config; ConfigError fields are renamed to the form's names."""
    hints = typing.get_type_hints(kind.config_cls)
    fixed = {
        k: tuple(v) if isinstance(v, list) and typing.get_origin(hints.get(k)) is tuple else v
        for k, v in values.items()
    }
    try:
        return kind.config_cls(**fixed)
    except ConfigError as exc:
        name = kind.form_name(exc.field) if exc.field else None
        raise ConfigError(str(exc), field=name) from None
    except ImpastoError:
        raise
    except (TypeError, ValueError) as exc:  # a config that validates with plain exceptions
        raise ConfigError(str(exc).splitlines()[0] if str(exc) else "invalid parameters") from None


def params_to_config(kind: Kind, params: Mapping[str, Any]):
    """Stored (JSON) params → config, in the worker."""
    table = kind.params()
    return make_config(kind, {table[k].field: v for k, v in params.items() if k in table})


# -- the kinds ----------------------------------------------------------------------------------
def _first(paths: Mapping[str, list[Path]], name: str) -> Path:
    return paths[name][0]


def _run_stylize(config, paths, callback) -> Outcome:
    from ..stylize import NAMED_INITS, stylize

    styles = paths["style"]
    style = styles[0] if len(styles) == 1 else [str(p) for p in styles]
    if paths.get("init") and config.init in NAMED_INITS:  # an uploaded start image ("refine");
        config = dataclasses.replace(config, init=str(paths["init"][0]))  # a resume checkpoint keeps its own
    result = stylize(
        str(_first(paths, "content")), style, config, callback=callback, face_mask=_face_mask(paths)
    )
    return Outcome(result.image, getattr(result, "alpha", None), bool(getattr(result, "interrupted", False)))


def _run_dream(config, paths, callback) -> Outcome:
    from .. import dream as mod

    result = mod.dream(str(_first(paths, "content")), config, callback=callback)
    return _outcome(result)


def _run_texture(config, paths, callback) -> Outcome:
    from ..texture import synthesize_texture

    return _outcome(synthesize_texture(str(_first(paths, "style")), config, callback=callback))


def _run_fast(config, paths, callback) -> Outcome:
    from .. import fast as mod

    content = str(_first(paths, "content"))
    if paths.get("style"):  # any painting (Ghiasi et al. 2017) instead of the network's own styles
        from ..fast.arbitrary import ArbitraryConfig, stylize_arbitrary_picture

        arbitrary = ArbitraryConfig(
            style_weights=config.style_weights,
            strength=config.strength,
            style_size=config.style_size,
            size=config.size,
            device=config.device,
            precision=config.precision,
        )
        pic = stylize_arbitrary_picture(content, [str(p) for p in paths["style"]], arbitrary)
        return Outcome(pic.rgb, pic.alpha)
    if hasattr(mod, "infer") and hasattr(mod.infer, "stylize_picture"):  # keeps the content's alpha
        pic = mod.infer.stylize_picture(content, config, face_mask=_face_mask(paths))
        return Outcome(pic.rgb, pic.alpha)
    return _outcome(mod.stylize_fast(content, config))


#: Portraits (impasto.faces): the optional upload giving the face region by hand.
FACE_MASK = FileField("face_mask", "face mask image", required=False)


def _face_mask(paths: Mapping[str, list[Path]]) -> str | None:
    return str(paths["face_mask"][0]) if paths.get("face_mask") else None


def _outcome(result) -> Outcome:
    if hasattr(result, "image"):
        return Outcome(
            result.image, getattr(result, "alpha", None), bool(getattr(result, "interrupted", False))
        )
    return Outcome(result)  # a bare tensor


# -- sizes and compute budget, at submit ----------------------------------------------------------
def _hw(sizes: Sizes, name: str) -> tuple[int, int]:
    return sizes[name][0]


def _stylize_sizes(config, sizes: Sizes) -> None:
    from ..stylize import check_sizes

    check_sizes(config, _hw(sizes, "content"), sizes.get("style", []))


def _stylize_cost(config, sizes: Sizes) -> float:
    """Σ over scales of (pixels optimised, tiles' overlaps included) × iters, plus one forward pass of
    every style image per scale (its targets)."""
    from ..images import fit_longest
    from ..tiling import default_overlap, is_tiled, tile_boxes

    content = fit_longest(_hw(sizes, "content"), config.size)
    total = 0.0
    for size in config.sizes():
        hw = fit_longest(content, size)
        if is_tiled(config.tile, hw):
            boxes = tile_boxes(hw, config.tile, default_overlap(config.tile))
            px = sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes)
        else:
            px = hw[0] * hw[1]
        side = max(16, round(size * config.style_scale))
        styles = sum(h * w for h, w in (fit_longest(s, side) for s in sizes.get("style", [])))
        total += px * config.iters + styles
    return total


def _fast_sizes(config, sizes: Sizes) -> None:
    from ..fast.arbitrary import check_content_size, check_style_size
    from ..fast.infer import check_size
    from ..images import fit_longest

    hw = _hw(sizes, "content")
    working = fit_longest(hw, config.size) if config.size else hw
    check_size(working)
    if sizes.get("style"):  # paintings: the arbitrary-style network paints, with minimums of its own
        check_content_size(working)
        for i, style_hw in enumerate(sizes["style"]):
            check_style_size(style_hw, f"painting {i + 1}", field="style")
    check_painting_weights(config, len(sizes.get("style", [])))


def check_painting_weights(config, paintings: int) -> None:
    """Blend weights only with paintings, one per painting (uploads first, then gallery images)."""
    from ..fast.arbitrary import check_style_weights

    if config.style_weights is None:
        return
    if not paintings:
        raise ConfigError(
            "blend weights are for paintings: upload them as 'style' or name them in 'style_gallery' "
            "(a blend of the network's own styles is style_index, e.g. 0:0.5,3:0.5)",
            field="style_weights",
        )
    check_style_weights(config.style_weights, paintings)


def _fast_cost(config, sizes: Sizes) -> float:
    from ..images import fit_longest

    hw = _hw(sizes, "content")
    h, w = fit_longest(hw, config.size) if config.size else hw
    return float(h * w)  # one forward pass


def _texture_sizes(config, sizes: Sizes) -> None:
    from ..checks import check_layer_size
    from ..images import fit_longest

    check_layer_size(
        fit_longest(_hw(sizes, "style"), config.style_size), config.style_layers, "style image", field="style"
    )
    check_layer_size((config.height, config.width), config.style_layers, "output", field="width")


def _texture_cost(config, sizes: Sizes) -> float:
    from ..images import fit_longest

    h, w = fit_longest(_hw(sizes, "style"), config.style_size)
    return float(config.width * config.height * config.iters + h * w)


def _dream_sizes(config, sizes: Sizes) -> None:
    from ..dream import check_sizes

    check_sizes(config, _hw(sizes, "content"))


def _dream_cost(config, sizes: Sizes) -> float:
    """Σ over octaves of the pixels one gradient sees (tiles with their context margins) × steps; a
    tiled L2 objective over several layers takes one more pass per step."""
    from ..dream import TILE_MARGIN, octave_sizes, resolve_tile
    from ..images import fit_longest
    from ..vgg import min_side

    hw = _hw(sizes, "content")
    hw = fit_longest(hw, config.size) if config.size else hw
    align = min_side(config.layers)
    margin = -(-TILE_MARGIN // align) * align
    total = 0.0
    for oh, ow in octave_sizes(hw, config.octaves, config.octave_scale):
        tile = resolve_tile(config.tile, (oh, ow))
        if tile is None:
            px = oh * ow
        else:
            t = max(align, tile // align * align)
            extent = [
                min((math.ceil(n / t) + 1) * n, n + 2 * margin * (math.ceil(n / t) + 1)) for n in (oh, ow)
            ]
            px = extent[0] * extent[1] * (2 if config.objective == "l2" and len(config.layers) > 1 else 1)
        total += px * config.steps
    return total


def check_job(kind: Kind, config, sizes: Sizes, limits) -> None:
    """At submit, before the job is queued: uploads large enough for the pipeline (→ ``ConfigError``
    naming the file field), implied image sides within ``max_size`` and the job's work within the
    budget ``max_size² × max_iters`` — what one single-scale job at the limits costs (→ 422
    :class:`~impasto.service.limits.LimitError` naming the field that pushes it over)."""
    from ..errors import ImageError
    from .limits import LimitError

    if kind.check_sizes is not None:
        try:
            kind.check_sizes(config, sizes)
        except ImageError as exc:
            raise FieldError(str(exc), field=exc.field) from None
        except ConfigError as exc:  # a rule between the config and the uploads (e.g. a weight per file)
            raise FieldError(str(exc), field=kind.form_name(exc.field) if exc.field else None) from None
    for name, side in kind.derived_sizes(config).items():
        if side > limits.max_size:
            raise LimitError(
                422,
                f"{kind.form_name(name)}: the image it implies would be {side} px, above the "
                f"limit of {limits.max_size}",
                field=kind.form_name(name),
                limit=limits.max_size,
            )
    if kind.cost is None:
        return
    cost, budget = kind.cost(config, sizes), job_budget(kind, limits)
    if cost <= budget:
        return
    name = _blame(kind, config, sizes, cost)
    raise LimitError(
        422,
        f"{name}: this job's work ({cost:.3g} pixel-iterations) is above this server's budget "
        f"of {budget:.3g} (what a default job at max-size and max-iters costs); lower {name}",
        field=name,
        limit=budget,
    )


def job_budget(kind: Kind, limits) -> float:
    """The most work one job of ``kind`` may ask for: ``limits.max_work`` (one single-scale job at the
    limits), or more when the kind's own defaults at ``max_size`` and ``max_iters`` cost more — a default
    1024 px stylize job runs coarse-to-fine over three scales, and the limits mean to allow it."""
    from .limits import ITER_FIELDS, SIZE_FIELDS

    if kind.cost is None:
        return limits.max_work
    names = {o.name for o in options_of(kind.config_cls)}
    changes = {n: limits.max_size for n in SIZE_FIELDS if n in names}
    changes.update({n: limits.max_iters for n in ITER_FIELDS if n in names})
    square = [(limits.max_size, limits.max_size)]
    try:
        at_limits = kind.cost(kind.config_cls(**changes), {f.name: square for f in kind.files})
    except (ValueError, TypeError, KeyError, ImpastoError):  # a kind whose defaults cannot be costed so
        return limits.max_work
    return max(limits.max_work, at_limits)


def _blame(kind: Kind, config, sizes: Sizes, cost: float) -> str:
    """The form field that pushes a job over the budget: of the fields the client changed, the one whose
    default would lower the cost the most — a multiplier (scales, octaves, tile, style-scale, ...) before
    the size and iteration fields, which are each within their own limit here."""
    from .limits import ITER_FIELDS, is_size_field

    estimate = kind.cost
    ranked = []
    for p in kind.params().values():
        if estimate is None or isinstance(p.default, list) or getattr(config, p.field) == p.default:
            continue
        try:
            lower = estimate(dataclasses.replace(config, **{p.field: p.default}), sizes)
        except Exception:
            continue
        if lower < cost:
            ranked.append((is_size_field(p.field) or p.field in ITER_FIELDS, lower, p.name))
    if ranked:
        return min(ranked)[2]
    return next((kind.form_name(f) for f in ("iters", "steps", "size") if hasattr(config, f)), "size")


def _load(module: str, attr: str):
    try:
        mod = importlib.import_module(f"impasto.{module}")
    except ImportError:
        return None
    return getattr(mod, attr, None)


def fast_model_names() -> tuple[str, ...]:
    try:
        from ..fast import available_models
    except ImportError:
        return ()
    try:
        return tuple(m.name for m in available_models())
    except Exception:
        return ()


def load_kinds() -> dict[str, Kind]:
    """The kinds whose library module is installed, by name."""
    kinds: dict[str, Kind] = {}
    cfg = _load("stylize", "StylizeConfig")
    if cfg is not None:
        kinds["stylize"] = Kind(
            "stylize",
            "Style transfer (Gatys)",
            cfg,
            (
                FileField("content", "content image"),
                FileField("style", "style image", repeatable=True),
                FileField("init", "start image (e.g. a fast result to refine)", required=False),
                FACE_MASK,
            ),
            _run_stylize,
            choices={
                "init": _load("stylize", "NAMED_INITS")
            },  # a start image is uploaded, never a server path
            check_sizes=_stylize_sizes,
            cost=_stylize_cost,
            derived_sizes=lambda c: {"style_scale": round(c.size * c.style_scale)},
        )
    cfg = _load("fast", "FastConfig")
    models = fast_model_names()
    if cfg is not None and _load("fast", "stylize_fast") is not None and models:
        kinds["fast"] = Kind(
            "fast",
            "Fast style network",
            cfg,
            (
                FileField("content", "content image"),
                FileField("style", "painting", required=False, repeatable=True),
                FACE_MASK,
            ),
            _run_fast,
            # style_blend_weights: the same form name as the stylize kind's weights of its style images
            aliases={"style_index": "style", "style_blend_weights": "style_weights"},
            choices={"model": models},
            check_sizes=_fast_sizes,
            cost=_fast_cost,
        )
    cfg = _load("texture", "TextureConfig")
    if cfg is not None and _load("texture", "synthesize_texture") is not None:
        kinds["texture"] = Kind(
            "texture",
            "Texture synthesis",
            cfg,
            (FileField("style", "texture image"),),
            _run_texture,
            choices={"init": ("noise",)},
            check_sizes=_texture_sizes,
            cost=_texture_cost,
        )
    cfg = _load("dream", "DreamConfig")
    if cfg is not None and _load("dream", "dream") is not None:
        kinds["dream"] = Kind(
            "dream",
            "DeepDream",
            cfg,
            (FileField("content", "image"),),
            _run_dream,
            hidden=frozenset({"frames", "zoom", "fps"}),  # animation settings: not a single image
            check_sizes=_dream_sizes,
            cost=_dream_cost,
        )
    return kinds
