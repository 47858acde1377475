# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The pulls as a Gaussian core plus a broad outlier component, fitted by MCMC.

`fit_pull_mixture` samples the posterior of the core's centre and width,
the outlier fraction and the outlier component's width with the affine
ensemble sampler of emcee, and returns a `PullMixture`: the posterior
medians and 68 % intervals (`Estimate`) and the chain's diagnostics. The
core's width is the figure of the errors that outliers do not drag: a
width fitted to all pulls would be. emcee is imported only when a fit
runs.

This module needs no other part of the subpackage;
``photoz_numba.calibration.diagnostics`` imports it for the optional
mixture fit of `calibration_report`.
"""

import math
import warnings
from collections import namedtuple

import numpy as np
from astropy.table import Table
from scipy import stats

from ..exceptions import ShortChainWarning
from ..metrics import NMAD_SCALE

__all__ = ["fit_pull_mixture", "PullMixture", "Estimate"]


# Validates pulls given as an array; here rather than in the diagnostics,
# which use it too, so that this module imports none of them.
def _finite_pulls(values):
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no pulls given")
    if not np.isfinite(values).all():
        raise ValueError(f"pulls must be finite; {int((~np.isfinite(values)).sum())} "
                         f"are not")
    return values


Estimate = namedtuple("Estimate", "median lower upper")
Estimate.__doc__ = """A posterior summary: median and the 16th and 84th percentiles.

A named tuple; the parameters of a `PullMixture` are of this type.

Attributes
----------
median : float
    Posterior median.
lower, upper : float
    15.865th and 84.135th percentiles of the posterior: the 68 %
    interval (median ± 1 sigma for a Gaussian posterior).

Examples
--------
>>> from photoz_numba.calibration import Estimate
>>> e = Estimate(median=1.2, lower=1.1, upper=1.35)
>>> e.median, round(e.upper - e.lower, 2)
(1.2, 0.25)
>>> median, lower, upper = e
>>> lower
1.1
"""

# Prior bounds (see fit_pull_mixture).
_MU_MAX = 10.0
_S_RANGE = (0.01, 100.0)
_F_MAX = 0.5
_OUTLIER_WIDTH_MIN_RATIO = 3.0
_OUTLIER_WIDTH_MAX = 1000.0
_PARAMS = ("mu", "s", "f", "outlier_width")


def _log_prior(theta):
    mu, log_s, f, log_w = theta.T
    ok = ((np.abs(mu) < _MU_MAX) & (log_s > math.log(_S_RANGE[0]))
          & (log_s < math.log(_S_RANGE[1])) & (f > 0) & (f < _F_MAX)
          & (log_w > log_s + math.log(_OUTLIER_WIDTH_MIN_RATIO))
          & (log_w < math.log(_OUTLIER_WIDTH_MAX)))
    # log S uniform on [log 3s, log 1000] given s: its density is 1 / width.
    width = math.log(_OUTLIER_WIDTH_MAX) - math.log(_OUTLIER_WIDTH_MIN_RATIO) - log_s
    return np.where(ok, -np.log(np.where(ok, width, 1.0)), -np.inf)


def _log_probability(theta, x):
    theta = np.atleast_2d(theta)
    prior = _log_prior(theta)
    out = np.full(theta.shape[0], -np.inf)
    ok = np.isfinite(prior)
    if ok.any():
        mu, log_s, f, log_w = (column[:, None] for column in theta[ok].T)
        d2 = (x[None, :] - mu) ** 2
        core = np.log1p(-f) - log_s - 0.5 * d2 * np.exp(-2 * log_s)
        broad = np.log(f) - log_w - 0.5 * d2 * np.exp(-2 * log_w)
        like = np.logaddexp(core, broad).sum(axis=1) - 0.5 * x.size * math.log(2 * math.pi)
        out[ok] = prior[ok] + like
    return out


class PullMixture:
    """Posterior of the mixture fit of the pulls (see `fit_pull_mixture`).

    Attributes
    ----------
    mu, s, f, outlier_width : `Estimate`
        Posterior median and 68 % interval (16th to 84th percentile) of
        the core's centre and width, the outlier fraction and the outlier
        component's width.
    samples : ndarray, shape (n, 4)
        Posterior samples after burn-in, columns as above.
    acceptance_fraction : float
        Mean acceptance fraction of the walkers (0.2 to 0.5 is healthy).
    autocorr_time : dict
        Integrated autocorrelation time of each parameter, in steps.
    n_walkers, n_steps, burn, n_points : int
        Chain shape, steps discarded, pulls fitted.
    converged : bool
        The kept chain is at least 50 autocorrelation times long.

    Examples
    --------
    Pulls with a core 1.3 wide and 10 % outliers, fitted with a chain far
    too short to be trusted (the default ``n_steps`` is 4000):

    >>> import warnings
    >>> import numpy as np
    >>> from photoz_numba.calibration import fit_pull_mixture
    >>> rng = np.random.default_rng(3)
    >>> outlier = rng.random(500) < 0.1
    >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
    >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
    ...     warnings.simplefilter("ignore")
    ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
    >>> fit  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    <PullMixture of 500 pulls: mu = 0.00... [-0.0..., 0.0...]  s = 1.2... [1.1..., 1.2...]
      f = 0.0... [0.0..., 0.1...]  outlier width = ... [...]
      acceptance 0.4..., autocorrelation time ... steps, 225 kept x 16 walkers
      (TOO SHORT: < 50 autocorrelation times)>

    (The digits beyond these depend on the CPU: NumPy's vectorised
    functions round differently on different processors, and the chain
    amplifies it.)
    >>> print(f"s = {fit.s.median:.2f} [{fit.s.lower:.2f}, {fit.s.upper:.2f}]")
    s = 1.22 [1.18, 1.27]
    >>> fit.samples.shape, fit.converged
    ((3600, 4), False)
    """

    def __init__(self, samples, acceptance_fraction, autocorr_time, n_walkers, n_steps,
                 burn, n_points):
        self.samples = samples
        lower, median, upper = np.percentile(samples, [15.865, 50, 84.135], axis=0)
        for i, name in enumerate(_PARAMS):
            setattr(self, name, Estimate(float(median[i]), float(lower[i]), float(upper[i])))
        self.acceptance_fraction = float(acceptance_fraction)
        self.autocorr_time = dict(zip(_PARAMS, (float(t) for t in autocorr_time)))
        self.n_walkers, self.n_steps, self.burn = n_walkers, n_steps, burn
        self.n_points = n_points
        self.converged = bool(n_steps - burn >= 50 * max(self.autocorr_time.values()))

    def pdf(self, x):
        """The mixture density at the posterior medians.

        Parameters
        ----------
        x : array-like
            Pulls to evaluate the density at.

        Returns
        -------
        density : ndarray or float
            ``(1 - f) N(x; mu, s) + f N(x; mu, S)`` with the posterior
            medians of ``mu``, ``s``, ``f`` and ``S`` (``outlier_width``);
            of the shape of ``x``.

        Examples
        --------
        >>> import warnings
        >>> import numpy as np
        >>> from photoz_numba.calibration import fit_pull_mixture
        >>> rng = np.random.default_rng(3)
        >>> outlier = rng.random(500) < 0.1
        >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
        >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
        ...     warnings.simplefilter("ignore")
        ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
        >>> fit.pdf([0.0, 1.0, 10.0]).round(1)
        array([0.3, 0.2, 0. ])
        """
        x = np.asarray(x, dtype=float)
        mu, s, f, w = self.mu.median, self.s.median, self.f.median, self.outlier_width.median
        return (1 - f) * stats.norm.pdf(x, mu, s) + f * stats.norm.pdf(x, mu, w)

    def _rows(self):
        return [("mixture_mu", self.mu, 0.0, "centre of the Gaussian core of the pulls"),
                ("mixture_s", self.s, 1.0, "width of the Gaussian core"),
                ("mixture_f", self.f, 0.0, "fraction in the broad outlier component"),
                ("mixture_outlier_width", self.outlier_width, np.nan,
                 "width of the outlier component")]

    def _diagnostics(self):
        return [("mixture_acceptance_fraction", self.acceptance_fraction,
                 "mean acceptance fraction of the walkers"),
                ("mixture_autocorr_time", max(self.autocorr_time.values()),
                 "largest integrated autocorrelation time (steps)"),
                ("mixture_chain_steps", float(self.n_steps - self.burn),
                 f"steps kept per walker ({self.n_walkers} walkers)")]

    def to_table(self):
        """Parameters with median, lower and upper; diagnostics in ``meta``.

        Returns
        -------
        table : `~astropy.table.Table`
            Four rows, ``mixture_mu``, ``mixture_s``, ``mixture_f`` and
            ``mixture_outlier_width``, with columns ``parameter``,
            ``median``, ``lower`` and ``upper`` (the 68 % interval);
            ``meta`` holds ``mixture_acceptance_fraction``,
            ``mixture_autocorr_time`` (the largest, in steps) and
            ``mixture_chain_steps`` (kept per walker).

        Examples
        --------
        >>> import warnings
        >>> import numpy as np
        >>> from photoz_numba.calibration import fit_pull_mixture
        >>> rng = np.random.default_rng(3)
        >>> outlier = rng.random(500) < 0.1
        >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
        >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
        ...     warnings.simplefilter("ignore")
        ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
        >>> table = fit.to_table()
        >>> for row in table:
        ...     print(f"{row['parameter']:>21}: {row['median']:.1f} "
        ...           f"[{row['lower']:.1f}, {row['upper']:.1f}]")
                   mixture_mu: 0.0 [-0.1, 0.1]
                    mixture_s: 1.2 [1.2, 1.3]
                    mixture_f: 0.1 [0.1, 0.1]
        mixture_outlier_width: 9.2 [8.3, 10.2]
        >>> table.meta["mixture_chain_steps"]
        225.0
        """
        table = Table(rows=[(name, *estimate) for name, estimate, _, _ in self._rows()],
                      names=("parameter", "median", "lower", "upper"))
        table.meta.update({name: value for name, value, _ in self._diagnostics()})
        return table

    def __repr__(self):
        def show(name, e):
            return f"{name} = {e.median:.3f} [{e.lower:.3f}, {e.upper:.3f}]"
        return (f"<PullMixture of {self.n_points} pulls: {show('mu', self.mu)}  "
                f"{show('s', self.s)}\n  {show('f', self.f)}  "
                f"{show('outlier width', self.outlier_width)}\n  acceptance "
                f"{self.acceptance_fraction:.2f}, autocorrelation time "
                f"{max(self.autocorr_time.values()):.0f} steps, {self.n_steps - self.burn} "
                f"kept x {self.n_walkers} walkers"
                f"{'' if self.converged else ' (TOO SHORT: < 50 autocorrelation times)'}>")


def _start(x, rng, n_walkers):
    """Walkers around robust estimates, inside the prior."""
    mu = float(np.median(x))
    s = float(np.clip(NMAD_SCALE * np.median(np.abs(x - mu)), 0.02, 50))
    far = np.abs(x - mu) > 4 * s
    f = float(np.clip(far.mean(), 0.01, 0.4))
    width = float(np.std(x[far] - mu)) if far.sum() > 1 else 10 * s
    width = float(np.clip(width, 5 * s, 0.5 * _OUTLIER_WIDTH_MAX))
    centre = np.array([mu, math.log(s), f, math.log(width)])
    scatter = np.array([0.05 * s, 0.05, 0.1 * f, 0.1])
    p0 = centre + scatter * rng.standard_normal((n_walkers, 4))
    p0[:, 2] = np.clip(p0[:, 2], 1e-3, _F_MAX - 1e-3)
    return p0


class _Interruptible:
    """The log-probability for emcee, which prints the walkers and a
    traceback for any exception raised in it, Ctrl-C's KeyboardInterrupt
    too: one raised here is noted and the walkers get -inf until the step
    ends, and `fit_pull_mixture` raises it again between steps, outside
    emcee's handler. Other exceptions pass through as they are."""

    def __init__(self, function):
        self.function = function
        self.interrupted = None

    def __call__(self, theta, x):
        if self.interrupted is None:
            try:
                return self.function(theta, x)
            except KeyboardInterrupt as exc:
                self.interrupted = exc
        return np.full(len(theta), -np.inf)


def fit_pull_mixture(values, n_walkers=32, n_steps=4000, burn=None, random_state=None,
                     max_points=20_000):
    """Fit the pulls with a Gaussian core plus a broad outlier component (emcee).

    The model of a pull ``x`` is

        p(x) = (1 - f) N(x; mu, s) + f N(x; mu, S)

    a core of centre ``mu`` and width ``s`` (0 and 1 for right errors)
    and a fraction ``f`` of outliers in a Gaussian of the same centre and
    width ``S`` > 3 s. Priors: ``mu`` uniform on (-10, 10); ``s``
    log-uniform on (0.01, 100); ``f`` uniform on (0, 0.5), the outliers
    being the minority; ``S`` log-uniform on (3 s, 1000). The affine
    ensemble sampler of emcee (differential-evolution moves) runs
    ``n_walkers`` walkers for ``n_steps`` steps from robust starting
    values; the first ``burn`` are discarded. The integrated
    autocorrelation time is `emcee.EnsembleSampler.get_autocorr_time`
    (``tol=0``) of the kept chain.

    Parameters
    ----------
    values : array-like
        Finite pulls, at least 20.
    n_walkers : int, optional
        Walkers (at least 8).
    n_steps : int, optional
        Steps per walker. The integrated autocorrelation time is about 15
        steps with a clear outlier component and up to about 55 when
        there is none (``f`` near 0 mixes slowest): the default keeps
        3000 steps, enough for both.
    burn : int, optional
        Steps discarded as burn-in (default: a quarter of ``n_steps``).
    random_state : int or `numpy.random.Generator`, optional
        Seeds the starting values and the sampler: the same seed gives
        the same chain.
    max_points : int, optional
        Above this many pulls, a random subset of this size (drawn with
        ``random_state``) is fitted, so that the run time stays bounded;
        ``n_points`` of the result says how many.

    Returns
    -------
    fit : `PullMixture`

    Warns
    -----
    ShortChainWarning
        The kept chain is shorter than 50 integrated autocorrelation
        times: run more steps.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import fit_pull_mixture
    >>> rng = np.random.default_rng(3)
    >>> outlier = rng.random(1000) < 0.1
    >>> x = np.where(outlier, rng.normal(-0.2, 8, 1000), rng.normal(-0.2, 1.3, 1000))
    >>> fit = fit_pull_mixture(x, n_steps=2000, random_state=1)
    >>> print(f"s = {fit.s.median:.2f} [{fit.s.lower:.2f}, {fit.s.upper:.2f}]")
    s = 1.34 [1.30, 1.38]
    >>> fit.converged, 0.2 < fit.acceptance_fraction < 0.7
    (True, True)
    """
    import emcee

    x = _finite_pulls(values)
    if x.size < 20:
        raise ValueError(f"the mixture fit needs at least 20 pulls, got {x.size}")
    n_walkers, n_steps = int(n_walkers), int(n_steps)
    if n_walkers < 8:
        raise ValueError(f"n_walkers must be >= 8 (2 x 4 parameters), not {n_walkers}")
    burn = n_steps // 4 if burn is None else int(burn)
    if not 0 <= burn < n_steps or n_steps - burn < 10:
        raise ValueError(f"need 0 <= burn < n_steps with at least 10 steps kept; got "
                         f"n_steps={n_steps}, burn={burn}")
    rng = np.random.default_rng(random_state)
    if x.size > max_points:
        x = rng.choice(x, size=int(max_points), replace=False)
    # Differential-evolution moves mix this posterior about three times
    # faster (autocorrelation ~15 steps) than the default stretch move.
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    log_probability = _Interruptible(_log_probability)
    sampler = emcee.EnsembleSampler(n_walkers, 4, log_probability, args=(x,),
                                    vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(
        rng.integers(2 ** 32, dtype=np.uint64)).get_state()
    # invalid: once interrupted in the first evaluation, every walker is at
    # -inf and emcee's acceptance test subtracts -inf from -inf.
    with np.errstate(invalid="ignore"):
        for _ in sampler.sample(_start(x, rng, n_walkers), iterations=n_steps,
                                progress=False):
            if log_probability.interrupted is not None:
                raise log_probability.interrupted
    if log_probability.interrupted is not None:     # in the last step
        raise log_probability.interrupted
    tau = sampler.get_autocorr_time(discard=burn, tol=0)
    samples = sampler.get_chain(discard=burn, flat=True).copy()
    samples[:, 1] = np.exp(samples[:, 1])
    samples[:, 3] = np.exp(samples[:, 3])
    fit = PullMixture(samples, np.mean(sampler.acceptance_fraction), tau, n_walkers,
                      n_steps, burn, x.size)
    if not fit.converged:
        warnings.warn(f"the mixture chain keeps {n_steps - burn} steps, fewer than 50 "
                      f"autocorrelation times ({max(tau):.0f} steps): its intervals and "
                      f"autocorrelation time are not reliable; raise n_steps",
                      ShortChainWarning)
    return fit
