# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The Kalná, Begley & Donnan (2024) catalogue, the paper's sample and its
stratified splits.

The catalogue is never shipped with the package. `load_kalna2024` reads,
in this order of precedence: the ``path`` argument, the environment
variable ``PHOTOZ_NUMBA_KALNA2024``, the configuration item
``photoz_numba.conf.kalna2024_path``, and otherwise downloads it from its
public URL into astropy's download cache. Every copy is checked against
the catalogue's SHA-256.
"""

import hashlib
import os

import numpy as np
from astropy import units as u
from astropy.io import ascii
from astropy.table import MaskedColumn, Table
from astropy.utils.data import download_file

from ._config import conf

__all__ = ["KALNA2024_URL", "KALNA2024_SHA256", "KALNA2024_BANDS",
           "load_kalna2024", "paper_sample", "toy_catalogue", "toy_predictions"]

KALNA2024_URL = ("https://raw.githubusercontent.com/Juli-Kalna/"
                 "JWST-ML-Galaxy-Photo-Z/main/all_with_z_spec_filtered.ascii")
KALNA2024_SHA256 = "b969cd1f3781856efef784464015c5aae9c801c324cde42203b27c9090e3cd20"
#: The 11 bands of the catalogue, from the shortest to the longest wavelength.
KALNA2024_BANDS = ("f435w", "f606w", "f814w", "f090w", "f115w", "f150w",
                   "f200w", "f277w", "f356w", "f410m", "f444w")
ENV_VAR = "PHOTOZ_NUMBA_KALNA2024"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _catalogue_path(path):
    for candidate, origin in ((path, "path argument"),
                              (os.environ.get(ENV_VAR), f"${ENV_VAR}"),
                              (conf.kalna2024_path, "conf.kalna2024_path")):
        if candidate:
            candidate = os.path.expanduser(str(candidate))
            if not os.path.isfile(candidate):
                raise FileNotFoundError(f"catalogue file {candidate!r} (from the "
                                        f"{origin}) does not exist")
            return candidate
    try:
        return download_file(KALNA2024_URL, cache=True, show_progress=False)
    except OSError as exc:  # URLError and socket errors are OSErrors
        raise OSError(f"could not download the catalogue from {KALNA2024_URL} "
                      f"({exc}); pass path=..., or set ${ENV_VAR} or "
                      f"photoz_numba.conf.kalna2024_path to a local copy") from exc


def load_kalna2024(path=None, check_hash=True):
    """The spectroscopic catalogue of Kalná, Begley & Donnan (2024).

    5667 galaxies from PRIMER/UDS, PRIMER/COSMOS and JADES/GOODS-S with HST
    and JWST fluxes and a spectroscopic redshift.

    Parameters
    ----------
    path : str or path-like, optional
        A local copy of the catalogue. If not given, the environment
        variable ``PHOTOZ_NUMBA_KALNA2024`` or the configuration item
        ``kalna2024_path`` is used, and failing both the file is downloaded
        from `KALNA2024_URL` through astropy's download cache.
    check_hash : bool, optional
        Check the file's SHA-256 against `KALNA2024_SHA256` (default).

    Returns
    -------
    catalogue : `~astropy.table.Table`
        ``ID``, ``x``, ``y``, ``ra`` and ``dec`` (deg), a flux column per
        band and its ``<band>_err`` in uJy, and ``zspec``. Entries that the
        file marks with -99 are masked.

    Raises
    ------
    FileNotFoundError
        The given path does not exist.
    ValueError
        The file's SHA-256 does not match.

    Examples
    --------
    >>> from photoz_numba.datasets import load_kalna2024
    >>> cat = load_kalna2024()  # doctest: +REMOTE_DATA
    >>> len(cat), cat["f444w"].unit  # doctest: +REMOTE_DATA
    (5667, Unit("uJy"))
    """
    filename = _catalogue_path(path)
    if check_hash:
        digest = _sha256(filename)
        if digest != KALNA2024_SHA256:
            raise ValueError(f"{filename!r} is not the Kalná et al. (2024) "
                             f"catalogue: SHA-256 {digest}, expected "
                             f"{KALNA2024_SHA256}")
    raw = ascii.read(filename, format="basic", guess=False)
    catalogue = Table(meta={"source": KALNA2024_URL, "filename": filename})
    for name in raw.colnames:
        values = np.asarray(raw[name])
        unit = None
        if name in ("ra", "dec"):
            unit = u.deg
        elif name.split("_")[0] in KALNA2024_BANDS:
            unit = u.uJy
        if name in ("ID", "x", "y", "ra", "dec"):
            catalogue[name] = values
            catalogue[name].unit = unit
        else:
            catalogue[name] = MaskedColumn(values, unit=unit,
                                           mask=values == -99.0)
    return catalogue


def paper_sample(catalogue, z="zspec", bands=KALNA2024_BANDS, z_max=7.0):
    """The paper's sample: ``z <= z_max`` and a positive flux in every band.

    Parameters
    ----------
    catalogue : `~astropy.table.Table`
        As returned by `load_kalna2024`.
    z : str, optional
        The spectroscopic redshift column.
    bands : sequence of str, optional
        Band columns that must hold a positive, unmasked flux.
    z_max : float, optional
        Largest redshift kept (7 in the paper).

    Returns
    -------
    sample : `~astropy.table.Table`
        The selected rows, in catalogue order (4605 for the paper's file).

    Raises
    ------
    KeyError
        The redshift column or a band column is not in the catalogue.

    Examples
    --------
    Of these five galaxies only the first is kept: the others have a
    negative flux, a redshift above 7, a masked flux or a masked redshift.

    >>> from astropy import units as u
    >>> from astropy.table import MaskedColumn, Table
    >>> from photoz_numba.datasets import paper_sample
    >>> catalogue = Table({
    ...     "zspec": MaskedColumn([0.5, 1.2, 7.5, 2.0, 3.1], mask=[0, 0, 0, 0, 1]),
    ...     "f150w": MaskedColumn([1.0, 2.0, 3.0, 0.4, 5.0], unit=u.uJy,
    ...                           mask=[0, 0, 0, 1, 0]),
    ...     "f444w": [2.0, -0.1, 4.0, 1.0, 6.0] * u.uJy})
    >>> print(paper_sample(catalogue, bands=["f150w", "f444w"]))
    zspec f150w f444w
           uJy   uJy
    ----- ----- -----
      0.5   1.0   2.0
    """
    for name in (z, *bands):
        if name not in catalogue.colnames:
            raise KeyError(f"column {name!r} is not in the catalogue")
    keep = ~np.ma.getmaskarray(catalogue[z])
    keep &= np.ma.filled(np.asarray(catalogue[z], dtype=float) <= z_max, False)
    for band in bands:
        flux = catalogue[band]
        keep &= ~np.ma.getmaskarray(flux)
        keep &= np.ma.filled(np.ma.asarray(flux, dtype=float) > 0, False)
    return catalogue[keep]


def toy_catalogue(n=600, seed=1):
    """A toy catalogue to try the package on: ``n`` galaxies in bands g, r, i.

    Redshifts are uniform in [0.1, 3); the AB magnitudes are smooth
    functions of redshift (``g = 25 + z``, ``r = 24.5 + z / 2``,
    ``i = 24.2 + z^2 / 5``), so that colours determine it. Not a
    physical model: it serves the examples and quick trials without the
    catalogue download.

    Parameters
    ----------
    n : int, optional
        Number of galaxies.
    seed : int, optional
        Seed of the redshifts.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``g``, ``r``, ``i`` (flux densities in uJy) and ``zspec``.

    Examples
    --------
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(5)
    >>> table.colnames, str(table["g"].unit)
    (['g', 'r', 'i', 'zspec'], 'uJy')
    >>> print(f"{table['zspec'][0]:.3f}")
    1.584
    """
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 3, n)
    magnitudes = {"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2}
    table = Table({band: (mag * u.ABmag).to(u.uJy) for band, mag in magnitudes.items()})
    table["zspec"] = z
    return table


def toy_predictions(n=500, error_scale=1.0, seed=0):
    """Toy predictions with known errors, to try `photoz_numba.calibration` on.

    ``zspec`` is uniform in [0.2, 3), ``z_phot_err`` uniform in
    [0.02, 0.1), and ``z_phot = zspec + N(0, error_scale * z_phot_err)``:
    the stated errors are ``error_scale`` times too small.

    Parameters
    ----------
    n : int, optional
        Number of galaxies.
    error_scale : float, optional
        True error over stated error (1: right errors).
    seed : int, optional
        Seed of the draws.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``zspec``, ``z_phot`` and ``z_phot_err``.

    Examples
    --------
    >>> from photoz_numba.datasets import toy_predictions
    >>> t = toy_predictions(1000, error_scale=1.5)
    >>> pulls = (t["z_phot"] - t["zspec"]) / t["z_phot_err"]
    >>> print(f"std of the pulls: {pulls.std():.2f}")
    std of the pulls: 1.47
    """
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.2, 3, n)
    err = rng.uniform(0.02, 0.1, n)
    return Table({"zspec": z, "z_phot": z + rng.normal(0, error_scale * err),
                  "z_phot_err": err})
