# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
photoz_numba: fast, calibrated photometric redshifts on Astropy Tables.

The method is the kernelised local linear regression of Kalná, Begley &
Donnan (2024), with its per-galaxy loops compiled by Numba.
"""

from astropy import config as _config

try:
    from ._version import version as __version__
except ImportError:  # running from a source tree that was never installed
    __version__ = "unknown"


class Conf(_config.ConfigNamespace):
    """Configuration items of photoz_numba."""

    kalna2024_path = _config.ConfigItem(
        "",
        "Local copy of the Kalná et al. (2024) catalogue; when empty, it is "
        "downloaded into astropy's cache. The environment variable "
        "PHOTOZ_NUMBA_KALNA2024 takes precedence over this item.")


conf = Conf()

from .model import PhotoZModel  # noqa: E402

__all__ = ["PhotoZModel", "conf", "__version__"]
