# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Warnings and exceptions of photoz_numba, in one place so users can filter them."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ["PhotoZWarning", "ShortChainWarning", "NotFittedError"]


class PhotoZWarning(AstropyUserWarning):
    """A photoz_numba warning: something was done that the user should know of.

    For example, `~photoz_numba.PhotoZModel.fit` warns when training rows
    have too few measured bands to be used. Being an
    `~astropy.utils.exceptions.AstropyUserWarning`, it can be filtered on
    its own or with astropy's warnings.

    Examples
    --------
    Two of these training rows have only one measured band (NaN is "no
    measurement"), so `~photoz_numba.PhotoZModel.fit` leaves them out and
    warns:

    >>> import warnings
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from photoz_numba import PhotoZModel
    >>> z = np.linspace(0.1, 3, 50)
    >>> table = Table({"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2,
    ...                "zspec": z})
    >>> table["g"][:2] = table["r"][:2] = np.nan
    >>> model = PhotoZModel(["g", "r", "i"], k=10, units="ABmag")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = model.fit(table)
    >>> print(f"{caught[0].category.__name__}: {caught[0].message}")
    ... # doctest: +NORMALIZE_WHITESPACE
    PhotoZWarning: 2 of 50 training rows have fewer than min_bands=2
    measured, detected bands and are not used
    >>> model.n_train_
    48

    To silence photoz_numba's warnings, filter the class::

        warnings.simplefilter("ignore", PhotoZWarning)
    """


class ShortChainWarning(PhotoZWarning):
    """An MCMC chain is too short for its autocorrelation time: the
    posterior summaries (and the autocorrelation time itself) are not
    reliable; run more steps."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before `~photoz_numba.PhotoZModel.fit`.

    A subclass of both `ValueError` and `AttributeError`, so code that
    catches either keeps working.

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> model = PhotoZModel(["g", "r", "i"])
    >>> try:
    ...     model.predict(None)
    ... except ValueError as exc:   # or: except NotFittedError
    ...     print(f"{type(exc).__name__}: {exc}")
    NotFittedError: this PhotoZModel is not fitted yet: call fit(table, z=...) first
    """
