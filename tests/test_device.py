"""Device names: their syntax is checked with the config, their existence when a run starts."""

from __future__ import annotations

import pytest
import torch

from impasto.device import check_device, resolve_device
from impasto.errors import ConfigError


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_check_device_accepts_device_names(name):
    check_device(name)


@pytest.mark.parametrize("name", ["gpu", "cuda0", "", None, 0])
def test_check_device_names_the_field(name):
    with pytest.raises(ConfigError) as info:
        check_device(name)
    assert info.value.field == "device"


def test_a_missing_device_is_one_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available") as info:
        resolve_device("cuda")
    assert info.value.field == "device"
    assert resolve_device("auto").type in ("cpu", "mps")
