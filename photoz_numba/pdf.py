# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Redshift probability distributions p(z) built from the method itself.

A calibrated model (`~photoz_numba.PhotoZModel.calibrate`) gives each
galaxy a p(z): a mixture centred on its kernel-ridge prediction, scaled by
its calibrated error, with

- a Gaussian core,
- a wide Gaussian tail, for catastrophic outliers, and
- one component per neighbour: that training galaxy's out-of-fold pull
  ``(z_spec - z_phot) / z_phot_err`` placed at the galaxy's prediction
  plus the pull times its error, smoothed by a triweight kernel.

The neighbours' pulls carry what one Gaussian cannot: heavy tails, and
catastrophic outliers, which appear as secondary peaks where the training
galaxies of that region of colour space were confused. Everything is
learnt on the training table alone: the pulls are out of fold, and the
mixture's four numbers (`PzState`) are chosen on the same out-of-fold
galaxies (`fit_pz_shape`), and so is a monotone recalibration of its CDF
by the distribution of their PIT values (so that intervals hold at every
level, not only at 68 and 95 %). That recalibration is learnt region by
region of the prediction ``z_hat`` when cross-validation on those galaxies
says it helps (`pit_regions`): one learnt on all galaxies at once is right
on average but can be off at the ends of the redshift range, where the
prediction leans towards the bulk of the training set. p(z) is truncated
at z = 0.

The percentiles are found by Newton's method on the mixture's CDF, kept
in a bisection bracket, compiled by Numba, so p(z) adds little to the cost
of a prediction (docs: calibration).
"""

import threading
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Table

from .exceptions import PhotoZWarning
from .metrics import outlier_fraction, sigma_nmad
from .schema import PzState

__all__ = ["PzState", "to_qp", "pz_percentiles", "pz_cdf", "pz_density", "fit_pz_shape",
           "pit_regions", "regional_knots", "check_recalibration", "central_coverage",
           "pit_ks", "check_grid", "combine_stacks", "GRID_LOSS"]

#: Coverage that the mixture's shape is held to on the training galaxies.
_NOMINAL = (0.6827, 0.9545)
_COVERAGE_WEIGHT = 200.0


def check_recalibration(pit_knots, pit_centres):
    """ValueError unless ``pit_knots`` and ``pit_centres`` make a PIT
    recalibration (`PzState`): 1-d knots and no centres, or one row of
    knots per centre, the centres finite and increasing."""
    knots = np.asarray(pit_knots, dtype=np.float64)
    if pit_centres is None:
        if knots.ndim != 1 or knots.size < 2:
            raise ValueError(f"pit_knots without pit_centres must be 1-d, of 2 or more "
                             f"knots, not of shape {knots.shape}")
        return
    centres = np.asarray(pit_centres, dtype=np.float64)
    if centres.ndim != 1 or knots.ndim != 2 or knots.shape[0] != centres.size \
            or knots.shape[1] < 2:
        raise ValueError(f"pit_knots of shape {knots.shape} do not match pit_centres of "
                         f"shape {centres.shape}: one row of knots per centre")
    if not (np.isfinite(centres).all() and (np.diff(centres) > 0).all()):
        raise ValueError(f"pit_centres must be finite and increasing, not {centres}")


def _params(state):
    from ._kernels.pz import PzParams
    check_recalibration(state.pit_knots, state.pit_centres)
    knots = np.ascontiguousarray(np.atleast_2d(state.pit_knots), dtype=np.float64)
    centres = (np.zeros(1) if state.pit_centres is None
               else np.ascontiguousarray(state.pit_centres, dtype=np.float64))
    z_max = np.inf if state.z_max is None else float(state.z_max)
    return PzParams(float(state.core_weight), float(state.core_width),
                    float(state.tail_weight), float(state.tail_width),
                    float(state.pull_scale), float(state.pull_width), 0.0, z_max, knots,
                    centres)


def _arrays(z_hat, scale, neighbours):
    return (np.ascontiguousarray(z_hat, dtype=np.float64),
            np.ascontiguousarray(scale, dtype=np.float64),
            np.ascontiguousarray(neighbours, dtype=np.int64))


def pz_percentiles(state, z_hat, scale, neighbours, probabilities):
    """Quantiles of each galaxy's p(z): an (n, len(probabilities)) array
    (NaN for a galaxy without a prediction)."""
    from ._kernels.pz import pz_quantiles
    z_hat, scale, neighbours = _arrays(z_hat, scale, neighbours)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    out = np.empty((z_hat.size, probabilities.size))
    pz_quantiles(z_hat, scale, np.ascontiguousarray(state.pulls, dtype=np.float64),
                 neighbours, _params(state), probabilities, out)
    return out


def _evaluate(kernel, state, z_hat, scale, neighbours, z):
    z_hat, scale, neighbours = _arrays(z_hat, scale, neighbours)
    z = np.asarray(z, dtype=np.float64)
    flat = z.ndim == 1
    z = np.ascontiguousarray(z.reshape(z_hat.size, -1))
    out = np.empty(z.shape)
    kernel(z_hat, scale, np.ascontiguousarray(state.pulls, dtype=np.float64), neighbours,
           _params(state), z, out)
    return out[:, 0] if flat else out


def pz_cdf(state, z_hat, scale, neighbours, z):
    """P(Z <= z) of each galaxy's p(z); ``z`` is (n,) or (n, m)."""
    from ._kernels.pz import pz_cdf as kernel
    return _evaluate(kernel, state, z_hat, scale, neighbours, z)


def pz_density(state, z_hat, scale, neighbours, z):
    """p(z) per unit redshift of each galaxy; ``z`` is (n,) or (n, m)."""
    from ._kernels.pz import pz_density as kernel
    return _evaluate(kernel, state, z_hat, scale, neighbours, z)


def central_coverage(pit, level):
    """Fraction of galaxies whose true redshift lies in the central
    interval of probability ``level`` of its p(z), from their PIT values.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.pdf import central_coverage
    >>> pit = np.linspace(0.0005, 0.9995, 1000)     # uniform: calibrated
    >>> round(float(central_coverage(pit, 0.68)), 3)
    0.68
    """
    pit = np.asarray(pit, dtype=float)
    pit = pit[np.isfinite(pit)]
    return float(np.mean(np.abs(pit - 0.5) <= 0.5 * level))


def pit_ks(pit):
    """Kolmogorov-Smirnov distance of PIT values from the uniform
    distribution (0: calibrated).

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.pdf import pit_ks
    >>> round(pit_ks(np.full(100, 0.5)), 2)          # all at the median
    0.5
    """
    pit = np.sort(np.asarray(pit, dtype=float)[np.isfinite(pit)])
    n = pit.size
    ranks = np.arange(1, n + 1)
    return float(max(np.max(ranks / n - pit), np.max(pit - (ranks - 1) / n)))


def check_grid(z_grid, name="z_grid"):
    """``z_grid`` as a float64 array, or ValueError if it is empty, not
    1-d, not finite or not strictly increasing."""
    grid = np.asarray(z_grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"{name} must be a 1-d array of at least 2 redshifts, "
                         f"not of shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError(f"{name} has NaN or infinite values (first at index "
                         f"{int(np.flatnonzero(~np.isfinite(grid))[0])})")
    steps = np.diff(grid)
    if not (steps > 0).all():
        bad = int(np.flatnonzero(~(steps > 0))[0])
        raise ValueError(f"{name} must be strictly increasing: {name}[{bad + 1}] = "
                         f"{grid[bad + 1]} follows {grid[bad]}")
    return grid


#: Probability of a p(z) that may lie outside a grid before it is said.
GRID_LOSS = 1e-3


def off_grid(within):
    """From each row's probability within a grid (NaN: no p(z)), the rows
    with more than `GRID_LOSS` of it outside the grid, and the least
    probability within it (1 if none)."""
    within = np.asarray(within, dtype=np.float64)
    short = within < 1.0 - GRID_LOSS
    return int(short.sum()), float(within[short].min()) if short.any() else 1.0


def warn_off_grid(n_short, least, n_rows, grid, stacklevel=3):
    """A PhotoZWarning when ``n_short`` of ``n_rows`` rows (`off_grid`)
    lose some of their p(z) outside ``grid``."""
    if n_short:
        warnings.warn(f"{n_short} of {n_rows} rows have more than {GRID_LOSS:.1%} of their "
                      f"p(z) outside the grid from {grid[0]:g} to {grid[-1]:g} (the least "
                      f"within it: {least:.4f}); their densities on it integrate to that, "
                      f"not 1: extend the grid to keep it", PhotoZWarning,
                      stacklevel=stacklevel)


def stack_outside(grid, n_z, weight_sum):
    """How much of a stack's weight ``weight_sum`` lies outside its grid
    (``n_z`` on ``grid``, as `stack_table`'s), and whether that is more
    than `GRID_LOSS` of it."""
    outside = float(weight_sum) - float(np.trapezoid(n_z, grid)) if len(grid) else 0.0
    return outside, bool(weight_sum > 0 and outside > GRID_LOSS * weight_sum)


def stack_table(grid, n_z, n_rows, n_stacked, weight_sum, n_extrapolated):
    """The Table of `~photoz_numba.PhotoZModel.stack_pdf`: columns ``z``
    and ``n_z``, the counts in ``meta``; a
    `~photoz_numba.exceptions.PhotoZWarning` says how many rows had no
    p(z), and another how much of the stacked p(z) lies outside the grid
    (when more than `GRID_LOSS` of it does)."""
    n_rows, n_stacked, n_extrapolated = int(n_rows), int(n_stacked), int(n_extrapolated)
    if n_stacked < n_rows:
        warnings.warn(f"{n_rows - n_stacked} of {n_rows} rows have no p(z) and are not in "
                      "the stack (no z_phot, or no error to give it a width: flag "
                      "no_error)", PhotoZWarning, stacklevel=3)
    outside, off = stack_outside(grid, n_z, weight_sum)
    if off:
        warnings.warn(f"{outside / weight_sum:.2%} of the stacked p(z) ({outside:.4g} of "
                      f"{float(weight_sum):.6g} galaxies' worth) lies outside the grid from "
                      f"{grid[0]:g} to {grid[-1]:g}: extend the grid to keep it",
                      PhotoZWarning, stacklevel=3)
    return Table({"z": grid, "n_z": n_z},
                 meta={"n_rows": n_rows, "n_stacked": n_stacked, "weight_sum": float(weight_sum),
                       "n_extrapolated": n_extrapolated})


def row_weights(table, weights, first_row=0):
    """One finite, non-negative, dimensionless weight per row of ``table``
    (1 when ``weights`` is None), from a column name or an array; else
    KeyError or ValueError naming the column and the first bad row (masked
    is bad), counted from ``first_row`` (for a chunk of a larger table)."""
    if weights is None:
        return np.ones(len(table))
    name = repr(weights) if isinstance(weights, str) else "weights"
    if isinstance(weights, str):
        if weights not in table.colnames:
            raise KeyError(f"column {weights!r} (weights) is not in the table "
                           f"(columns: {', '.join(table.colnames)})")
        weights = table[weights]
    unit = getattr(weights, "unit", None)
    if unit is not None and u.Unit(unit) != u.dimensionless_unscaled:
        raise ValueError(f"{name} must be dimensionless numbers, not in {unit}")
    values = np.ma.asarray(getattr(weights, "value", weights))
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, not {values.dtype}")
    if values.shape != (len(table),):
        raise ValueError(f"{name} must hold one weight per row ({len(table)}), "
                         f"not an array of shape {values.shape}")
    masked = np.ma.getmaskarray(values)
    values = np.ma.getdata(values).astype(np.float64)
    bad = masked | ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = (f" of rows {first_row} to {first_row + len(table) - 1}" if first_row
                 else "")
        raise ValueError(f"{name} must be finite and >= 0: {int(bad.sum())} rows{where} "
                         f"are not, the first row {first_row + first} "
                         f"({'masked' if masked[first] else values[first]})")
    return values


def combine_stacks(grid, stacks):
    """One `~photoz_numba.PhotoZModel.stack_pdf` result from those of the
    parts of a catalogue (chunks of a file, partitions of a DataFrame) on
    the grid ``grid``: their sums and counts added, and one warning for
    the rows that had no p(z). The caller, which has the model, judges the
    total ``n_extrapolated`` (`~photoz_numba.flags.warn_if_mostly_extrapolated`)."""
    grid = np.asarray(grid, dtype=np.float64)
    n_z = np.zeros(grid.size)
    counts = np.zeros(4)
    for stack in stacks:
        if not np.array_equal(np.asarray(stack["z"]), grid):
            raise ValueError("the stacks to combine are not on the same grid")
        n_z += np.asarray(stack["n_z"])
        counts += [stack.meta[name]
                   for name in ("n_rows", "n_stacked", "weight_sum", "n_extrapolated")]
    return stack_table(grid, n_z, *counts)


_QUIET_LOCK = threading.Lock()
_QUIET_CALLS = 0
_QUIET_FILTER = ("ignore", None, PhotoZWarning, None, 0)


def quiet(function, *args, **kwargs):
    """``function(*args, **kwargs)`` without its PhotoZWarnings (for the
    parts of a catalogue, whose total warns once).

    Safe in threads (Dask's default scheduler runs partitions in threads):
    the first call to start adds a filter that ignores PhotoZWarning and
    the last one to end takes that filter out again, whereas
    `warnings.catch_warnings` restores the whole filter list as it found
    it, so that overlapping calls in two threads could let a part's
    warning through, or leave PhotoZWarning ignored for good. While any
    call runs, other threads' PhotoZWarnings are ignored too."""
    global _QUIET_CALLS
    with _QUIET_LOCK:
        if _QUIET_CALLS == 0:
            # Inserted, not through simplefilter, which would move a
            # user's own such filter to the front and this would then
            # take it out. An "ignore" leaves the registries of warnings
            # shown alone, so they need no reset when it comes and goes.
            warnings.filters.insert(0, _QUIET_FILTER)
        _QUIET_CALLS += 1
    try:
        return function(*args, **kwargs)
    finally:
        with _QUIET_LOCK:
            _QUIET_CALLS -= 1
            # The first such filter is this one, unless a catch_warnings
            # ended meanwhile took it out with the rest.
            if _QUIET_CALLS == 0 and _QUIET_FILTER in warnings.filters:
                warnings.filters.remove(_QUIET_FILTER)


#: Values per array of the chunks of rows whose p(z) are taken on a whole
#: grid (`~photoz_numba.PhotoZModel.stack_pdf`, `photoz_numba.io.pdf_file`):
#: rows per chunk are this over the grid's points, so memory grows with
#: neither the table nor the grid.
_GRID_CHUNK_VALUES = 1 << 21


def grid_chunk_rows(n_points):
    """Rows per chunk for p(z) on a grid of ``n_points`` (1 to 4096)."""
    return int(np.clip(_GRID_CHUNK_VALUES // n_points, 1, 4096))


def cell_edges(grid):
    """The edges of each grid point's cell: half-way to the points before
    and after it (the end points' cells are halves)."""
    return np.concatenate([grid[:1], 0.5 * (grid[1:] + grid[:-1]), grid[-1:]])


#: Shapes tried by `fit_pz_shape`: (core_weight, core_width, tail_weight,
#: tail_width, pull_scale, pull_width).
SHAPES = tuple((weight, width, tail, 20.0, 1.0, pull_width) for weight in (0.4, 0.6, 0.8)
               for width in (0.6, 0.8, 1.0) for tail in (0.03, 0.06) for pull_width in (0.7,))
#: Levels of the PIT recalibration's knots as stored (the kernel's map is
#: linear between knots at levels j / m): every 0.005, so that each level
#: of `PIT_LEARN_LEVELS` is one of them.
PIT_LEVELS = np.linspace(0.0, 1.0, 201)
#: Levels at which the recalibration is learnt (the training galaxies' PIT
#: quantiles), the map linear between them: every 0.05, and the levels of
#: the percentile columns (0.025, 0.16, 0.84, 0.975) so that the intervals
#: read from them are the training galaxies' own quantiles rather than an
#: interpolation across the tails (0.15 and 0.85 give way to 0.16 and 0.84).
PIT_LEARN_LEVELS = np.array([0.0, 0.025, 0.05, 0.1, 0.16, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
                             0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.84, 0.9, 0.95, 0.975,
                             1.0])
#: Numbers of regions of ``z_hat`` tried for the PIT recalibration
#: (`pit_regions`), and the fewest training galaxies a region may hold.
PIT_REGIONS = (1, 2, 4, 6, 8)
PIT_REGION_MIN = 300


def pz_scores(state, z_hat, scale, neighbours, z_true):
    """Per galaxy: the integral of p(z)^2, p(z_true) and the PIT."""
    from ._kernels.pz import pz_scores as kernel
    z_hat, scale, neighbours = _arrays(z_hat, scale, neighbours)
    out = np.empty((z_hat.size, 3))
    kernel(z_hat, scale, np.ascontiguousarray(state.pulls, dtype=np.float64), neighbours,
           _params(state), np.ascontiguousarray(z_true, dtype=np.float64), out)
    return out


def pit_knots(pit):
    """Knots of the PIT recalibration: the PIT values' quantiles at
    `PIT_LEARN_LEVELS`, interpolated linearly onto `PIT_LEVELS` (so the
    map is unchanged), pinned to 0 and 1 and strictly increasing."""
    pit = np.asarray(pit, dtype=float)
    knots = np.quantile(pit[np.isfinite(pit)], PIT_LEARN_LEVELS)
    knots = np.maximum.accumulate(np.clip(knots, 0.0, 1.0))
    knots = np.interp(PIT_LEVELS, PIT_LEARN_LEVELS, knots)
    tilt = 1e-9 * np.arange(knots.size)
    knots = (knots + tilt) / (1.0 + tilt[-1])
    knots[0], knots[-1] = 0.0, 1.0
    return knots


def regional_knots(z_hat, pit, n_regions):
    """PIT recalibrations of ``n_regions`` regions of ``z_hat`` holding as
    many galaxies each (its quantiles): their centres (the median
    ``z_hat`` of each) and knots (`pit_knots` of each region's raw PIT
    values, one row each); for one region, None and the 1-d knots of all.
    None instead of the pair when a region would hold fewer than
    `PIT_REGION_MIN` galaxies or the centres do not increase (ties)."""
    if n_regions == 1:
        return None, pit_knots(pit)
    if z_hat.size < n_regions * PIT_REGION_MIN:
        return None
    order = np.argsort(z_hat, kind="stable")
    parts = np.array_split(order, n_regions)
    centres = np.array([np.median(z_hat[part]) for part in parts])
    if not (np.diff(centres) > 0).all():
        return None
    return centres, np.array([pit_knots(pit[part]) for part in parts])


def cde_from_scores(scores):
    """The CDE loss (Izbicki & Lee 2017), mean of the integral of p(z)^2
    minus twice the mean of p(z_true), from `pz_scores` (rows with a NaN
    left out)."""
    ok = np.isfinite(scores).all(axis=1)
    return float(np.mean(scores[ok, 0]) - 2.0 * np.mean(scores[ok, 1]))


def _cde_loss(state, z_hat, scale, neighbours, z_spec):
    return cde_from_scores(pz_scores(state, z_hat, scale, neighbours, z_spec))


def pit_regions(state, z_hat, scale, neighbours, z_spec, seed=0):
    """``state`` with the PIT recalibration learnt region by region of
    ``z_hat`` (`regional_knots`), in as many regions of `PIT_REGIONS` as
    scores best by 2-fold cross-validation on these galaxies: each half's
    CDE loss with the recalibrations learnt on the other half, summed
    (fewer regions on a tie). One region is the recalibration of all
    galaxies at once (1-d ``pit_knots``, no ``pit_centres``)."""
    raw = pz_scores(state._replace(pit_knots=PIT_LEVELS, pit_centres=None), z_hat, scale,
                    neighbours, z_spec)[:, 2]
    halves = np.random.default_rng(seed).permutation(z_hat.size) % 2 == 0
    losses = []
    for n_regions in PIT_REGIONS:
        loss = 0.0
        for learn in (halves, ~halves):
            learnt = regional_knots(z_hat[learn], raw[learn], n_regions)
            if learnt is None:
                loss = np.inf
                break
            trial = state._replace(pit_centres=learnt[0], pit_knots=learnt[1])
            held = ~learn
            loss += _cde_loss(trial, z_hat[held], scale[held], neighbours[held],
                              z_spec[held]) * held.sum()
        losses.append((loss, n_regions))
    # The best that the whole set allows too (its centres could tie where
    # the halves' did not); one region always can.
    for _, n_regions in sorted(losses + [(np.inf, 1)]):
        learnt = regional_knots(z_hat, raw, n_regions)
        if learnt is not None:
            return state._replace(pit_centres=learnt[0], pit_knots=learnt[1])


def fit_pz_shape(z_hat, scale, pulls, neighbours, z_spec, z_max=None):
    """Choose the mixture's shape on training galaxies predicted out of fold.

    Parameters
    ----------
    z_hat, scale : ndarray
        Each training galaxy's out-of-fold prediction and calibrated error.
    pulls : ndarray
        Each training galaxy's out-of-fold pull (NaN where none).
    neighbours : ndarray of int (n, k)
        Each training galaxy's neighbours in the training set, itself
        left out (-1 where none).
    z_spec : ndarray
        Their spectroscopic redshifts.
    z_max : float, optional
        The redshift p(z) is truncated at (`PzState`): the training set's
        highest; None for none.

    Returns
    -------
    state : `PzState`
        For each shape of `SHAPES`, the PIT recalibration is learnt on
        these galaxies, then the CDE loss (Izbicki & Lee 2017) of the
        recalibrated p(z) is measured on them; the shape with the lowest
        loss is kept. Its recalibration is then learnt again region by
        region of ``z_hat`` where that scores better (`pit_regions`).
        ``point`` is whichever of the kernel prediction and p(z)'s median
        scores better on sigma_NMAD + 0.1 outlier fraction (the tuning
        objective).
    """
    ok = np.isfinite(z_hat) & np.isfinite(scale) & (scale > 0) & np.isfinite(z_spec)
    z_hat, scale, neighbours, z_spec = z_hat[ok], scale[ok], neighbours[ok], z_spec[ok]
    pulls = np.ascontiguousarray(pulls, dtype=np.float64)
    best, best_loss = None, np.inf
    for shape in SHAPES:
        trial = PzState(pulls, *shape, PIT_LEVELS, "kernel", z_max=z_max)
        raw_pit = pz_scores(trial, z_hat, scale, neighbours, z_spec)[:, 2]
        trial = trial._replace(pit_knots=pit_knots(raw_pit))
        loss = _cde_loss(trial, z_hat, scale, neighbours, z_spec)
        if loss < best_loss:
            best, best_loss = trial, loss
    best = pit_regions(best, z_hat, scale, neighbours, z_spec)
    median = pz_percentiles(best, z_hat, scale, neighbours, [0.5])[:, 0]
    scores = {point: sigma_nmad(values, z_spec) + 0.1 * outlier_fraction(values, z_spec)
              for point, values in (("kernel", z_hat), ("median", median))}
    return best._replace(point=min(scores, key=scores.get))


def to_qp(model, table, z_grid, units=None, n_threads=None):
    """The p(z) of every row as a `qp <https://github.com/LSSTDESC/qp>`_
    ``Ensemble`` (interpolated on ``z_grid``), for RAIL and other tools
    that read qp.

    qp is an optional dependency: ``pip install 'photoz_numba[qp]'``.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A model with a p(z) (`~photoz_numba.PhotoZModel.calibrate`).
    table : `~astropy.table.Table`
        Galaxies with the model's input columns; rows that cannot be
        predicted must be removed first (qp has no masked distributions).
    z_grid : array-like
        Strictly increasing redshifts that cover the distributions: qp
        renormalises each to the grid, so a row with some of its p(z)
        beyond the grid is distorted: a
        `~photoz_numba.exceptions.PhotoZWarning` says how many rows have
        more than `GRID_LOSS` of it outside, as
        `~photoz_numba.PhotoZModel.pdf` does.
    units, n_threads
        As for `~photoz_numba.PhotoZModel.predict`.

    Returns
    -------
    ensemble : ``qp.Ensemble``
        One distribution per row, of qp's ``interp`` parametrisation.

    Raises
    ------
    ImportError
        qp is not installed.
    ValueError
        A row has no prediction, or ``z_grid`` is invalid.

    Examples
    --------
    .. doctest-requires:: qp

        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> from photoz_numba.pdf import to_qp
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> ensemble = to_qp(model, table[1000:1010], np.linspace(0, 4, 4001))
        >>> int(ensemble.npdf)
        10
    """
    try:
        import qp
    except ImportError:
        raise ImportError("to_qp needs qp: pip install 'photoz_numba[qp]' "
                          "(the qp-prob package)") from None
    from .flags import n_extrapolated
    grid = check_grid(z_grid)
    density, flag = quiet(model.pdf, table, grid, units=units, n_threads=n_threads,
                          return_flags=True)
    # Said here, so that the warnings point at to_qp's caller.
    warn_off_grid(*off_grid(np.trapezoid(density, grid, axis=1)), len(table), grid)
    model.warn_if_mostly_extrapolated(n_extrapolated(flag), len(table))
    missing = ~np.isfinite(density).all(axis=1)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} rows have no p(z) (first: row "
                         f"{int(np.flatnonzero(missing)[0])}); remove them first")
    return qp.Ensemble(qp.interp, data=dict(xvals=grid, yvals=density))
