"""A painting as the style (Ghiasi et al. 2017): the settings every place that takes paintings shares,
declared once — the blend weights and the style predictor's input size. :class:`~impasto.fast.arbitrary.
ArbitraryConfig` places them, and so does :class:`~impasto.fast.infer.FastConfig`, whose web-service
job kind paints with uploaded paintings (its CLI takes ``--style-image PATH[:WEIGHT]`` instead)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..options import option


def style_weights_option() -> Any:
    """The paintings' blend weights, one per painting (placed in :class:`ArbitraryConfig` and in the
    ``fast`` job kind's :class:`~impasto.fast.infer.FastConfig`; the CLI takes them as ``PATH:WEIGHT``)."""
    return option(
        None,
        min=0,
        cli=False,
        help="blend weights, one per painting in the order given (normalised to sum to 1); none = equal",
    )


#: The sides the style predictor is given, the whole painting at the output's scale clamped to them:
#: below Magenta's training scale (256) a small output's painting would be a thumbnail too small for
#: MobileNetV2 to see brushwork in; above 1024 the predictor's memory grows for nothing.
MIN_PREDICTOR_SIDE, MAX_PREDICTOR_SIDE = 256, 1024


def style_size_option(*, cli: bool = True) -> Any:
    """The side of the predictor's input (placed in :class:`ArbitraryConfig` and in ``FastConfig``,
    whose CLI leaves it to ``--style-image``'s own ``--style-size``: ``cli=False``)."""
    return option(
        None,
        min=32,
        max=MAX_PREDICTOR_SIDE,
        cli=cli,
        help="N: the painting centre-cropped to a square and resized to N for the style predictor, as "
        "Magenta feeds it (trained at 256); default: the whole painting at the output's scale, its "
        f"longest side the output's (clamped to {MIN_PREDICTOR_SIDE}-{MAX_PREDICTOR_SIDE})",
    )


def check_style_weights(weights: tuple[float, ...] | None, count: int | None = None) -> None:
    """Blend weights that sum to more than zero and, given ``count`` paintings, one per painting; a
    :class:`~impasto.errors.ConfigError` naming ``style_weights`` otherwise."""
    if weights is None:
        return
    if not sum(weights) > 0:
        raise ConfigError("the paintings' blend weights sum to zero", field="style_weights")
    if count is not None and len(weights) != count:
        raise ConfigError(
            f"{len(weights)} blend weight{'s' if len(weights) != 1 else ''} for {count} "
            f"painting{'s' if count != 1 else ''}; give one per painting",
            field="style_weights",
        )
