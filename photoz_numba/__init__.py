# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
photoz_numba: fast, calibrated photometric redshifts on Astropy Tables.

The method is the kernelised local linear regression of Kalná, Begley &
Donnan (2024), with its per-galaxy loops compiled by Numba.
"""

from ._config import Conf, __version__, conf
from .model import PhotoZModel

__all__ = ["PhotoZModel", "Conf", "conf", "__version__"]
