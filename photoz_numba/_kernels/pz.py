# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Redshift probability distributions p(z) from a galaxy's neighbours,
compiled by Numba.

A galaxy's p(z) is a mixture centred on its kernel-ridge prediction
``z_hat`` with scale ``s`` (its calibrated error):

- a core: weight ``core_weight``, a Gaussian of width ``core_width * s``;
- a tail: weight ``tail_weight``, a Gaussian of width ``tail_width * s``,
  for the catastrophic outliers no neighbour foretells;
- one component per neighbour ``j`` (the rest of the weight, shared):
  the training galaxy's out-of-fold pull ``u_j = (z_j - z_hat_j) / s_j``
  placed at ``z_hat + pull_scale * s * u_j``, smoothed by a triweight
  kernel of half-width ``pull_width * s``.

The neighbours' pulls carry the heavy tails and the catastrophic
outliers of the region of colour space the galaxy is in, so p(z) is
multimodal where the training galaxies around it were confused. p(z) is
truncated at ``z_min`` (0) and at ``z_max`` (the training set's highest
redshift; infinite for none) and renormalised (where nearly none of it
lies below ``z_max``, a prediction far beyond the training set's range, it
is truncated at ``z_min`` alone), and recalibrated by a
monotone map of its CDF, ``F -> G(F)``, with ``G`` the distribution of the
training galaxies' out-of-fold PIT values (``pit_knots``: its quantiles at
evenly spaced levels, piecewise linear in between; ``0, 1/m, ..., 1`` is
no change). ``pit_knots`` has one row per region of ``z_hat``, learnt on
the training galaxies of that region, with the regions' centres in
``pit_centres`` (increasing): a galaxy's knots are interpolated linearly
in ``z_hat`` between the two rows around it (the first or last row
beyond the ends), which keeps them increasing, so its map stays monotone. The triweight kernel has
compact support and a polynomial CDF, so a CDF costs one erfc (the core)
and a few polynomials (the components within reach of z; those below are
counted on the sorted centres).
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange
from numba.core import config

from ._jit import _JIT, compile_key, compile_notice, kernel_pointer

__all__ = []

#: Shape of the mixture (see the module docstring); chosen by
#: cross-validation in `~photoz_numba.PhotoZModel.calibrate`.
PzParams = namedtuple("PzParams", ["core_weight", "core_width", "tail_weight", "tail_width",
                                   "pull_scale", "pull_width", "z_min", "z_max",
                                   "pit_knots", "pit_centres"])

#: Least probability between z_min and z_max for p(z) to be truncated at
#: z_max (see the module docstring).
_LEAST_WITHIN = 1e-9

#: Evaluations of the CDF per quantile, at most (bisection alone narrows
#: a bracket of 160 scales to the tolerance, 1e-7 scale, in 31).
_EVALUATIONS = 100

#: Each body and `compile_key` of the loop of `_galaxies` that runs it that
#: this process has compiled or loaded (no compile check on later calls).
_READY = set()


@njit(**_JIT)
def _triweight_cdf(t):
    """CDF of the triweight kernel 35/32 (1 - t^2)^3 on [-1, 1]."""
    if t <= -1.0:
        return 0.0
    if t >= 1.0:
        return 1.0
    t2 = t * t
    return 0.5 + 35.0 / 32.0 * t * (1.0 - t2 * (1.0 - t2 * (0.6 - t2 / 7.0)))


@njit(**_JIT)
def _sorted_centres(z_hat, scale, pulls, neighbours, q, params, centres):
    """Component centres of galaxy ``q``, ascending, into ``centres``;
    returns their number (neighbours with a finite pull)."""
    n = 0
    for i in range(neighbours.shape[1]):
        row = neighbours[q, i]
        if row < 0:
            continue
        u = pulls[row]
        if not np.isfinite(u):
            continue
        c = z_hat + params.pull_scale * scale * u
        pos = n
        while pos > 0 and centres[pos - 1] > c:
            centres[pos] = centres[pos - 1]
            pos -= 1
        centres[pos] = c
        n += 1
    return n


@njit(**_JIT)
def _raw_cdf(z, z_hat, scale, centres, n, params):
    """Untruncated mixture CDF at z."""
    core = 0.5 * math.erfc(-(z - z_hat) / (params.core_width * scale * math.sqrt(2.0)))
    tail = 0.5 * math.erfc(-(z - z_hat) / (params.tail_width * scale * math.sqrt(2.0)))
    rest = 1.0 - params.core_weight - params.tail_weight
    if n == 0:
        return (params.core_weight * core + params.tail_weight * tail) / (1.0 - rest)
    half = params.pull_width * scale
    # Components entirely below z count 1: centres below z - half.
    low, high = 0, n
    while low < high:
        mid = (low + high) // 2
        if centres[mid] <= z - half:
            low = mid + 1
        else:
            high = mid
    total = float(low)
    j = low
    while j < n and centres[j] < z + half:
        total += _triweight_cdf((z - centres[j]) / half)
        j += 1
    return params.core_weight * core + params.tail_weight * tail + rest * total / n


@njit(**_JIT)
def _raw_sf(z, z_hat, scale, centres, n, params):
    """Untruncated mixture's survival function at z, 1 - `_raw_cdf`,
    computed as such: exact where it is tiny (far above z_hat)."""
    core = 0.5 * math.erfc((z - z_hat) / (params.core_width * scale * math.sqrt(2.0)))
    tail = 0.5 * math.erfc((z - z_hat) / (params.tail_width * scale * math.sqrt(2.0)))
    rest = 1.0 - params.core_weight - params.tail_weight
    if n == 0:
        return (params.core_weight * core + params.tail_weight * tail) / (1.0 - rest)
    half = params.pull_width * scale
    # Components entirely above z count 1: centres at or above z + half.
    low, high = 0, n
    while low < high:
        mid = (low + high) // 2
        if centres[mid] < z + half:
            low = mid + 1
        else:
            high = mid
    total = float(n - low)
    j = low - 1
    while j >= 0 and centres[j] > z - half:
        total += _triweight_cdf((centres[j] - z) / half)
        j -= 1
    return params.core_weight * core + params.tail_weight * tail + rest * total / n


@njit(**_JIT)
def _cdf(z, z_hat, scale, centres, n, params, cut):
    """CDF truncated at params.z_min and the top of ``cut`` (`_truncation`)."""
    reference, mass, top, upper = cut
    if z <= params.z_min:
        return 0.0
    if z >= top or not mass > 0.0:
        return 1.0
    if upper > 0.0:
        return (reference - _raw_sf(z, z_hat, scale, centres, n, params)) / mass
    return (_raw_cdf(z, z_hat, scale, centres, n, params) - reference) / mass


@njit(**_JIT)
def _truncation(z_hat, scale, centres, n, params):
    """``(reference, mass, top, upper)``: what `_cdf` measures from
    (below), the raw probability between z_min and the top, the top, z_max
    (infinite for a galaxy predicted above z_max, whose p(z) would
    otherwise keep only its tail below z_max, far from its z_hat; and when
    less than `_LEAST_WITHIN` lies below it), and how `_cdf` measures:
    ``upper`` 0, by the raw CDF less ``reference``, the raw CDF at z_min;
    ``upper`` 1, when most of the mixture lies below z_min, by the
    survival function (`_raw_sf`) from ``reference``, the survival
    function at z_min, so that a galaxy predicted far below z_min keeps
    the digits of its p(z) above it (1 - the raw CDF would lose them all).
    A mass of 0 (none of it above z_min that doubles can hold) is all of
    it at z_min."""
    below = _raw_cdf(params.z_min, z_hat, scale, centres, n, params)
    within_top = np.isfinite(params.z_max) and z_hat <= params.z_max
    if below > 0.5:
        above = _raw_sf(params.z_min, z_hat, scale, centres, n, params)
        if within_top:
            mass = above - _raw_sf(params.z_max, z_hat, scale, centres, n, params)
            if mass > 0.0:
                return above, mass, params.z_max, 1.0
        return above, above, np.inf, 1.0
    if within_top:
        mass = _raw_cdf(params.z_max, z_hat, scale, centres, n, params) - below
        if mass >= _LEAST_WITHIN:
            return below, mass, params.z_max, 0.0
    return below, 1.0 - below, np.inf, 0.0


@njit(**_JIT)
def _density(z, z_hat, scale, centres, n, params, cut):
    """The truncated, renormalised mixture's density at z (before the PIT
    map)."""
    if z < params.z_min or z > cut[2] or not cut[1] > 0.0:
        return 0.0
    return _raw_pdf(z, z_hat, scale, centres, n, params) / cut[1]


@njit(**_JIT)
def _interval(F, knots):
    """The knot interval [low, low + 1] that holds F (knots[0] <= F <=
    knots[-1]), by bisection: the last knot at or below F, short of the
    end."""
    low, high = 0, knots.shape[0] - 1
    while high - low > 1:
        mid = (low + high) // 2
        if knots[mid] <= F:
            low = mid
        else:
            high = mid
    return low


@njit(**_JIT)
def _map(F, knots):
    """G(F): the recalibrated CDF (knots: G's inverse at levels j / m)."""
    m = knots.shape[0] - 1
    if F <= knots[0]:
        return 0.0
    if F >= knots[m]:
        return 1.0
    low = _interval(F, knots)
    span = knots[low + 1] - knots[low]
    frac = (F - knots[low]) / span if span > 0.0 else 0.0
    return (low + frac) / m


@njit(**_JIT)
def _map_slope(F, knots):
    """dG/dF at F."""
    m = knots.shape[0] - 1
    if F < knots[0] or F > knots[m]:
        return 0.0
    low = _interval(F, knots)
    span = knots[low + 1] - knots[low]
    return 1.0 / (m * span) if span > 0.0 else 0.0


@njit(**_JIT)
def _unmap(p, knots):
    """G's inverse at p."""
    m = knots.shape[0] - 1
    x = min(max(p, 0.0), 1.0) * m
    low = min(int(x), m - 1)
    return knots[low] + (x - low) * (knots[low + 1] - knots[low])


@njit(**_JIT)
def _galaxy_knots(z_hat, params, knots):
    """The PIT map's knots of a galaxy at ``z_hat``, into ``knots``: the
    rows of ``params.pit_knots`` interpolated linearly between the region
    centres around ``z_hat`` (the end rows beyond them)."""
    table, centres = params.pit_knots, params.pit_centres
    last = centres.shape[0] - 1
    low = 0
    frac = 0.0
    if last > 0 and z_hat >= centres[last]:
        low = last
    elif last > 0 and z_hat > centres[0]:
        while centres[low + 1] <= z_hat:
            low += 1
        frac = (z_hat - centres[low]) / (centres[low + 1] - centres[low])
    high = min(low + 1, last)
    for j in range(table.shape[1]):
        knots[j] = (1.0 - frac) * table[low, j] + frac * table[high, j]


@njit(**_JIT)
def _galaxy(q, z_hat, scale, pulls, neighbours, params, centres, knots):
    """What every p(z) of galaxy q needs: its components' centres, sorted,
    into ``centres`` (`_sorted_centres`), its PIT map into ``knots``
    (`_galaxy_knots`); returns their number and its truncation
    (`_truncation`)."""
    n = _sorted_centres(z_hat[q], scale[q], pulls, neighbours, q, params, centres)
    _galaxy_knots(z_hat[q], params, knots)
    return n, _truncation(z_hat[q], scale[q], centres, n, params)


@njit(**_JIT)
def _usable(z_hat, scale):
    return np.isfinite(z_hat) and np.isfinite(scale) and scale > 0.0


@njit(**_JIT)
def _support(z_hat, scale, centres, n, params, cut):
    """An interval that holds all of a galaxy's p(z) but its Gaussians'
    tails beyond 8 widths, within z_min and the top of ``cut`` (its
    truncation, `_truncation`). For a galaxy predicted so far below z_min
    that most of its mixture lies below (``cut``'s ``upper``), what is
    left above z_min is a thin tail: the interval is doubled until it
    holds all of that but 1e-12."""
    top = cut[2]
    spread = max(8.0 * params.core_width, 8.0 * params.tail_width, params.pull_width) * scale
    lowest, highest = z_hat - spread, z_hat + spread
    if n > 0:
        lowest = min(lowest, centres[0] - params.pull_width * scale)
        highest = max(highest, centres[n - 1] + params.pull_width * scale)
    lowest = max(lowest, params.z_min)
    highest = max(highest, lowest + scale)
    if cut[3] > 0.0:
        for _ in range(60):
            if highest >= top or _cdf(highest, z_hat, scale, centres, n, params,
                                      cut) >= 1.0 - 1e-12:
                break
            highest = lowest + 2.0 * (highest - lowest)
    if highest > top:
        highest = top
        if lowest >= top:               # (not reached: some p(z) lies below top)
            lowest = params.z_min
    return lowest, highest


@njit(**_JIT)
def _quantile(probability, low, high, z_hat, scale, centres, n, params, cut, knots):
    """The redshift of recalibrated CDF ``probability`` in [low, high]
    (``knots``: the galaxy's map, `_galaxy_knots`), to 1e-7 of the scale:
    Newton's method on the CDF (its derivative is the density), kept in a
    bracket that each evaluation narrows. A step that would leave the
    bracket bisects it instead, and so does one no shorter than half the
    move before it: Newton's steps can cross a mixture's flat stretches
    from one end of the bracket to the other and back, narrowing it little
    each time. Returns the redshift and the bracket's low end (below the
    quantile, where the search for a higher one can start)."""
    target = _unmap(probability, knots)
    tolerance = 1e-7 * scale
    z = 0.5 * (low + high)
    last = high - low                   # the last move of z (the bracket, at first)
    for _ in range(_EVALUATIONS):
        F = _cdf(z, z_hat, scale, centres, n, params, cut)
        if F < target:
            low = z
        else:
            high = z
        if high - low <= tolerance:
            return 0.5 * (low + high), low
        density = _density(z, z_hat, scale, centres, n, params, cut)
        # (A density below 1e-300 would let the step overflow: bisect.)
        if z > params.z_min and density > 1e-300:
            step = (target - F) / density
            if abs(step) <= tolerance and low <= z + step <= high:
                return z + step, low
            if low < z + step < high and abs(step) < 0.5 * last:
                last = abs(step)
                z += step
                continue
        middle = 0.5 * (low + high)
        last = abs(middle - z)
        z = middle
    return 0.5 * (low + high), low


@njit(**_JIT)
def _quantiles_of(q, z_hat, scale, pulls, neighbours, params, probs, out, centres, knots):
    """Galaxy q of `pz_quantiles` (``centres`` and ``knots``: scratch)."""
    n, cut = _galaxy(q, z_hat, scale, pulls, neighbours, params, centres, knots)
    s = scale[q]
    lowest, highest = _support(z_hat[q], s, centres, n, params, cut)
    # Each quantile is searched above the last where the probabilities
    # rise, from the bottom again where they fall.
    start = lowest
    for p in range(probs.shape[0]):
        out[q, p], low = _quantile(probs[p], start, highest, z_hat[q], s, centres, n,
                                   params, cut, knots)
        if p + 1 < probs.shape[0]:
            start = low if probs[p + 1] >= probs[p] else lowest
    return np.int64(1)


def pz_quantiles(z_hat, scale, pulls, neighbours, params, probs, out):
    """``out[q, p]``: the ``probs[p]`` quantile of galaxy q's p(z) (NaN
    where ``z_hat`` or ``scale`` is not finite)."""
    _each_galaxy(_quantiles_of, z_hat, scale, pulls, neighbours, params, probs, out)


@njit(**_JIT)
def _curve_of(q, z_hat, scale, pulls, neighbours, params, extra, out, centres, knots):
    """Galaxy q of `pz_cdf` and `pz_density`: ``extra`` is ``(z,
    density)``, the redshifts and whether to give p(z) (True) or its CDF
    there."""
    z, density = extra
    n, cut = _galaxy(q, z_hat, scale, pulls, neighbours, params, centres, knots)
    for j in range(z.shape[1]):
        value = z[q, j]
        if np.isnan(value):
            out[q, j] = np.nan
        elif density and (value < params.z_min or value > cut[2]):
            out[q, j] = 0.0
        else:
            F = _cdf(value, z_hat[q], scale[q], centres, n, params, cut)
            if density:
                out[q, j] = (_map_slope(F, knots)
                             * _density(value, z_hat[q], scale[q], centres, n, params, cut))
            else:
                out[q, j] = _map(F, knots)
    return np.int64(1)


def pz_cdf(z_hat, scale, pulls, neighbours, params, z, out):
    """``out[q, j]``: P(Z <= z[q, j]) for galaxy q (NaN where z is NaN or
    the galaxy has no p(z))."""
    _each_galaxy(_curve_of, z_hat, scale, pulls, neighbours, params, (z, False), out)


@njit(**_JIT)
def _triweight_pdf(t):
    if t <= -1.0 or t >= 1.0:
        return 0.0
    t2 = 1.0 - t * t
    return 35.0 / 32.0 * t2 * t2 * t2


@njit(**_JIT)
def _raw_pdf(z, z_hat, scale, centres, n, params):
    width = params.core_width * scale
    core = math.exp(-0.5 * ((z - z_hat) / width) ** 2) / (width * math.sqrt(2.0 * math.pi))
    wide = params.tail_width * scale
    tail = math.exp(-0.5 * ((z - z_hat) / wide) ** 2) / (wide * math.sqrt(2.0 * math.pi))
    rest = 1.0 - params.core_weight - params.tail_weight
    if n == 0:
        return (params.core_weight * core + params.tail_weight * tail) / (1.0 - rest)
    half = params.pull_width * scale
    total = 0.0
    for j in range(n):
        total += _triweight_pdf((z - centres[j]) / half)
    return params.core_weight * core + params.tail_weight * tail + rest * total / (n * half)


def pz_density(z_hat, scale, pulls, neighbours, params, z, out):
    """``out[q, j]``: galaxy q's p(z) (per unit redshift) at z[q, j]."""
    _each_galaxy(_curve_of, z_hat, scale, pulls, neighbours, params, (z, True), out)


#: Points of the trapezoid rule for p(z)^2 across a galaxy's whole p(z)
#: (`_squared_integral`), enough for its wide tail; and per width of its
#: narrowest component where its core and neighbours' components lie.
_QUADRATURE = 400
_PER_WIDTH = 20
#: The core's stretch fine points cover: this many of its widths each side.
_CORE_WIDTHS = 6.0


@njit(**_JIT)
def _squared_segment(a, b, step, zq, s, centres, n, params, cut, knots):
    """The trapezoid rule for p(z)^2 over [a, b], in steps of at most ``step``."""
    if not b > a:
        return 0.0
    count = max(int(math.ceil((b - a) / step)), 1)
    h = (b - a) / count
    total = 0.0
    for i in range(count + 1):
        z = a + i * h if i < count else b
        F = _cdf(z, zq, s, centres, n, params, cut)
        density = _map_slope(F, knots) * _density(z, zq, s, centres, n, params, cut)
        total += (0.5 if i == 0 or i == count else 1.0) * density * density
    return total * h


@njit(**_JIT)
def _squared_integral(zq, s, centres, n, params, cut, knots, first, last):
    """The integral of p(z)^2 over [first, last]: the trapezoid rule in
    steps of (last - first) / (`_QUADRATURE` - 1), except over the
    stretches where the narrow components lie, the core (`_CORE_WIDTHS`
    of its width each side of z_hat) and each neighbour's triweight, merged
    where they overlap, which get `_PER_WIDTH` points per width of the
    narrowest of them. One step across the whole would be about a quarter
    of the core's width when the wide tail sets the span, and miss the
    shape of the components (integrals off by up to a fifth)."""
    coarse = (last - first) / (_QUADRATURE - 1)
    fine = min(params.core_width, params.pull_width) * s / _PER_WIDTH
    if not fine < coarse:
        return _squared_segment(first, last, coarse, zq, s, centres, n, params, cut, knots)
    half = params.pull_width * s
    core_low = zq - _CORE_WIDTHS * params.core_width * s
    core_high = zq + _CORE_WIDTHS * params.core_width * s
    total = 0.0
    z = first
    j = 0
    core_left = True
    # The narrow stretches in order of their starts (the centres are
    # sorted), each merged with those that start before it ends.
    while z < last and (j < n or core_left):
        if j < n and not (core_left and core_low <= centres[j] - half):
            a, b = centres[j] - half, centres[j] + half
            j += 1
        else:
            a, b = core_low, core_high
            core_left = False
        while True:
            if j < n and centres[j] - half <= b and not (core_left and core_low
                                                         <= centres[j] - half):
                b = max(b, centres[j] + half)
                j += 1
            elif core_left and core_low <= b:
                b = max(b, core_high)
                core_left = False
            else:
                break
        a, b = max(a, z), min(b, last)
        if b > a:
            total += _squared_segment(z, a, coarse, zq, s, centres, n, params, cut, knots)
            total += _squared_segment(a, b, fine, zq, s, centres, n, params, cut, knots)
            z = b
    return total + _squared_segment(z, last, coarse, zq, s, centres, n, params, cut, knots)


@njit(**_JIT)
def _scores_of(q, z_hat, scale, pulls, neighbours, params, z_true, out, centres, knots):
    """Galaxy q of `pz_scores`."""
    zq, s = z_hat[q], scale[q]
    n, cut = _galaxy(q, z_hat, scale, pulls, neighbours, params, centres, knots)
    lowest, highest = _support(zq, s, centres, n, params, cut)
    first = _quantile(1e-4, lowest, highest, zq, s, centres, n, params, cut, knots)[0]
    last = _quantile(1.0 - 1e-4, lowest, highest, zq, s, centres, n, params, cut,
                     knots)[0]
    out[q, 0] = _squared_integral(zq, s, centres, n, params, cut, knots, first, last)
    zt = z_true[q]
    if zt < params.z_min:
        out[q, 1] = 0.0
        out[q, 2] = 0.0
    else:
        F = _cdf(zt, zq, s, centres, n, params, cut)
        out[q, 1] = _map_slope(F, knots) * _density(zt, zq, s, centres, n, params, cut)
        out[q, 2] = _map(F, knots)
    return np.int64(1)


def pz_scores(z_hat, scale, pulls, neighbours, params, z_true, out):
    """Per galaxy: ``out[q, 0]`` the integral of p(z)^2 between its 0.0001
    and 0.9999 quantiles (`_squared_integral`),
    ``out[q, 1]`` p(z_true) and ``out[q, 2]`` the PIT, P(Z <= z_true):
    the terms of the CDE loss and the calibration."""
    _each_galaxy(_scores_of, z_hat, scale, pulls, neighbours, params, z_true, out)


#: What each body computes, for its compile notice (a first ``calibrate``
#: compiles two, a first p(z) prediction one more).
_WHAT = {"_quantiles_of": "percentiles", "_curve_of": "CDF and density",
         "_scores_of": "CDE scores and PIT"}


def _each_galaxy(body, z_hat, scale, pulls, neighbours, params, extra, out):
    """Run a p(z) kernel: ``body`` (``_quantiles_of``, ``_curve_of`` or
    ``_scores_of``, which fill their galaxy's row of ``out``) for every
    galaxy, in `_galaxies`'
    parallel loop, called through a pointer (`KernelPointer`): each body
    is compiled and cached once, on its own, and the parallel loop, a few
    lines, once per type of ``extra`` and ``out``; linked into four
    parallel loops instead, each body was compiled again in each of the
    four functions Numba makes of a ``prange`` loop."""
    args = (z_hat, scale, pulls, neighbours, params, extra, out)
    scratch = (np.empty(1), np.empty(1))
    pointer = kernel_pointer(body, (np.int64(0),) + args + scratch)
    if config.DISABLE_JIT:
        done = _galaxies(pointer, *args)
    else:
        loop = (_galaxies, (pointer,) + args)
        key = (body, compile_key(loop))
        if key in _READY:
            done = _galaxies(pointer, *args)
        else:
            # A first call on a machine compiles, announced once. (A second
            # process compiling the body meanwhile, as a first prediction
            # does, saved nothing measurable: the loop is short.)
            with compile_notice([loop, pointer],
                                what=f"p(z) kernels ({_WHAT[body.__name__]})"):
                done = _galaxies(pointer, *args)
            _READY.add(key)
    if done != z_hat.shape[0]:
        # A body allocates nothing and raises nothing; should one fail all
        # the same, its error was printed (it cannot cross the call
        # through a pointer), and no p(z) is returned half computed.
        raise RuntimeError(f"{z_hat.shape[0] - done} of {z_hat.shape[0]} galaxies' p(z) "
                           "could not be computed (the error is printed above)")


@njit(parallel=True, **_JIT)
def _galaxies(body, z_hat, scale, pulls, neighbours, params, extra, out):
    """`_each_galaxy`'s loop: ``body(q, ...)`` with scratch of its own for
    each galaxy q that has a p(z), a row of NaN in ``out`` for the others
    (``z_hat`` or ``scale`` not finite); returns the number of galaxies
    done (a body that failed returns 0)."""
    done = 0
    for q in prange(z_hat.shape[0]):
        if not _usable(z_hat[q], scale[q]):
            for j in range(out.shape[1]):
                out[q, j] = np.nan
            done += 1
            continue
        centres = np.empty(neighbours.shape[1])
        knots = np.empty(params.pit_knots.shape[1])
        done += body(np.int64(q), z_hat, scale, pulls, neighbours, params, extra, out,
                     centres, knots)
    return done
