"""Which device a pipeline runs on: the syntax of a ``device`` setting and its resolution at run time.

Precision (which dtype the network runs in on that device) is :mod:`impasto.precision`'s business.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import ConfigError
from .options import option

#: Device names a config accepts besides ``cuda:N``.
DEVICES = ("auto", "cpu", "cuda", "mps")


def check_device(name: str) -> None:
    """Syntax of a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``); whether it exists is
    :func:`resolve_device`'s business, at run time."""
    if not isinstance(name, str) or (name not in DEVICES and not name.startswith("cuda:")):
        raise ConfigError(f"device must be auto, cpu, cuda or mps, got {name!r}", field="device")


def device_option() -> Any:
    """The ``device`` field of a pipeline config (checked by :func:`check_device`)."""
    return option("auto", validate=check_device, help="auto, cpu, cuda or mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and bool(mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA, else MPS, else CPU; a named device that is not there is one ConfigError line.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available", field="device")
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' requested but MPS is not available", field="device")
    return torch.device(name)


__all__ = ["DEVICES", "check_device", "resolve_device"]
