"""Errors a person can act on.

Every exception derived from :class:`ImpastoError` carries a one-line message; the CLI prints it to
stderr and exits 2, the web service turns it into a 4xx JSON body (``field`` names the offending
input where there is one).
"""

from __future__ import annotations


class ImpastoError(Exception):
    """Base class of user-facing errors (bad input, missing weights, ...)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ImageError(ImpastoError):
    """An input image cannot be read, or an output image cannot be written."""


class UnsupportedFormatError(ImageError):
    """An input file is not in one of the image formats impasto decodes (the service answers 415)."""


class ConfigError(ImpastoError, ValueError):
    """A configuration value is out of range or malformed."""


class WeightsError(ImpastoError):
    """The VGG-19 weights are missing, corrupt or of an unknown format."""
