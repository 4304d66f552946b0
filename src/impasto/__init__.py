"""impasto: neural style transfer on an ImageNet VGG-19.

Python API::

    import impasto
    result = impasto.stylize("photo.jpg", "painting.jpg", size=256, iters=100)
    impasto.save_image(result.image, "out.png")
    fast = impasto.stylize_arbitrary("photo.jpg", "painting.jpg")  # any painting, one forward pass
"""

from __future__ import annotations

from .errors import ConfigError, ImageError, ImpastoError, WeightsError
from .fast.arbitrary import ArbitraryConfig, stylize_arbitrary
from .images import load_image
from .optimize import ProgressEvent
from .output import save_image
from .reconstruct import ReconstructConfig, ReconstructResult, reconstruct
from .stylize import StylizeConfig, StylizeResult, stylize
from .sweep import SweepConfig, SweepResult, sweep
from .texture import TextureConfig, TextureResult, synthesize_texture

__all__ = [
    "ArbitraryConfig",
    "ConfigError",
    "ImageError",
    "ImpastoError",
    "ProgressEvent",
    "ReconstructConfig",
    "ReconstructResult",
    "StylizeConfig",
    "StylizeResult",
    "SweepConfig",
    "SweepResult",
    "TextureConfig",
    "TextureResult",
    "WeightsError",
    "load_image",
    "reconstruct",
    "save_image",
    "stylize",
    "stylize_arbitrary",
    "sweep",
    "synthesize_texture",
]
__version__ = "0.1.0"
