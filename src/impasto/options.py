"""One declaration per option: a pipeline config's field carries its type, default, bounds and help, and
the CLI (:mod:`impasto.cli.common`), the web service's form fields and ``GET /v1/kinds``
(:mod:`impasto.service.kinds`) and the config's own validation are all derived from it.

A field is declared with :func:`option` inside a frozen dataclass; choices are a ``Literal[...]`` type,
a list is a ``tuple[X, ...]``, an optional value ``X | None``::

    @dataclass(frozen=True)
    class Config:
        size: int = option(512, min=16, max=8192, help="longest side of the output")
        optimizer: Optimizer = option("lbfgs", help="the optimiser")

        def __post_init__(self) -> None:
            check(self)  # bounds, choices and types, one ConfigError naming the field

:func:`options_of` reads the declarations back as :class:`Option` specs (plain dataclass fields work
too: no bounds, the help taken from the attribute's docstring), the way crowsonkb's
style-transfer-pytorch derives its command line from its API's signature.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Toy:
...     size: int = option(64, min=16, max=256, help="side")
...     mode: Literal["a", "b"] = option("a", help="mode")
...     def __post_init__(self) -> None:
...         check(self)
>>> [(o.name, o.bounds(), o.choices) for o in options_of(Toy)]
[('size', 'between 16 and 256', None), ('mode', '', ('a', 'b'))]
>>> Toy(size=8)
Traceback (most recent call last):
...
impasto.errors.ConfigError: size must be between 16 and 256, got 8
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import math
import os
import textwrap
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError

__all__ = ["Option", "check", "field_docs", "option", "options_of"]

_KEY = "impasto.option"


@dataclass(frozen=True)
class _Declared:
    """What :func:`option` stores in a field's metadata."""

    help: str
    min: float | None
    max: float | None
    min_open: bool
    max_open: bool
    metavar: str | None
    cli: bool
    service: bool
    validate: Callable[[Any], None] | None


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    metavar: str | None = None,
    cli: bool = True,
    service: bool = True,
    validate: Callable[[Any], None] | None = None,
) -> Any:
    """A config field with its default, help and bounds: ``min``/``max`` inclusive, ``above``/``below``
    exclusive (for a list, each item's). ``validate(value)`` is a rule of this field's own that bounds
    and choices cannot say (e.g. a device name's syntax); it raises a ConfigError naming the field.
    ``cli=False``/``service=False`` keep it off the command line or out of the web form."""
    if (min is not None and above is not None) or (max is not None and below is not None):
        raise TypeError("give min or above, max or below, not both")
    meta = _Declared(
        help=" ".join(help.split()),
        min=above if above is not None else min,
        max=below if below is not None else max,
        min_open=above is not None,
        max_open=below is not None,
        metavar=metavar,
        cli=cli,
        service=service,
        validate=validate,
    )
    return dataclasses.field(default=default, metadata={_KEY: meta})


@dataclass(frozen=True)
class Option:
    """One option of a config, as every front end sees it."""

    name: str
    type: Any
    """The field's resolved type hint (e.g. ``int | None``, ``tuple[str, ...]``, ``Literal[...]``)."""
    default: Any
    help: str
    kinds: tuple[type, ...]
    """The free value types besides the choices: some of int, float, bool, str (a path or name)."""
    choices: tuple[Any, ...] | None
    """The ``Literal[...]`` values (None: no fixed choices)."""
    nullable: bool
    repeated: bool
    """A ``tuple[X, ...]``: several values (each checked against the bounds and choices)."""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    metavar: str | None = None
    cli: bool = True
    service: bool = True
    validate: Callable[[Any], None] | None = None

    @property
    def label(self) -> str:
        """The name users see in messages and flags: ``style_weight`` → ``style-weight``."""
        return self.name.replace("_", "-")

    @property
    def flag(self) -> str:
        return f"--{self.label}"

    @property
    def scalar(self) -> type | None:
        """The one free value type when there is exactly one (int, float, bool or str), else None."""
        return self.kinds[0] if len(self.kinds) == 1 else None

    def bounds(self) -> str:
        """The declared range in words: ``between 16 and 8192``, ``positive``, ``above 1 and at most 4``."""
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            if not self.min_open and not self.max_open:
                return f"between {_num(lo)} and {_num(hi)}"
            low = f"above {_num(lo)}" if self.min_open else f"at least {_num(lo)}"
            high = f"below {_num(hi)}" if self.max_open else f"at most {_num(hi)}"
            return f"{low} and {high}"
        if lo is not None:
            if lo == 0:
                return "positive" if self.min_open else "zero or positive"
            return f"above {_num(lo)}" if self.min_open else f"at least {_num(lo)}"
        if hi is not None:
            return f"below {_num(hi)}" if self.max_open else f"at most {_num(hi)}"
        return ""

    def check(self, value: Any) -> None:
        """Raise one :class:`ConfigError` naming this field unless ``value`` fits the declaration."""
        if value is None:
            if self.nullable:
                return
            raise ConfigError(f"{self.label} must be given, got None", field=self.name)
        if self.repeated:
            if isinstance(value, str | int | float | os.PathLike):  # a single value where a list is
                value = (value,)  # allowed: the config normalises it
            for item in value:
                self.check_item(item)
        else:
            self.check_item(value)
        if self.validate is not None:
            self.validate(value)

    def check_item(self, value: Any) -> None:
        """:meth:`check` for one value (one item of a list)."""
        if self.choices is not None and any(value == c and type(value) is type(c) for c in self.choices):
            return
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (float in self.kinds or (int in self.kinds and isinstance(value, int))):
            self._check_range(value)
            return
        if bool in self.kinds and isinstance(value, bool):
            return
        if str in self.kinds and isinstance(value, str | os.PathLike):
            return
        raise ConfigError(f"{self.label} must be {self.expected()}, got {value!r}", field=self.name)

    def _check_range(self, value: float) -> None:
        if not math.isfinite(value):
            raise ConfigError(f"{self.label} must be a finite number, got {value}", field=self.name)
        lo, hi = self.min, self.max
        low_ok = lo is None or (value > lo if self.min_open else value >= lo)
        high_ok = hi is None or (value < hi if self.max_open else value <= hi)
        if not (low_ok and high_ok):
            raise ConfigError(f"{self.label} must be {self.bounds()}, got {value}", field=self.name)

    def expected(self) -> str:
        """What a value must be, in words: ``an integer``, ``'lbfgs' or 'adam'``, ``one of a, b, c``."""
        words = {int: "an integer", float: "a number", bool: "true or false", str: "a name or path"}
        free = [words[k] for k in self.kinds if not (k is int and float in self.kinds)]
        if self.choices is None:
            return " or ".join(free) or "a value"
        quoted = [f"'{c}'" for c in self.choices]
        if not free:
            if len(quoted) == 2:
                return f"{quoted[0]} or {quoted[1]}"
            return "one of " + ", ".join(str(c) for c in self.choices)
        return ", ".join(free + quoted[:-1]) + f" or {quoted[-1]}"


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _analyse(tp: Any) -> tuple[tuple[type, ...], tuple[Any, ...] | None, bool, bool]:
    """(free kinds, choices, nullable, repeated) of a type hint."""
    nullable, repeated = False, False
    members = list(typing.get_args(tp)) if _is_union(tp) else [tp]
    if type(None) in members:
        nullable = True
        members = [m for m in members if m is not type(None)]
    if len(members) == 1 and typing.get_origin(members[0]) in (tuple, list):
        repeated = True
        members = [a for a in typing.get_args(members[0]) if a is not Ellipsis][:1]
        if members and _is_union(members[0]):
            members = list(typing.get_args(members[0]))
    kinds: list[type] = []
    choices: list[Any] = []
    for m in members:
        if typing.get_origin(m) is Literal:
            choices.extend(typing.get_args(m))
        elif m in (int, float, bool, str):
            kinds.append(m)
        elif isinstance(m, type) and issubclass(m, os.PathLike):
            kinds.append(str)
    return tuple(dict.fromkeys(kinds)), (tuple(choices) if choices else None), nullable, repeated


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


_SPECS: dict[type, tuple[Option, ...]] = {}


def options_of(cls: type) -> tuple[Option, ...]:
    """The options of a config dataclass, in declaration order (``init=False`` fields left out); read
    once per class."""
    if cls not in _SPECS:
        _SPECS[cls] = _read_options(cls)
    return _SPECS[cls]


def _read_options(cls: type) -> tuple[Option, ...]:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints.get(f.name, str)
        kinds, choices, nullable, repeated = _analyse(tp)
        meta: _Declared | None = f.metadata.get(_KEY)
        extra: dict[str, Any] = {}
        if meta is not None:
            extra = {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta) if f.name != "help"}
        help = meta.help if meta is not None and meta.help else docs.get(f.name, "")
        out.append(Option(f.name, tp, _default(f), help, kinds, choices, nullable, repeated, **extra))
    return tuple(out)


def option_named(cls: type, name: str) -> Option:
    """The :class:`Option` of ``cls`` called ``name`` (KeyError if there is none)."""
    for o in options_of(cls):
        if o.name == name:
            return o
    raise KeyError(name)


def check(config: Any) -> None:
    """Validate every declared option of a config instance: bounds, choices and types, each failure one
    :class:`ConfigError` naming the field. Cross-field rules stay in the config's ``__post_init__``."""
    for o in options_of(type(config)):
        o.check(getattr(config, o.name))


_DOCS: dict[type, dict[str, str]] = {}
_DOCS_LOCK = threading.Lock()


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under a dataclass field), read from the source once
    per class. Under a lock: CPython 3.11's parser run from two request threads at once fails with
    "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905; found by schemathesis)."""
    with _DOCS_LOCK:
        if cls not in _DOCS:
            docs: dict[str, str] = {}
            for klass in reversed(cls.__mro__):  # a subclass's fields after its bases'
                if dataclasses.is_dataclass(klass):
                    docs.update(_parse_field_docs(klass))
            _DOCS[cls] = docs
        return dict(_DOCS[cls])


def _parse_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs
