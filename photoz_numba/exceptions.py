# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Warnings and exceptions of photoz_numba, in one place so users can filter them."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ["PhotoZWarning", "ShortChainWarning", "NotFittedError"]


class PhotoZWarning(AstropyUserWarning):
    """A photoz_numba warning: something was done that the user should know of."""


class ShortChainWarning(PhotoZWarning):
    """An MCMC chain is too short for its autocorrelation time: the
    posterior summaries (and the autocorrelation time itself) are not
    reliable; run more steps."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before `~photoz_numba.PhotoZModel.fit`."""
