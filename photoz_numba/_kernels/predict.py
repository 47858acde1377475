# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The per-galaxy predict loop, compiled by Numba.

One ``numba.prange`` loop runs over blocks of query galaxies; each block
owns its scratch buffers, so nothing is allocated per galaxy. For each
galaxy the loop does:

1. the ``k`` training galaxies nearest in (standardised) feature space,
   exactly, ties broken by the lower training index (`search`);
2. the Gram solve: ``alpha = (K + lam I)^-1 (z - c)`` by Cholesky, with
   ``K_ij = exp(-gamma |x_i - x_j|^2)`` and ``c`` the offset (0 in the
   paper, or the neighbours' median or mean redshift) (`ridge`);
3. the prediction ``z_phot = c + sum_i alpha_i K(x, x_i)``;
4. clipping: the neighbours' residuals ``r = (z - c) - K alpha``, which
   equal ``lam alpha`` since ``(K + lam I) alpha = z - c``, give
   ``sigma = sqrt(mean(r^2))``; neighbours with ``|r| > clip_sigma *
   sigma`` are dropped and steps 2-3 are redone once on the rest (unless
   fewer than `MIN_FIT` would be left: then the first fit stands): from the
   full fit's factor for a few dropped neighbours, otherwise reusing the
   Cholesky columns before the first dropped neighbour (they are those of
   the submatrix's factor). The RMS residual of the final fit is
   ``z_phot_err``.
"""

from collections import namedtuple

import numpy as np
from numba import njit, prange, types
from numba.core import config

from ..metrics import OUTLIER
from ._jit import _INLINE, _JIT, compile_notice, kernel_pointer
from .ridge import (DropScratch, drop_scratch, exp_into, fit_scratch, max_block_drops, rbf_gram,
                    refit_without, ridge_fit)
from .search import (_BLOCK, _nearest, _query_keys, bound_from, nearest_pointer, query_order,
                     search_mode, search_scratch)

__all__ = []

#: Offset modes understood by the kernel, by name.
OFFSET_MODES = {"none": 0, "median": 1, "mean": 2}

# Per-galaxy status bits returned by the kernel; `photoz_numba.flags`
# maps them onto the public ``z_phot_flag`` bits.
STATUS_OK = 0
STATUS_SKIPPED = 1          # the caller marked the galaxy as not predictable
STATUS_SOLVE_FAILED = 2     # K + lam I was not positive definite in floating point
STATUS_EXTRAPOLATION = 4    # outside its neighbours' bounding box in some feature
STATUS_SPLIT = 8            # neighbours at a distant redshift hold SPLIT_SHARE of the weight
STATUS_NO_SPREAD = 16       # fewer than MIN_FIT neighbours fitted, or all at one redshift
STATUS_TWIN = 32            # the nearest training galaxy has the galaxy's very features

#: `STATUS_SPLIT` is set when the neighbours whose redshift z_j would make
#: ``z_phot`` an outlier, ``|z_phot - z_j| > SPLIT_DISTANCE (1 + z_j)``,
#: hold at least this share of the k neighbours' rank weight (the n-th
#: nearest weighing 1/n, as in `window_members`). Chosen by
#: cross-validation on the paper's training parts (docs: method).
SPLIT_SHARE = 0.25
#: The outlier threshold on ``|dz| / (1 + z)``.
SPLIT_DISTANCE = OUTLIER

#: The method's hyper-parameters as the kernel takes them: ``k``
#: neighbours, RBF width ``gamma`` and ridge ``lam`` (both > 0), the
#: clipping threshold ``clip_sigma`` in units of the RMS residual (inf
#: disables it) and ``offset_mode``, a value of `OFFSET_MODES`.
#: ``window``: the neighbours fitted are those within ``window (1 + z0)``
#: of the redshift z0 that has the most of them within that distance (inf
#: fits them all). ``second_group``: the window's group gives way to the
#: heaviest window of the other neighbours when that holds at least this
#: share of the first's rank weight and is nearer on average in the
#: kernel's sense (`closer_group`); inf never.
RidgeParams = namedtuple("RidgeParams", ["k", "gamma", "lam", "clip_sigma", "offset_mode",
                                         "window", "second_group"], defaults=(np.inf, np.inf))
#: Arrays the kernel fills, one entry per query: ``z_phot`` and
#: ``z_phot_err`` (float64), ``n_used`` (neighbours in the final fit) and
#: ``status`` (``STATUS_*`` bits), both int64; and ``neighbours`` (int64,
#: n_query x k), the training rows of each query's k neighbours, nearest
#: first (-1 where there is none), filled only when it has n_query rows
#: (give it 0 rows otherwise).
PredictOutputs = namedtuple("PredictOutputs", ["z_phot", "z_phot_err", "n_used", "status",
                                               "neighbours"])


def ridge_params(k, gamma, lam, clip_sigma, offset, window=None, second_group=None):
    """`RidgeParams` with the types the compiled kernel expects, from a
    model's settings (``clip_sigma``, ``window`` and ``second_group`` None
    disable clipping, the redshift window and the second group; ``offset``
    a key of `OFFSET_MODES`)."""
    clip = np.inf if clip_sigma is None else float(clip_sigma)
    window = np.inf if window is None else float(window)
    second = np.inf if second_group is None else float(second_group)
    return RidgeParams(int(k), float(gamma), float(lam), clip, OFFSET_MODES[offset], window,
                       second)


#: Scratch of `window_members` for up to k neighbours: their order by
#: redshift, the window bounds in that order, the prefix sums of their
#: squared distances and rank weights (k + 1), their rank weights, and
#: for `closer_group` the other neighbours' redshifts, squared distances,
#: rank weights and positions and the second window's members.
WindowScratch = namedtuple("WindowScratch", ["by_z", "low", "high", "prefix", "weight",
                                             "rank", "z_rest", "d2_rest", "w_rest", "at",
                                             "second"])


@njit(**_INLINE)
def window_scratch(k):
    """A `WindowScratch` for up to ``k`` neighbours."""
    rank = np.empty(k)
    for j in range(k):
        rank[j] = 1.0 / (j + 1.0)
    return WindowScratch(np.empty(k, np.int64), np.empty(k), np.empty(k), np.empty(k + 1),
                         np.empty(k + 1), rank, np.empty(k), np.empty(k), np.empty(k),
                         np.empty(k, np.int64), np.empty(k, np.int64))


#: The fewest neighbours a fit may rest on after clipping, and a second
#: group (`closer_group`) may have: a fit to one or two has no spread to
#: give ``z_phot_err`` (their RMS residual is 0 or nearly), and a lone
#: neighbour would always be nearer on average. Clipping that would leave
#: fewer keeps the unclipped fit.
MIN_FIT = 3
SECOND_GROUP_MIN = MIN_FIT

#: Window weights closer than this count as equal (then the squared
#: distances decide): sums of the same 1 / rank in another order.
WINDOW_TIE = 1e-12


@njit(**_INLINE)
def window_members(z, d2, n, width, member, scratch):
    """`weighted_window` with the rank weights: neighbour j (nearest
    first: j = 0 the nearest) weighing ``1 / (j + 1)``."""
    return weighted_window(z, d2, scratch.rank, n, width, member, scratch)


@njit(**_JIT)
def weighted_window(z, d2, rank, n, width, member, scratch):
    """The neighbours in the densest redshift window, into ``member``.

    Of the windows ``|z - z0| <= width (1 + z0)`` (0 < width < 1), the one
    whose neighbours weigh most, neighbour j weighing ``rank[j]`` (the
    rank weight, so that the nearest neighbours count most); among equals
    (within `WINDOW_TIE`), the one whose members'
    squared distances ``d2`` sum least, then the lowest z0. Neighbour j
    is in the window of z0 when ``low_j = (z_j - width) / (1 + width) <=
    z0 <= (z_j + width) / (1 - width) = high_j``, which is how membership
    is tested (so that a neighbour is in the window at its own end points
    whatever the rounding). The best z0 is some ``low_i``. Both bounds
    grow with z, so in redshift order the members of z0 = low_i are a run
    of neighbours, which two pointers follow as i grows; prefix sums give
    each run's weight and d2 sum. O(n^2) for the insertion sort at worst,
    O(n) after it. Writes the members' indices, increasing, to ``member``
    and returns how many. ``scratch`` is a `WindowScratch`.
    """
    by_z, low, high, prefix = scratch.by_z, scratch.low, scratch.high, scratch.prefix
    weight = scratch.weight
    for j in range(n):      # insertion sort by (z, index)
        pos = j
        while pos > 0 and z[by_z[pos - 1]] > z[j]:
            by_z[pos] = by_z[pos - 1]
            pos -= 1
        by_z[pos] = j
    prefix[0] = 0.0
    weight[0] = 0.0
    for t in range(n):
        z_t = z[by_z[t]]
        low[t] = (z_t - width) / (1.0 + width)
        high[t] = (z_t + width) / (1.0 - width)
        prefix[t + 1] = prefix[t] + d2[by_z[t]]
        weight[t + 1] = weight[t] + rank[by_z[t]]
    best_count = -1.0
    best_d2 = np.inf
    best_z0 = np.inf
    first = 0
    last = 0
    for t in range(n):
        z0 = low[t]
        last = max(last, t)
        while last + 1 < n and low[last + 1] <= z0:
            last += 1
        while high[first] < z0:
            first += 1
        count = weight[last + 1] - weight[first]
        total = prefix[last + 1] - prefix[first]
        if (count > best_count + WINDOW_TIE or (abs(count - best_count) <= WINDOW_TIE and (
                total < best_d2 or (total == best_d2 and z0 < best_z0)))):
            best_count, best_d2, best_z0 = count, total, z0
    m = 0
    for j in range(n):
        if (z[j] - width) / (1.0 + width) <= best_z0 <= (z[j] + width) / (1.0 - width):
            member[m] = j
            m += 1
    return m


@njit(**_JIT)
def split_weight(z_train, order, nbr_pos, n, zp, rank):
    """The share of the rank weight of ``n`` neighbours (training rows
    ``order[nbr_pos[:n]]``, nearest first, the j-th weighing ``rank[j]``,
    1 / (j + 1) from `window_scratch`) held by those whose redshift z_j is
    an outlier's distance from ``zp``: ``|zp - z_j| > SPLIT_DISTANCE (1 +
    z_j)``, as if z_j were the truth. With the window these are neighbours
    it left out."""
    total = 0.0
    far = 0.0
    for i in range(n):
        weight = rank[i]
        total += weight
        z_i = z_train[order[nbr_pos[i]]]
        if abs(zp - z_i) > SPLIT_DISTANCE * (1.0 + z_i):
            far += weight
    return far / total if total > 0.0 else 0.0


@njit(**_JIT)
def closer_group(z, d2, n, width, gamma, share, member, m, scratch):
    """The neighbours to fit: the window's ``member[:m]`` (`window_members`)
    or a second group. The second group is the heaviest window
    (`weighted_window`, rank weights kept) of the neighbours not in the
    first; it replaces the first when it holds at least ``share`` of the
    first's rank weight, has at least `SECOND_GROUP_MIN` members, and its
    members are nearer on average in the kernel's sense, ``mean
    exp(-gamma d2)`` larger. Where the colours are
    degenerate, the many neighbours of a common population can outweigh a
    few near ones of another; this lets the near ones win. Writes the
    members, increasing, to ``member`` and returns how many."""
    rank, z_rest, d2_rest, w_rest = scratch.rank, scratch.z_rest, scratch.d2_rest, scratch.w_rest
    at, second = scratch.at, scratch.second
    weight_first = 0.0
    weight_rest = 0.0
    n_rest = np.int64(0)
    a = 0
    for j in range(n):
        if a < m and member[a] == j:
            weight_first += rank[j]
            a += 1
        else:
            z_rest[n_rest] = z[j]
            d2_rest[n_rest] = d2[j]
            w_rest[n_rest] = rank[j]        # each keeps its rank's weight
            weight_rest += rank[j]
            at[n_rest] = j
            n_rest += 1
    # Most galaxies stop here: the rest together are too light (with a
    # margin for the rounding of sums in another order).
    if n_rest < SECOND_GROUP_MIN or weight_rest < share * weight_first * (1.0 - 1e-12):
        return m
    m_second = weighted_window(z_rest, d2_rest, w_rest, n_rest, width, second, scratch)
    if m_second < SECOND_GROUP_MIN:
        return m
    weight_second = 0.0
    for i in range(m_second):
        weight_second += rank[at[second[i]]]
    if not weight_second >= share * weight_first:
        return m
    near_first = 0.0
    for a in range(m):
        near_first += np.exp(-gamma * d2[member[a]])
    near_second = 0.0
    for i in range(m_second):
        near_second += np.exp(-gamma * d2[at[second[i]]])
    if near_second * m > near_first * m_second:
        for i in range(m_second):
            member[i] = at[second[i]]
        return m_second
    return m


@njit(**_INLINE)
def no_spread(z, n):
    """Whether the ``n`` redshifts ``z[:n]`` of a final fit have no spread
    to give an error: fewer than `MIN_FIT` of them, or all equal (their
    RMS residual is then 0 or nearly, whatever the offset)."""
    if n < MIN_FIT:
        return True
    for i in range(1, n):
        if z[i] != z[0]:
            return False
    return True


def empty_outputs(n, k=0):
    """`PredictOutputs` for ``n`` queries, uninitialised; with ``k``, room
    for their neighbours too."""
    return PredictOutputs(np.empty(n), np.empty(n), np.empty(n, np.int64),
                          np.empty(n, np.int64), np.empty((n if k else 0, max(k, 1)), np.int64))


def predict_kernel(index, z_train, x_query, predictable, params, out):
    """Predict redshifts for every row of ``x_query``.

    Parameters
    ----------
    index : `~photoz_numba._kernels.search.SearchIndex`
        The standardised training set.
    z_train : float64 array (n_train,)
        Training redshifts, in training-row order.
    x_query : float64 array (n_query, n_feat)
        Standardised features of the galaxies to predict.
    predictable : bool array (n_query,)
        False for galaxies to skip (outputs NaN, ``STATUS_SKIPPED``).
    params : `RidgeParams`
        ``k`` (``1 <= k <= n_train``), ``gamma``, ``lam``, ``clip_sigma``
        and ``offset_mode`` (`ridge_params` makes one).
    out : `PredictOutputs`
        Arrays of n_query entries that receive the results, allocated by
        the caller (so that a pipeline can reuse them chunk after chunk).

    Examples
    --------
    `~photoz_numba.PhotoZModel` calls this; directly, on plain arrays:

    >>> import numpy as np
    >>> from photoz_numba._kernels.predict import (empty_outputs, predict_kernel,
    ...                                            ridge_params)
    >>> from photoz_numba._kernels.search import build_index
    >>> rng = np.random.default_rng(0)
    >>> z_train = rng.uniform(0, 3, 400)
    >>> x_train = np.column_stack([z_train, z_train ** 2]) + rng.normal(0, 0.01, (400, 2))
    >>> x_query = np.array([[1.0, 1.0], [2.0, 4.0]])
    >>> out = empty_outputs(2)
    >>> predict_kernel(build_index(x_train.T), z_train, x_query, np.ones(2, bool),
    ...                ridge_params(20, 1.0, 0.01, 3.0, "median"), out)
    >>> print(np.round(out.z_phot, 2), out.status)
    [1. 2.] [0 0]
    """
    # One layout for the compiled loops (a strided view is copied).
    x_query = np.ascontiguousarray(x_query, dtype=np.float64)
    mode = kernel_mode(index, params)
    steps = step_pointers(index, params, mode)
    if mode in _READY:
        _run_blocks(index, z_train, x_query, predictable, params, out, steps, mode)
        return
    no_order = np.empty(0, np.int64)
    block_args = (np.int64(0), Queries(x_query, predictable, no_order), index, z_train, params,
                  out, steps, *mode)
    # A single leaf's query order needs no kernel (`query_order`).
    order_kernel = [] if mode[0] else [(_query_keys, (index, x_query))]
    block_kernel = kernel_pointer(_predict_block, block_args)
    loop = (_predict_all, (block_kernel,) + block_args[1:])
    # The steps compile in a second process meanwhile (`compile_elsewhere`).
    with compile_notice(order_kernel + [block_kernel, loop], elsewhere=steps):
        _run_blocks(index, z_train, x_query, predictable, params, out, steps, mode)
    _READY.add(mode)


# The modes (`kernel_mode`) whose loop this process has compiled or loaded.
_READY = set()


def kernel_mode(index, params):
    """``(scan, tree, approx, second)``, each True or None: the search
    `search_mode` selects, and ``second`` True when ``params`` asks for a
    second group (`closer_group`). Passed to the compiled loops as
    arguments, so that Numba drops the branches on those that are None
    before it compiles anything: a model without a second group never
    compiles `closer_group` (more than a second of a cold start)."""
    return search_mode(index) + (True if params.second_group < np.inf else None,)


def _run_blocks(index, z_train, x_query, predictable, params, out, steps, mode):
    """`predict_kernel` once its notice is dealt with: the queries' order,
    then the parallel loop over their blocks."""
    queries = Queries(x_query, predictable, query_order(index, x_query))
    args = (queries, index, z_train, params, out, steps, *mode)
    done = _predict_all(kernel_pointer(_predict_block, (np.int64(0),) + args), *args)
    n_blocks = (x_query.shape[0] + _BLOCK - 1) // _BLOCK
    if done != n_blocks:
        # Only a failed allocation can stop a block; the error that did
        # was printed, since it cannot cross the call through a pointer.
        raise MemoryError(f"{n_blocks - done} of the {n_blocks} blocks of galaxies "
                          "could not be predicted (the error is printed above)")


#: The per-galaxy steps `_predict_block` calls through pointers
#: (`KernelPointer`), each compiled and cached on its own: the search
#: (`_nearest`), the fit (`ridge_fit`) and the clipped refit
#: (`refit_without`). Linked into the block's kernel instead, each would
#: be optimised and turned into machine code again there, and the block's
#: kernel could not be compiled until they were. One indirect call per
#: galaxy and step costs nothing measurable beside the step's own work.
Steps = namedtuple("Steps", ["nearest", "fit", "refit"])

#: The galaxies `_predict_block` predicts: their features ``x`` (n_query
#: x n_feat), ``predictable`` (False: skipped) and the order ``by_place``
#: in which the blocks take them (`query_order`).
Queries = namedtuple("Queries", ["x", "predictable", "by_place"])

_FIT_RESULT = types.Tuple((types.float64, types.float64, types.boolean))


def step_pointers(index, params, mode):
    """`Steps` of pointers for `_predict_block` to call, typed as it calls
    them (from stand-in arguments of the right types, for C-contiguous
    float64 queries); the functions themselves with ``NUMBA_DISABLE_JIT``."""
    if config.DISABLE_JIT:
        return Steps(_nearest, ridge_fit, refit_without)
    one = np.int64(1)
    fit = fit_scratch.py_func(1)
    solve = (np.empty((1, 1)), np.empty(1), np.empty(1), one, params.lam, params.offset_mode,
             one, fit)
    drop = DropScratch(np.empty((1, 1)), np.empty((1, 1)), np.empty(1))
    refit = (fit, np.empty(1), np.empty(1), one, np.empty(1, np.int64), one, params.lam,
             params.offset_mode, np.empty(1), drop)
    return Steps(nearest_pointer(index, *mode[:3]), kernel_pointer(ridge_fit, solve, _FIT_RESULT),
                 kernel_pointer(refit_without, refit, _FIT_RESULT))


# Compiled for the search `search_mode` selects, and only that search.
@njit(parallel=True, **_JIT)
def _predict_all(block_kernel, queries, index, z_train, params, out, steps, scan, tree, approx,
                 second):
    """`predict_kernel`: the parallel loop over blocks of queries, each
    block `_predict_block`, in the order ``queries.by_place``,
    called through ``block_kernel``, its `KernelPointer`. (The loop body
    is a call: Numba's parallel passes then analyse a few lines rather
    than the whole block's work; and a call through a pointer, so that
    they do not compile that work again either.) Returns the number of
    blocks done: a block whose kernel failed returns 0 through the
    pointer."""
    n_blocks = (queries.x.shape[0] + _BLOCK - 1) // _BLOCK
    done = 0
    for block in prange(n_blocks):
        # int64: the parallel loop's own index is unsigned.
        done += block_kernel(np.int64(block), queries, index, z_train, params, out, steps,
                             scan, tree, approx, second)
    return done


@njit(**_JIT)
def _predict_block(block, queries, index, z_train, params, out, steps, scan, tree, approx,
                   second):
    """The galaxies ``queries.by_place[block * _BLOCK:(block + 1) * _BLOCK]``
    of `predict_kernel`, with scratch buffers of their own and its steps
    called through ``steps`` (`step_pointers`). Returns 1."""
    k, gamma, lam = params.k, params.gamma, params.lam
    clip_sigma, offset_mode, window = params.clip_sigma, params.offset_mode, params.window
    z_phot, z_phot_err, n_used, status = out.z_phot, out.z_phot_err, out.n_used, out.status
    x_query, predictable, by_place = queries
    neighbours = out.neighbours
    keep_neighbours = neighbours.shape[0] == x_query.shape[0] and neighbours.shape[1] == params.k
    x_rows, order, child, shrink = index.x_rows, index.order, index.child, index.shrink
    n_query, n_feat = x_query.shape
    n_packed = max(k * (k - 1) // 2, 1)
    whole_scan = child[0] < 0
    search = search_scratch(x_rows.shape[0], whole_scan, k, n_feat)
    nbr_pos, nbr_d2 = search.nbr_pos, search.nbr_d2
    # Flat buffers, viewed as (n_feat, n) and (n, n) for each galaxy's
    # n neighbours: contiguous views, as the BLAS product wants.
    nbr_flat = np.empty(n_feat * k)
    dots_flat = np.empty(k * k)
    gram = np.empty((k, k))
    exponent = np.empty(n_packed)
    packed = np.empty(n_packed)
    fit = fit_scratch(k)
    chol_t, alpha = fit.chol_t, fit.alpha
    kvec = np.empty(k)
    z_nbr = np.empty(k)
    row = np.empty(k)
    keep = np.empty(k, np.int64)
    member = np.empty(k, np.int64)
    member_d2 = np.empty(k)
    by_window = window_scratch(k)
    dropped = np.empty(k, np.int64)
    max_drops = max_block_drops(k)
    drop = drop_scratch(k)
    n_previous = 0
    for rank in range(block * _BLOCK, min((block + 1) * _BLOCK, n_query)):
        q = by_place[rank]
        if not predictable[q]:
            z_phot[q] = np.nan
            z_phot_err[q] = np.nan
            n_used[q] = 0
            status[q] = STATUS_SKIPPED
            if keep_neighbours:
                for i in range(k):
                    neighbours[q, i] = -1
            continue
        query = x_query[q]
        bound = np.inf
        # Seeding with the previous galaxy's neighbours is exact-safe
        # only: an approximate search's result would then depend on
        # which galaxy came before (on chunking, say).
        if n_previous == k and not whole_scan and shrink == 1.0:
            bound = bound_from(x_rows, query, nbr_pos, k)
        n = steps.nearest(index, query, k, search, bound, scan, tree, approx)
        n_previous = n
        n_found = n
        if keep_neighbours:
            for i in range(n):
                neighbours[q, i] = order[nbr_pos[i]]
            for i in range(n, k):
                neighbours[q, i] = -1
        flag = STATUS_OK
        if n > 0 and nbr_d2[0] == 0.0:
            flag |= STATUS_TWIN
        for i in range(n):
            z_nbr[i] = z_train[order[nbr_pos[i]]]
        if window < np.inf:
            m = window_members(z_nbr, nbr_d2, n, window, member, by_window)
            # (A separate test on ``second`` alone: Numba prunes it when None.)
            if second is not None:
                if m < n:
                    m = closer_group(z_nbr, nbr_d2, n, window, gamma, params.second_group,
                                     member, m, by_window)
            n = m
            for i in range(n):
                z_nbr[i] = z_nbr[member[i]]
        else:
            for i in range(n):
                member[i] = i
        for i in range(n):
            member_d2[i] = nbr_d2[member[i]]
        # Neighbours relative to the query, feature-major.
        nbr_xt = nbr_flat[:n_feat * n].reshape((n_feat, n))
        for i in range(n):
            x_row = x_rows[nbr_pos[member[i]]]
            for f in range(n_feat):
                nbr_xt[f, i] = x_row[f] - query[f]
        for f in range(n_feat):
            offsets = nbr_xt[f]
            low = np.inf
            high = -np.inf
            for i in range(n):
                low = min(low, offsets[i])
                high = max(high, offsets[i])
            if low > 0.0 or high < 0.0:
                flag |= STATUS_EXTRAPOLATION
        for i in range(n):
            row[i] = -gamma * member_d2[i]
        exp_into(row, kvec, n)
        rbf_gram(nbr_xt, member_d2, n, gamma, dots_flat[:n * n].reshape((n, n)), exponent,
                 packed, gram)
        zp, err, ok = steps.fit(gram, kvec, z_nbr, n, lam, offset_mode, np.int64(0), fit)
        n_final = n
        if ok:
            # (inf * 0 would be NaN: no clipping either way, but a warning
            # in pure Python.)
            limit = clip_sigma * err if clip_sigma < np.inf else np.inf
            n_keep = np.int64(0)
            n_drop = np.int64(0)
            for i in range(n):
                if not abs(lam * alpha[i]) > limit:
                    keep[n_keep] = i
                    row[n_keep] = z_nbr[i]
                    n_keep += 1
                else:
                    dropped[n_drop] = i
                    n_drop += 1
            refitted = False
            if MIN_FIT <= n_keep < n and n_drop <= max_drops:
                zp_new, err_new, refitted = steps.refit(
                    fit, kvec, z_nbr, n, dropped, n_drop, lam, offset_mode, row, drop)
                if refitted:
                    zp, err = zp_new, err_new
                    n_final = n_keep
            if MIN_FIT <= n_keep < n and not refitted:
                # Compact in place (keep is increasing, keep[a] >= a).
                # Cholesky columns before the first dropped neighbour
                # are those of the submatrix's factor.
                first = np.int64(0)
                while first < n_keep and keep[first] == first:
                    first += 1
                for a in range(n_keep):
                    z_nbr[a] = z_nbr[keep[a]]
                    kvec[a] = kvec[keep[a]]
                # The refit reads Gram rows from ``first`` on only.
                for a in range(first, n_keep):
                    ia = keep[a]
                    for b in range(a + 1, n_keep):
                        gram[a, b] = gram[ia, keep[b]]
                for m in range(first):
                    for a in range(first, n_keep):
                        chol_t[m, a] = chol_t[m, keep[a]]
                zp, err, ok = steps.fit(gram, kvec, z_nbr, n_keep, lam,
                                        offset_mode, first, fit)
                n_final = n_keep
        if not ok:
            flag |= STATUS_SOLVE_FAILED
        else:
            if split_weight(z_train, order, nbr_pos, n_found, zp, by_window.rank) >= SPLIT_SHARE:
                flag |= STATUS_SPLIT
            # The fitted redshifts: z_nbr[:n] unclipped, else the kept ones,
            # in row[:n_keep] (both refits leave them there).
            if no_spread(z_nbr if n_final == n else row, n_final):
                flag |= STATUS_NO_SPREAD
        z_phot[q] = zp
        z_phot_err[q] = err
        n_used[q] = n_final
        status[q] = flag
    return np.int64(1)
