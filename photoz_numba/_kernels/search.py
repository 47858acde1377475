# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Exact and approximate k-nearest-neighbour search in standardised feature
space, compiled by Numba.

The training set is held in a `SearchIndex`: up to `SCAN_ROWS` rows a
single leaf, scanned whole, beyond that a k-d tree with bounding-box
pruning; either gives the same neighbours in the same order, ascending in
(distance, training index). Rows are screened in float32, then measured
exactly. Per-query scratch travels as a `SearchScratch`, allocated once
per block of queries by `search_scratch`.
"""

from collections import namedtuple

import numpy as np
from numba import njit, prange
from numba.core import config

from ._jit import _INLINE, _JIT, compile_notice, kernel_pointer

__all__ = []

#: single leaf, i.e. scanned whole (brute force). Measured on the paper's
#: features at k = 50 (docs/performance.rst): with 3684 rows a tree of
#: 128-row leaves already beats the whole scan, and 128 is the best leaf
#: size there.
LEAF_SIZE = 128
#: Leaf size of an approximate search's tree (``eps > 0``), which visits
#: few leaves: measured on 10^6 training rows at eps = 3, 64-row leaves
#: predict 5 % faster than 128 (and 32-row ones 5 % slower than 64).
APPROX_LEAF_SIZE = 64

#: Training sets of up to this many rows are not split into a tree: they
#: are searched by `_scan` (every row's distance in float32, vectorised,
#: then exact distances for the few rows under a threshold estimated from
#: a sample). Measured on the paper's features resampled to n rows, k =
#: 50, one thread, the scan's search rate over the tree's: x1.50 at 3684
#: rows, x1.22 at 8000, x0.93 at 16,000, x0.58 at 32,000.
SCAN_ROWS = 10000

# Galaxies per block of the parallel loop: large enough that per-block
# scratch allocation is negligible, small enough to balance two threads.
_BLOCK = 256
# Distances of a leaf are computed this many rows at a time, in a buffer
# that stays in L1 cache.
_CHUNK = 64
# A scan estimates its threshold from its first _SAMPLE rows (stored in a
# shuffled order, so they are a random sample of the training set).
_SAMPLE = 512
# A scan ranks its last candidates all against all (`_rank_into`) while
# there are at most this many times k of them (ties can leave many more;
# those are inserted one by one).
_RANKED = 4
# Depth bound of the tree-walk stack: median splits give depth <= log2(n).
_STACK = 130

#: A training set prepared for neighbour search (`build_index`). Rows are stored in tree
#: order (``x_rows[p]`` is training row ``order[p]``); node ``i`` covers
#: tree positions ``start[i]:end[i]``, has children ``child[i]`` and
#: ``child[i] + 1`` (-1 for a leaf) and the bounding box ``lo[i]``,
#: ``hi[i]`` of its rows. ``x32_t`` is ``x_rows`` in float32 for a first
#: screening of distances, flat, each leaf's rows as one (n_feat, rows)
#: block at offset ``start * n_feat``; ``max_norm`` is the largest
#: Euclidean norm of a row, which bounds the screening's rounding error.
#: ``shrink`` is 1 for an exact search; ``1 / (1 + eps)^2`` for the
#: approximate one of `build_index`.
SearchIndex = namedtuple("SearchIndex",
                         ["x_rows", "x32_t", "max_norm", "order", "start", "end",
                          "child", "lo", "hi", "shrink"])

#: Per-block scratch of the search (`search_scratch`): float32 distances
#: (``d2_rows``: a whole training set's for a scan, else a leaf chunk's);
#: the candidate rows (``cand``), for a scan their float32 distances
#: (``picked``) and, for `_rank_into`, exact distances (``exact``) and
#: training indices (``keys``); the float32 query (``query32``), the
#: tree-walk stack (``stack_node``, ``stack_d2``), the neighbour list
#: (``nbr_pos`` tree positions, ``nbr_d2`` squared distances) and the
#: scan's threshold carried from query to query (``state``).
SearchScratch = namedtuple("SearchScratch",
                           ["d2_rows", "cand", "picked", "exact", "keys", "query32",
                            "stack_node", "stack_d2", "nbr_pos", "nbr_d2", "state"])


# -- neighbour index ---------------------------------------------------------

@njit(**_JIT)
def _build_tree(x, leaf_size):
    """k-d tree over the rows of ``x`` (n, n_feat); see `SearchIndex`.

    Each node is split at the median of its widest feature. Deterministic:
    a stable sort orders the rows of each split.
    """
    n, n_feat = x.shape
    max_nodes = 4 * (n // max(leaf_size, 1) + 1)
    order = np.arange(n)
    start = np.empty(max_nodes, np.int64)
    end = np.empty(max_nodes, np.int64)
    child = np.full(max_nodes, -1, np.int64)
    lo = np.empty((max_nodes, n_feat))
    hi = np.empty((max_nodes, n_feat))
    todo = np.empty(max_nodes, np.int64)
    start[0] = 0
    end[0] = n
    n_nodes = 1
    todo[0] = 0
    n_todo = 1
    values = np.empty(n)
    while n_todo > 0:
        n_todo -= 1
        node = todo[n_todo]
        s = start[node]
        e = end[node]
        for f in range(n_feat):
            lo[node, f] = np.inf
            hi[node, f] = -np.inf
        for p in range(s, e):
            row = order[p]
            for f in range(n_feat):
                v = x[row, f]
                lo[node, f] = min(lo[node, f], v)
                hi[node, f] = max(hi[node, f], v)
        if e - s <= leaf_size:
            continue
        widest = 0
        for f in range(1, n_feat):
            if hi[node, f] - lo[node, f] > hi[node, widest] - lo[node, widest]:
                widest = f
        if not hi[node, widest] > lo[node, widest]:
            continue          # all rows identical: a leaf, however large
        for p in range(s, e):
            values[p - s] = x[order[p], widest]
        by_value = np.argsort(values[:e - s], kind="mergesort")
        members = order[s:e].copy()
        for p in range(e - s):
            order[s + p] = members[by_value[p]]
        mid = (s + e) // 2
        left = n_nodes
        child[node] = left
        start[left] = s
        end[left] = mid
        start[left + 1] = mid
        end[left + 1] = e
        n_nodes += 2
        todo[n_todo] = left + 1
        todo[n_todo + 1] = left
        n_todo += 2
    x_rows = np.empty((n, n_feat))
    for p in range(n):
        for f in range(n_feat):
            x_rows[p, f] = x[order[p], f]
    max_norm = 0.0
    for p in range(n):
        norm2 = 0.0
        for f in range(n_feat):
            norm2 += x_rows[p, f] * x_rows[p, f]
        max_norm = max(max_norm, np.sqrt(norm2))
    # float32 copy in leaf blocks: leaf rows start:end as one contiguous
    # (n_feat, end - start) block at offset start * n_feat, so that a leaf
    # scan reads one run of memory rather than n_feat far-apart ones.
    x32 = np.empty(n * n_feat, np.float32)
    for node in range(n_nodes):
        if child[node] >= 0:
            continue
        s = start[node]
        size = end[node] - s
        for f in range(n_feat):
            for j in range(size):
                x32[s * n_feat + f * size + j] = x_rows[s + j, f]
    return (x_rows, x32, max_norm, order, start[:n_nodes].copy(),
            end[:n_nodes].copy(), child[:n_nodes].copy(), lo[:n_nodes].copy(),
            hi[:n_nodes].copy())


def build_index(x_train_t, leaf_size=None, eps=0.0):
    """Prepare a standardised training set for the search and the predict loop.

    Parameters
    ----------
    x_train_t : float64 array (n_feat, n_train)
        Training features, feature-major.
    leaf_size : int, optional
        Most rows per k-d tree leaf. By default a training set of up to
        `SCAN_ROWS` rows is one leaf, searched by a whole scan, and a
        larger one a tree of `LEAF_SIZE`-row leaves (`APPROX_LEAF_SIZE`
        with ``eps``). At least the number of rows gives one leaf (a
        scan). Whatever the choice, the same neighbours come out in the
        same order: only the speed differs.
    eps : float, optional
        0 (default) for the exact k nearest. Above 0, a tree search skips
        any tree node more than ``1 / (1 + eps)`` times as far as the
        current k-th neighbour: each neighbour found is then at most ``1 +
        eps`` times as far as the true one of the same rank, and far fewer
        rows are examined in a large training set. Rows are then ranked by
        their float32 distances, and the distances reported are the exact
        ones; where float32 cannot resolve the k-th distance well enough
        to keep that guarantee (near-duplicate rows, a tiny ``eps``), the
        search is repeated with exact ranking. A whole scan (one leaf) is
        always exact.

    Returns
    -------
    index : `SearchIndex`
        The tree, for `nearest_neighbours` and the predict loop.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba._kernels.search import build_index
    >>> x = np.random.default_rng(0).normal(size=(1000, 4))   # 1000 rows, 4 features
    >>> index = build_index(x.T, leaf_size=64)
    >>> index.x_rows.shape, int((index.child == -1).sum()) >= 1000 // 64
    ((1000, 4), True)
    >>> len(build_index(x.T).child)     # 1000 <= SCAN_ROWS: one leaf
    1
    """
    eps = float(eps)
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, not {eps}")
    shrink = 1.0 / (1.0 + eps) ** 2
    x = np.ascontiguousarray(np.asarray(x_train_t, dtype=np.float64).T)
    n = x.shape[0]
    if leaf_size is None:
        leaf_size = n if n <= SCAN_ROWS else (APPROX_LEAF_SIZE if eps > 0 else LEAF_SIZE)
    leaf_size = max(int(leaf_size), 1)
    if n > leaf_size:
        return SearchIndex(*_build_tree(x, leaf_size), shrink)
    # One leaf, scanned whole: rows stored in a fixed shuffled order, so
    # that the scan's first rows are a random sample of the training set
    # whatever order it came in (a catalogue sorted by redshift, say).
    shuffle = np.random.default_rng(20241127).permutation(n)
    return _single_leaf(x[shuffle], shuffle)


def _single_leaf(x_rows, order):
    """The `SearchIndex` of one leaf holding the rows ``x_rows`` (training
    rows ``order``): what `_build_tree` returns for a leaf size of at least
    n, computed the same way (norms summed feature by feature) in NumPy,
    so that a training set that is scanned whole never compiles the tree
    builder."""
    n, n_feat = x_rows.shape
    norm2 = np.zeros(n)
    for f in range(n_feat):
        norm2 += x_rows[:, f] * x_rows[:, f]
    max_norm = max(0.0, float(np.sqrt(norm2).max(initial=0.0)))
    x32 = np.ascontiguousarray(x_rows.T, dtype=np.float32).ravel()
    lo = (x_rows.min(axis=0) if n else np.full(n_feat, np.inf))[None, :]
    hi = (x_rows.max(axis=0) if n else np.full(n_feat, -np.inf))[None, :]
    return SearchIndex(np.ascontiguousarray(x_rows), x32, max_norm,
                       np.ascontiguousarray(order, dtype=np.int64), np.zeros(1, np.int64),
                       np.full(1, n, np.int64), np.full(1, -1, np.int64),
                       np.ascontiguousarray(lo), np.ascontiguousarray(hi), 1.0)


@njit(**_INLINE)
def _box_d2(lo, hi, node, query):
    """Squared distance from ``query`` to a node's bounding box.

    Summed in feature order like the row distances, each term no larger
    than the row's: never more than the distance to any row in the box,
    in floating point too, so pruning on it is exact.
    """
    total = 0.0
    for f in range(query.shape[0]):
        q = query[f]
        # Branch-free (which side of a box a query falls is unpredictable):
        # at most one of the two differences is positive, as lo <= hi.
        gap = max(lo[node, f] - q, q - hi[node, f], 0.0)
        total += gap * gap
    return total


@njit(**_INLINE)
def _row_d2(x_rows, pos, query):
    """Squared distance of row ``pos`` to the query, summed feature by
    feature in index order: the exact distance every search reports."""
    diff = x_rows[pos, 0] - query[0]
    d2 = diff * diff
    for f in range(1, query.shape[0]):
        diff = x_rows[pos, f] - query[f]
        d2 += diff * diff
    return d2


@njit(**_INLINE)
def _rounding_bounds(max_norm, query):
    """How far a float32 squared distance (summed as the searches sum it)
    can be from the exact one, for rows no longer than ``max_norm``:
    ``(slack, widen)``, the distance within ``slack`` of the exact one
    once the sum's relative error ``widen`` is taken out (see `_screen`,
    `_unscreen`, `_upper`).

    |x32 - q32| differs from |x - q| by at most 2.1 u (|x| + |q|) (u =
    2^-24: rounding x, q and their difference), and summing the squares
    in float32 adds a relative (n_feat + 2) u; generous factors here.
    Squares and sums below float32's normal range round with an absolute
    error (up to 2^-150 each, 2 n_feat of them), which the last term of
    ``slack`` covers: sqrt(2 n_feat 2^-150) in the distance.
    """
    n_feat = query.shape[0]
    q_norm2 = 0.0
    for f in range(n_feat):
        q_norm2 += query[f] * query[f]
    slack = (4.0 * 2.0 ** -24 * (max_norm + np.sqrt(q_norm2))
             + np.sqrt(n_feat + 1.0) * 2.0 ** -74)
    widen = 1.0 + 4.0 * (n_feat + 2) * 2.0 ** -24
    return slack, widen


@njit(**_INLINE)
def _screen(worst, slack, widen):
    """The float32 squared distance that every row within the exact
    squared distance ``worst`` stays under when screened in float32
    (``slack`` and ``widen``: the rounding bounds of `_nearest`); inf for
    an infinite ``worst``."""
    reach = np.sqrt(worst) * (1.0 + 1e-12) + slack
    return np.float32(reach * reach * widen * (1.0 + 1e-6))


@njit(**_INLINE)
def _unscreen(screened, slack, widen):
    """A lower bound of the exact squared distance of a row whose float32
    squared distance is ``screened``: `_screen`'s bound solved the other
    way (0 when the rounding could account for all of it)."""
    root = np.sqrt(screened / (widen * (1.0 + 1e-6))) - slack
    if not root > 0.0:
        return 0.0
    root = root / (1.0 + 1e-12)
    return root * root * (1.0 - 1e-12)


@njit(**_INLINE)
def _upper(screened, slack, widen):
    """An upper bound of the exact squared distance of a row whose float32
    squared distance is ``screened`` (`_unscreen`'s counterpart)."""
    root = np.sqrt(np.float64(screened) * widen * (1.0 + 1e-6)) * (1.0 + 1e-12) + slack
    return root * root * (1.0 + 1e-12)


@njit(**_INLINE)
def _kth_bound(values, n, k):
    """A float32 value with exactly k of the non-negative ``values[:n]`` at
    or below it (k <= n): at least the k-th smallest and less than the
    next larger one, or the k-th smallest itself where it ties with the
    next. Bisection on the bit patterns (ordered as the values are), each
    step a vectorised count, so no data-dependent branch."""
    bits = values[:n].view(np.int32)
    low = -1                # count(bits <= low) < k
    high = bits[0]          # count(bits <= high) >= k
    for j in range(1, n):
        high = max(high, bits[j])
    while high - low > 1:
        mid = low + (high - low) // 2
        count = 0
        for j in range(n):
            count += bits[j] <= mid
        if count >= k:
            high = mid
            if count == k:
                break
        else:
            low = mid
    return np.int32(high).view(np.float32)


@njit(**_INLINE)
def _rank_into(x_rows, order, query, cand, m, k, nbr_pos, nbr_d2, exact, keys):
    """The k nearest of the ``m`` candidate rows ``cand[:m]`` (m >= k)
    into ``nbr_pos``, ``nbr_d2``, ascending in (distance, index): each
    candidate's rank is the number of candidates before it, counted in a
    vectorised loop, O(m^2) but without the branches of an insertion."""
    for c in range(m):
        pos = cand[c]
        exact[c] = _row_d2(x_rows, pos, query)
        keys[c] = order[pos]
    for c in range(m):
        d2 = exact[c]
        key = keys[c]
        rank = 0
        for j in range(m):
            rank += (exact[j] < d2) | ((exact[j] == d2) & (keys[j] < key))
        if rank < k:
            nbr_pos[rank] = cand[c]
            nbr_d2[rank] = d2
    return k


@njit(**_INLINE)
def search_scratch(n_train, scan, k, n_feat):
    """A `SearchScratch` for k neighbours in ``n_feat`` features among
    ``n_train`` rows, searched by a whole scan (``scan``) or a tree."""
    n_rows = n_train if scan else _CHUNK
    return SearchScratch(
        np.empty(n_rows, np.float32), np.empty(n_train if scan else _CHUNK, np.int64),
        np.empty(n_train if scan else 1, np.float32),
        np.empty(_RANKED * k if scan else 1), np.empty(_RANKED * k if scan else 1, np.int64),
        np.empty(n_feat, np.float32), np.empty(_STACK, np.int64), np.empty(_STACK),
        np.empty(k, np.int64), np.empty(k), np.zeros(1, np.float32))


@njit(**_INLINE)
def _collect(d2_rows, n, low, high, cand):
    """Rows with ``low < d2_rows[j] <= high`` into ``cand``; their number.
    Branch-free: most rows fail the test at random."""
    n_cand = 0
    for j in range(n):
        v = d2_rows[j]
        cand[n_cand] = j
        n_cand += (v > low) & (v <= high)
    return n_cand


@njit(**_JIT)
def _scan(index, query, k, slack, widen, scratch):
    """`_nearest` on a single-leaf index: every row's float32 distance,
    then exact distances for the rows under a threshold.

    The threshold is estimated on the first `_SAMPLE` rows (a random
    sample: see `build_index`) so that about 2 k of them, plus a
    margin, pass: starting from the previous query's threshold
    (``state[0]``), it is scaled, then bisected, until the sample count is
    near its target. Of the rows under it, only those within the float32
    screen of the k-th smallest float32 distance (`_kth_bound`, widened by
    its rounding bound) can be neighbours: they are measured exactly and
    ranked all against all (`_rank_into`), so the candidates need no
    insertion one by one. Whatever the threshold ends at, the result is
    exact: it is raised until at least k rows pass, and once the k nearest
    of those are known, any row the float32 screen of their distance
    admits but the threshold did not is measured too.
    """
    x_rows, x32_t, order = index.x_rows, index.x32_t, index.order
    d2_rows, cand, picked = scratch.d2_rows, scratch.cand, scratch.picked
    exact, keys, query32 = scratch.exact, scratch.keys, scratch.query32
    nbr_pos, nbr_d2, state = scratch.nbr_pos, scratch.nbr_d2, scratch.state
    n, n_feat = x_rows.shape
    x_f = x32_t[0:n]
    q_f = query32[0]
    for j in range(n):
        diff = x_f[j] - q_f
        d2_rows[j] = diff * diff
    for f in range(1, n_feat):
        x_f = x32_t[f * n:(f + 1) * n]
        q_f = query32[f]
        for j in range(n):
            diff = x_f[j] - q_f
            d2_rows[j] += diff * diff
    inf32 = np.float32(np.inf)
    threshold = inf32
    n_sample = min(n, _SAMPLE)
    target = 2.0 * k * n_sample / n + 4.0
    if n_sample < n and target < 0.5 * n_sample:
        threshold = state[0]
        if not (0.0 < threshold < inf32):
            threshold = np.float32(1.0)
        t_low = np.float32(0.0)
        t_high = inf32
        for _ in range(32):
            count = 0
            for j in range(n_sample):
                count += d2_rows[j] <= threshold
            if count < 0.85 * target:
                t_low = threshold
            elif count > 1.2 * target:
                t_high = threshold
            else:
                break
            if t_high < inf32 and t_low > 0.0:
                threshold = np.float32(np.sqrt(t_low * t_high))
            else:
                threshold = np.float32(
                    threshold * min(max((target / max(count, 0.5)) ** (2.0 / n_feat), 0.5), 2.0))
        if threshold > 0.0:
            state[0] = threshold
    n_cand = _collect(d2_rows, n, np.float32(-1.0), threshold, cand)
    while n_cand < k and threshold < inf32:
        # Too few rows passed (rare): widen and take those it adds. (Only
        # a NaN query leaves fewer than k at an infinite threshold.)
        low = threshold
        threshold = max(np.float32(2.0) * threshold, np.float32(1e-30))
        if not threshold < 1e30:
            threshold = inf32
        n_cand += _collect(d2_rows, n, low, threshold, cand[n_cand:])
    size = 0
    worst = np.inf
    if k <= n_cand:
        # The k candidates of smallest float32 distance are within
        # `_upper` of the k-th's (or a bound of it) exactly, so the true
        # k-th neighbour is too, and every row within that passes its
        # float32 screen: the others (most of the candidates) are dropped
        # before any is measured.
        for c in range(n_cand):
            picked[c] = d2_rows[cand[c]]
        screen = _screen(_upper(_kth_bound(picked, n_cand, k), slack, widen),
                         slack, widen)
        m = np.int64(0)
        for c in range(n_cand):
            pos = cand[c]
            cand[m] = pos
            m += d2_rows[pos] <= screen
        n_cand = m
        if k <= m <= exact.shape[0]:
            # At least k are left (rounding is monotone, so the screen is
            # not below the k-th value) and, but for ties, few more.
            size = _rank_into(x_rows, order, query, cand, m, k, nbr_pos, nbr_d2, exact, keys)
            worst = nbr_d2[k - 1]
            n_cand = 0
    while True:
        for c in range(n_cand):
            pos = cand[c]
            d2 = _row_d2(x_rows, pos, query)
            if d2 > worst:
                continue
            size = _insert(order, nbr_pos, nbr_d2, size, k, pos, d2)
            if size == k:
                worst = nbr_d2[k - 1]
        if threshold == inf32:
            break
        # Every row within the k-th distance passes this float32 screen:
        # rows between it and the threshold are still to be measured.
        screen = _screen(worst, slack, widen)
        if not screen > threshold:
            break
        n_cand = _collect(d2_rows, n, threshold, screen, cand)
        threshold = screen
    return size


@njit(**_INLINE)
def _insert(order, nbr_pos, nbr_d2, size, k, pos, d2):
    """Insert row ``pos`` at squared distance ``d2`` (no farther than the
    k-th, if there are k) into the sorted neighbour list of ``size``
    entries; ties go to the lower training index. Returns the new size.
    For k up to a few hundred cheaper than a heap, whose sift-down
    branches mispredict."""
    rank = order[pos]
    if size == k:
        if d2 == nbr_d2[k - 1] and rank > order[nbr_pos[k - 1]]:
            return size
        i = k - 1
    else:
        i = size
        size += 1
    while i > 0 and (nbr_d2[i - 1] > d2 or (
            nbr_d2[i - 1] == d2 and order[nbr_pos[i - 1]] > rank)):
        nbr_d2[i] = nbr_d2[i - 1]
        nbr_pos[i] = nbr_pos[i - 1]
        i -= 1
    nbr_d2[i] = d2
    nbr_pos[i] = pos
    return size


def search_mode(index):
    """``(scan, tree, approx)``, the search `_nearest` makes in ``index``,
    each True or None: ``scan`` for a single leaf (a whole scan), ``tree``
    for a tree, ``approx`` for an approximate tree search. Passed to the
    compiled loops as arguments: Numba drops a branch on an argument that
    is None before it compiles anything, so only the search used is
    compiled (a few thousand training galaxies never compile the tree
    walk, an exact search never the approximate one's second pass)."""
    scan = True if index.child[0] < 0 else None
    tree = None if scan else True
    approx = True if tree and index.shrink < 1.0 else None
    return scan, tree, approx


@njit(**_JIT)
def _nearest(index, query, k, scratch, bound, scan, tree, approx):
    """k nearest training rows to ``query``, ascending in (distance, index).

    Fills ``scratch.nbr_pos`` with tree positions (training row
    ``index.order[p]``) and ``scratch.nbr_d2`` with squared Euclidean
    distances, summed feature by feature
    in index order, so the result is exactly reproducible by a NumPy loop
    over features. No fastmath here: the distances and the pruning bound
    must be computed exactly as written. ``bound`` is a squared distance
    known not to be below the k-th neighbour's (inf if none): rows and
    boxes beyond it are skipped from the start. The result does not depend
    on it. Returns the number found. A single-leaf index is searched by
    `_scan` instead (``bound`` unused). The scratch comes from
    `search_scratch`; ``scan``, ``tree`` and ``approx`` from `search_mode`.

    Rows are screened in float32 first (twice the vector width, half the
    memory traffic), against a threshold widened by a bound on that
    arithmetic's rounding error; only rows that pass get their exact
    float64 distance. An approximate search (``shrink < 1``) ranks rows by the float32 distance
    itself and measures only the k rows it keeps, which it returns sorted
    by their exact distances; it searches again with exact ranking when
    float32 resolution could break its 1 + eps guarantee.
    """
    x_rows, order, shrink = index.x_rows, index.order, index.shrink
    nbr_pos, nbr_d2, query32 = scratch.nbr_pos, scratch.nbr_d2, scratch.query32
    n_feat = x_rows.shape[1]
    for f in range(n_feat):
        query32[f] = np.float32(query[f])
    slack, widen = _rounding_bounds(index.max_norm, query)
    if scan is not None:
        return _scan(index, query, k, slack, widen, scratch)
    if tree is None:
        return 0        # not reached: scan or tree is None, not both
    # An approximate search ranks rows by their float32 distance and
    # measures only the k it keeps exactly, at the end: most of an exact
    # measurement's cost on a large training set is the cache miss of a
    # float64 row, and the ranking is approximate anyway. (``bound`` must
    # then be inf: it is an exact distance.)
    rank32 = shrink < 1.0
    size = _walk(index, query, k, scratch, bound, slack, widen, rank32)
    if approx is None:
        return size
    if rank32 and size == k:
        # Every row not kept is farther than the lower of the pruning
        # radius and the float32 k-th distance's exact lower bound; while
        # that lower bound is within (1 + eps)^2 of the upper one, which
        # fails only near float32 resolution (near-duplicate rows, tiny
        # eps), each neighbour is within 1 + eps of the true one of its
        # rank. Otherwise the search is done again with exact ranking.
        worst = nbr_d2[k - 1]
        if not _unscreen(worst, slack, widen) >= shrink * _screen(worst, slack, widen):
            rank32 = False
            size = _walk(index, query, k, scratch, bound, slack, widen, rank32)
    if rank32:
        # The kept rows' exact distances, in (distance, index) order.
        for i in range(size):
            pos = nbr_pos[i]
            _insert(order, nbr_pos, nbr_d2, i, k, pos, _row_d2(x_rows, pos, query))
    return size


@njit(**_JIT)
def _walk(index, query, k, scratch, bound, slack, widen, rank32):
    """`_nearest`'s depth-first tree walk; with ``rank32`` rows are ranked
    (and ``nbr_d2`` filled) by their float32 distances. A leaf chunk's
    float32 distances go to ``scratch.d2_rows``, its candidates to
    ``scratch.cand``. Returns the number of neighbours found."""
    x_rows, x32_t, order, shrink = index.x_rows, index.x32_t, index.order, index.shrink
    start, end, child, lo, hi = index.start, index.end, index.child, index.lo, index.hi
    d2_chunk, picks, query32 = scratch.d2_rows, scratch.cand, scratch.query32
    stack_node, stack_d2 = scratch.stack_node, scratch.stack_d2
    nbr_pos, nbr_d2 = scratch.nbr_pos, scratch.nbr_d2
    n_feat = x_rows.shape[1]
    half = n_feat // 2 if n_feat >= 4 else n_feat
    size = 0
    prune = np.inf      # nodes farther than this (squared) are skipped
    top = 1
    stack_node[0] = 0
    stack_d2[0] = 0.0
    while top > 0:
        top -= 1
        node = stack_node[top]
        # A box exactly as far as the worst neighbour may hold a tie with
        # a lower index, so only strictly farther boxes are skipped.
        if stack_d2[top] > bound or stack_d2[top] > prune:
            continue
        left = child[node]
        if left >= 0:
            d_left = _box_d2(lo, hi, left, query)
            d_right = _box_d2(lo, hi, left + 1, query)
            near, far, d_near, d_far = left, left + 1, d_left, d_right
            if d_right < d_left:
                near, far, d_near, d_far = left + 1, left, d_right, d_left
            if not (d_far > bound or d_far > prune):
                stack_node[top] = far
                stack_d2[top] = d_far
                top += 1
            stack_node[top] = near
            stack_d2[top] = d_near
            top += 1
            continue
        leaf_start = start[node]
        leaf_size = end[node] - leaf_start
        base = np.uint64(leaf_start * n_feat)
        for s in range(leaf_start, end[node], _CHUNK):
            m = min(_CHUNK, end[node] - s)
            c = s - leaf_start
            worst = nbr_d2[k - 1] if size == k else bound
            screen = np.float32(worst) if rank32 else _screen(worst, slack, widen)
            # Flat unsigned offsets, not slices: LLVM vectorises both, but
            # each slice costs a reference count taken and dropped (two
            # atomic calls into Numba's runtime, 12 per leaf), and a
            # signed index a test for negative values.
            off = base + np.uint64(c)
            q_f = query32[0]
            for j in range(m):
                diff = x32_t[off + np.uint64(j)] - q_f
                d2_chunk[j] = diff * diff
            skip = False
            for f in range(1, n_feat):
                off = base + np.uint64(f * leaf_size + c)
                q_f = query32[f]
                for j in range(m):
                    diff = x32_t[off + np.uint64(j)] - q_f
                    d2_chunk[j] += diff * diff
                if f == half:
                    # Partial sums only grow: a chunk already past the
                    # screen on half the features is skipped.
                    n_below = 0
                    for j in range(m):
                        if d2_chunk[j] <= screen:
                            n_below += 1
                    if n_below == 0:
                        skip = True
                        break
            if skip:
                continue
            # The chunk's candidates, gathered without a branch per row.
            n_below = 0
            for j in range(m):
                picks[n_below] = j
                n_below += d2_chunk[j] <= screen
            for i in range(n_below):
                j = picks[i]
                pos = s + j
                if rank32:
                    d2 = np.float64(d2_chunk[j])
                else:
                    d2 = _row_d2(x_rows, pos, query)
                if d2 > worst:
                    continue
                size = _insert(order, nbr_pos, nbr_d2, size, k, pos, d2)
                if size == k:
                    worst = nbr_d2[k - 1]
        if size == k:
            # With float32 ranks, the bound on the k-th's exact distance
            # (the screen's rounding bound read the other way) keeps the
            # 1 + eps guarantee.
            prune = shrink * (_screen(nbr_d2[k - 1], slack, widen) if rank32
                              else nbr_d2[k - 1])
    return size


def nearest_pointer(index, scan, tree, approx):
    """`_nearest` for ``index``'s search (`search_mode`) as a
    `~photoz_numba._kernels._jit.KernelPointer`, typed for a C-contiguous
    float64 query (from stand-in arguments), so that the loops that call
    it (`_nearest_all`, the predict loop's blocks) share one compiled and
    cached search instead of each linking in and compiling its own; the
    function itself with ``NUMBA_DISABLE_JIT``."""
    if config.DISABLE_JIT:
        return _nearest
    n_feat = index.x_rows.shape[1]
    return kernel_pointer(_nearest, (index, np.empty(n_feat), np.int64(1),
                                     search_scratch.py_func(1, True, 1, n_feat), 0.0, scan,
                                     tree, approx))


@njit(parallel=True, **_JIT)
def _nearest_all(nearest, index, x_query, k, nbr_index, nbr_dist2, scan, tree, approx):
    """`nearest_neighbours`' parallel loop over blocks of queries, calling
    `_nearest` through ``nearest`` (`nearest_pointer`)."""
    order = index.order
    n_query = x_query.shape[0]
    n_blocks = (n_query + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        scratch = search_scratch(index.x_rows.shape[0], index.child[0] < 0, k,
                                 x_query.shape[1])
        nbr_pos, nbr_d2 = scratch.nbr_pos, scratch.nbr_d2
        for q in range(block * _BLOCK, min((block + 1) * _BLOCK, n_query)):
            n = nearest(index, x_query[q], k, scratch, np.inf, scan, tree, approx)
            for i in range(n):
                nbr_index[q, i] = order[nbr_pos[i]]
                nbr_dist2[q, i] = nbr_d2[i]
            for i in range(n, k):       # a query with NaN has no neighbours
                nbr_index[q, i] = -1
                nbr_dist2[q, i] = np.inf


def nearest_neighbours(index, x_query, k):
    """Training indices and squared distances of each query's k nearest.

    Ascending in (distance, training index); for tests and benchmarks of
    the neighbour search on its own.

    Parameters
    ----------
    index : `SearchIndex`
        From `build_index`.
    x_query : float64 array (n_query, n_feat)
        The points whose neighbours are sought.
    k : int
        Neighbours per point, ``1 <= k <= n_train``.

    Returns
    -------
    nbr_index : int64 array (n_query, k)
        Training row of each neighbour (-1 for a query with NaN, which
        has none).
    nbr_dist2 : float64 array (n_query, k)
        Its squared Euclidean distance (inf where there is none).

    Examples
    --------
    The same neighbours as a brute-force scan:

    >>> import numpy as np
    >>> from photoz_numba._kernels.search import build_index, nearest_neighbours
    >>> rng = np.random.default_rng(0)
    >>> x, queries = rng.normal(size=(500, 3)), rng.normal(size=(20, 3))
    >>> nbr_index, nbr_dist2 = nearest_neighbours(build_index(x.T), queries, 5)
    >>> brute = np.argsort(((queries[:, None, :] - x[None]) ** 2).sum(-1), axis=1)[:, :5]
    >>> bool((nbr_index == brute).all())
    True
    """
    x_query = np.ascontiguousarray(x_query, dtype=np.float64)
    nbr_index = np.empty((x_query.shape[0], k), np.int64)
    nbr_dist2 = np.empty((x_query.shape[0], k))
    mode = search_mode(index)
    nearest = nearest_pointer(index, *mode)
    args = (nearest, index, x_query, np.int64(k), nbr_index, nbr_dist2, *mode)
    if config.DISABLE_JIT or mode in _NEAREST_READY:
        _nearest_all(*args)
    else:
        # A first call on a machine compiles, announced once.
        with compile_notice([(_nearest_all, args), nearest],
                            what="neighbour search kernels"):
            _nearest_all(*args)
        _NEAREST_READY.add(mode)
    return nbr_index, nbr_dist2


#: The search modes (`search_mode`) whose `nearest_neighbours` loop this
#: process has compiled or loaded (no compile check on later calls: the
#: mode fixes the loop's argument types).
_NEAREST_READY = set()


# -- kernel ridge ------------------------------------------------------------

_LOG2E = 1.4426950408889634
# ln 2 split in two (Cody and Waite) so that k ln 2 is exact in the high part.
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10


@njit(**_INLINE)
def bound_from(x_rows, query, nbr_pos, n):
    """Largest squared distance from ``query`` to the rows ``nbr_pos[:n]``,
    summed as in `_nearest`: n distinct rows are at most that far, so the
    k-th nearest (k <= n) is too."""
    bound = 0.0
    for i in range(n):
        bound = max(bound, _row_d2(x_rows, nbr_pos[i], query))
    return bound


def query_order(index, x_query):
    """An order of the queries that keeps neighbouring queries together:
    by the leaf they descend to, then along that leaf's widest feature.
    Only speed depends on it (each query's neighbours seed the next one's
    search bound), never the results. (The keys in a serial kernel and
    the sort in NumPy: a parallel kernel and Numba's sort took seconds
    to compile, to save milliseconds.)"""
    if index.child[0] < 0:
        return np.argsort(_leaf_keys(index, x_query), kind="stable")
    return np.argsort(_query_keys(index, x_query), kind="stable")


def _leaf_keys(index, x_query):
    """`_query_keys` of a single-leaf index (a whole scan), where every
    query descends to the root: its position along the root's widest
    feature, computed in NumPy, so that a training set scanned whole
    compiles no kernel for its order."""
    lo, hi = index.lo[0], index.hi[0]
    widest = 0
    for f in range(1, len(lo)):
        if hi[f] - lo[f] > hi[widest] - lo[widest]:
            widest = f
    span = hi[widest] - lo[widest]
    if not span > 0.0:
        return np.zeros(len(x_query))
    return np.minimum(np.maximum((x_query[:, widest] - lo[widest]) / span, 0.0), 1.0)


@njit(**_JIT)
def _query_keys(index, x_query):
    """`query_order`'s sort keys: 2 * leaf + position along its widest
    feature (0 to 1)."""
    child, lo, hi = index.child, index.lo, index.hi
    n_query, n_feat = x_query.shape
    key = np.empty(n_query)
    for q in range(n_query):
        query = x_query[q]
        node = 0
        while child[node] >= 0:
            left = child[node]
            node = left if (_box_d2(lo, hi, left, query)
                            <= _box_d2(lo, hi, left + 1, query)) else left + 1
        widest = 0
        for f in range(1, n_feat):
            if hi[node, f] - lo[node, f] > hi[node, widest] - lo[node, widest]:
                widest = f
        span = hi[node, widest] - lo[node, widest]
        within = 0.0
        if span > 0.0:
            within = min(max((query[widest] - lo[node, widest]) / span, 0.0), 1.0)
        key[q] = 2.0 * node + within
    return key
