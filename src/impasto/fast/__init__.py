"""Fast feed-forward style transfer: Johnson et al. 2016 networks with conditional instance
normalisation (Dumoulin et al. 2017), many styles per network.

    from impasto.fast import stylize_fast, available_models
    image = stylize_fast("photo.jpg", style="0:0.5,3:0.5", strength=0.8)

Any painting as the style (Ghiasi et al. 2017, :mod:`impasto.fast.arbitrary`)::

    image = stylize_arbitrary("photo.jpg", "painting.jpg", strength=0.8)
"""

from __future__ import annotations

from .arbitrary import ArbitraryConfig, stylize_arbitrary
from .infer import FastConfig, load, parse_style, style_vector, stylize_fast
from .models import DEFAULT_MODEL, ModelError, ModelInfo, available_models, load_model, save_model
from .network import ConditionalInstanceNorm, TransformerNet

__all__ = [
    "DEFAULT_MODEL",
    "ArbitraryConfig",
    "ConditionalInstanceNorm",
    "FastConfig",
    "ModelError",
    "ModelInfo",
    "TransformerNet",
    "available_models",
    "load",
    "load_model",
    "parse_style",
    "save_model",
    "style_vector",
    "stylize_arbitrary",
    "stylize_fast",
]
