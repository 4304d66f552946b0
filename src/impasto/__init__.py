"""impasto: neural style transfer on an ImageNet VGG-19.

Python API::

    import impasto
    result = impasto.stylize("photo.jpg", "painting.jpg", size=256, iters=100)
    impasto.save_image(result.image, "out.png")
"""

from __future__ import annotations

from .errors import ConfigError, ImageError, ImpastoError, WeightsError
from .images import load_image, save_image
from .optimize import ProgressEvent
from .stylize import StylizeConfig, StylizeResult, stylize

__all__ = [
    "ConfigError",
    "ImageError",
    "ImpastoError",
    "ProgressEvent",
    "StylizeConfig",
    "StylizeResult",
    "WeightsError",
    "load_image",
    "save_image",
    "stylize",
]
__version__ = "0.1.0"
