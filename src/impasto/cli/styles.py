"""`impasto styles` — the fast-network models that ship (and any in the user models folder)."""

from __future__ import annotations

import argparse

from ..fast.models import DEFAULT_MODEL, available_models, user_dir
from .common import add_command


def register(sub) -> None:
    add_command(sub, "styles", run)


def run(args: argparse.Namespace) -> int:
    """list the fast-network models and their styles"""
    models = available_models()
    if not models:
        print(f"no fast-network models found (shipped or in {user_dir()})")
        return 0
    for info in models:
        default = " (default)" if info.name == DEFAULT_MODEL else ""
        where = "shipped" if info.shipped else str(info.path)
        training = info.metadata.get("training", {})
        extra = (
            f", {training['steps']} steps, {training.get('seconds', 0) / 60:.0f} min of training"
            if "steps" in training
            else ""
        )
        print(f"{info.name}{default} — width {info.width}{extra}; {where}")
        for i, name in enumerate(info.styles):
            print(f"  {i}  {name}")
    print(f"(more models: put .safetensors files in {user_dir()})")
    return 0
