# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Kernel ridge regression on a galaxy's neighbours, compiled by Numba: the
RBF Gram matrix, its Cholesky factor and solve, and the refit after
clipping.

For ``n`` neighbours with redshifts ``z`` the fit is ``alpha = (K + lam
I)^-1 (z - c)``, with ``K_ij = exp(-gamma |x_i - x_j|^2)`` and ``c`` the
offset (0, or the neighbours' median or mean redshift); the prediction is
``c + sum_i alpha_i K(x, x_i)``. The residuals ``(z - c) - K alpha`` equal
``lam alpha``, so their RMS needs no extra pass. Scratch travels as a
`FitScratch` and a `DropScratch`.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from ._jit import _FASTMATH, _INLINE, _JIT

__all__ = []

#: Scratch of `ridge_fit` for up to k neighbours: the Cholesky factor
#: (``chol_t``, k x k), two work columns (``work``, ``work2``), the
#: centred redshifts (``y``), the weights (``alpha``) and the median's
#: sort buffer (``scratch``).
FitScratch = namedtuple("FitScratch", ["chol_t", "work", "work2", "y", "alpha", "scratch"])
#: Scratch of `refit_without` for up to `max_block_drops` dropped
#: neighbours: their solves ``w`` (n_drop x k), W's factor ``w_dd`` and
#: the solution ``t``.
DropScratch = namedtuple("DropScratch", ["w", "w_dd", "t"])


@njit(**_INLINE)
def fit_scratch(k):
    """A `FitScratch` for up to ``k`` neighbours."""
    return FitScratch(np.empty((k, k)), np.empty(k), np.empty(k), np.empty(k), np.empty(k),
                      np.empty(k))


@njit(**_INLINE)
def drop_scratch(k):
    """A `DropScratch` for up to `max_block_drops` (k) dropped neighbours."""
    max_drops = max_block_drops(k)
    return DropScratch(np.empty((max_drops, k)), np.empty((max_drops, max_drops)),
                       np.empty(max_drops))


_LOG2E = 1.4426950408889634
# ln 2 split in two (Cody and Waite) so that k ln 2 is exact in the high part.
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10


@njit(fastmath={"contract"}, **_JIT)
def exp_into(t, out, n):
    """``out[i] = exp(t[i])`` for ``t[i] <= 0``, i < n, to about 1 ulp.

    Branch-free so that LLVM vectorises it (libm's exp is a scalar call,
    and Numba's SVML path is not always available): exp(t) = 2^m exp(r),
    m = rint(t / ln 2), |r| <= ln(2) / 2, exp(r) by its Taylor series to
    r^13 (truncation < 2e-16 relative), 2^m made from its exponent bits
    (a bit cast that stays in vector registers). Arguments below -708
    give 0 (exp would be subnormal there). ``t`` must not share memory
    with ``out``.
    """
    for i in range(n):
        t_i = t[i]
        x = max(t_i, -708.0)
        m = np.rint(x * _LOG2E)
        r = (x - m * _LN2_HI) - m * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        scale = np.int64((np.int64(m) + 1023) << 52).view(np.float64)
        out[i] = p * scale if t_i >= -708.0 else 0.0


def exp_nonpositive(t):
    """`exp_into` on an array, for tests."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    out = np.empty_like(t)
    exp_into(t, out, t.size)
    return out


@njit(**_JIT)
def _offset(values, n, mode, scratch):
    """Offset subtracted before the ridge fit: 0, median or mean of values[:n]."""
    if mode == 0:
        return 0.0
    if mode == 2:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total / n
    # Median by insertion sort into scratch: n is at most a few hundred.
    for i in range(n):
        v = values[i]
        pos = i
        while pos > 0 and scratch[pos - 1] > v:
            scratch[pos] = scratch[pos - 1]
            pos -= 1
        scratch[pos] = v
    return _sorted_median(scratch, n)


@njit(**_JIT)
def _sorted_median(values, n):
    """Median of ``values[:n]``, already in ascending order."""
    half = n // 2
    if n % 2 == 1:
        return values[half]
    return 0.5 * (values[half - 1] + values[half])


@njit(fastmath=_FASTMATH, **_JIT)
def ridge_fit(gram, kvec, z_nbr, n, lam, mode, first, fit):
    """Fit kernel ridge on the first ``n`` neighbours.

    ``gram`` holds K (without lam) for those neighbours in its upper
    triangle, ``kvec`` the kernel between the query and each of them;
    ``fit`` is a `FitScratch`. ``fit.chol_t`` receives the Cholesky factor L of K + lam I transposed
    (``chol_t[j, i] = L[i, j]``, i >= j), column by column (left-looking,
    so the inner loops run over contiguous rows of ``chol_t``), then
    mirrored below the diagonal (``chol_t[i, j] = L[i, j]`` too, for
    `_cho_solve`); its columns before ``first`` are taken as already
    computed (from the upper triangle). Leaves alpha
    in ``fit.alpha``; returns (z_phot, rms residual, ok).
    """
    chol_t, work, work2, y, alpha = fit.chol_t, fit.work, fit.work2, fit.y, fit.alpha
    scratch = fit.scratch
    c = _offset(z_nbr, n, mode, scratch)
    for i in range(n):
        y[i] = z_nbr[i] - c
    # Inner loops run over 1-d row slices: LLVM vectorises those, not
    # chol_t[m, i] indexing. Two columns at a time, so each row of chol_t
    # read serves two updates.
    j = first
    while j < n:
        if j + 1 == n:
            col = work[j:n]
            g_row = gram[j, j:n]
            for i in range(n - j):
                col[i] = g_row[i]
            col[0] += lam
            for m in range(j):
                l_row = chol_t[m, j:n]
                l_jm = l_row[0]
                for i in range(n - j):
                    col[i] -= l_row[i] * l_jm
            if not col[0] > 0.0:
                return np.nan, np.nan, False
            chol_t[j, j] = np.sqrt(col[0])
            break
        # Columns j and j + 1, rows j + 1 and below in col_a and col_b.
        width = n - j - 1
        col_a = work[j + 1:n]
        col_b = work2[j + 1:n]
        g_a = gram[j, j + 1:n]
        g_b = gram[j + 1, j + 1:n]
        for i in range(width):
            col_a[i] = g_a[i]
            col_b[i] = g_b[i]
        col_b[0] += lam
        diag = gram[j, j] + lam
        for m in range(j):
            l_row = chol_t[m, j + 1:n]
            l_am = chol_t[m, j]
            l_bm = l_row[0]
            diag -= l_am * l_am
            for i in range(width):
                col_a[i] -= l_row[i] * l_am
                col_b[i] -= l_row[i] * l_bm
        if not diag > 0.0:
            return np.nan, np.nan, False
        pivot = np.sqrt(diag)
        chol_t[j, j] = pivot
        l_a = chol_t[j, j + 1:n]
        for i in range(width):
            l_a[i] = col_a[i] / pivot
        l_bj = l_a[0]
        for i in range(width):
            col_b[i] -= l_a[i] * l_bj
        if not col_b[0] > 0.0:
            return np.nan, np.nan, False
        pivot = np.sqrt(col_b[0])
        l_b = chol_t[j + 1, j + 1:n]
        l_b[0] = pivot
        for i in range(1, width):
            l_b[i] = col_b[i] / pivot
        j += 2
    # L's rows below the diagonal, for the back substitution.
    for i in range(1, n):
        for m in range(i):
            chol_t[i, m] = chol_t[m, i]
    for i in range(n):
        alpha[i] = y[i]
    _cho_solve(chol_t, n, alpha, np.int64(0))
    z_phot = c
    for i in range(n):
        z_phot += alpha[i] * kvec[i]
    # Residuals y - K alpha = lam alpha: no O(n^2) pass needed.
    sum_r2 = 0.0
    for i in range(n):
        sum_r2 += alpha[i] * alpha[i]
    return z_phot, lam * np.sqrt(sum_r2 / n), True


@njit(fastmath=_FASTMATH, **_JIT)
def _cho_solve(chol_t, n, x, first):
    """Solve (L L^T) x' = x in place, L from `ridge_fit`'s ``chol_t``:
    forward then back substitution, L w = x, L^T x' = w, each as updates
    of the unsolved entries by a contiguous column of L (``chol_t``'s rows
    from the diagonal on for L w = x, its rows before the diagonal, where
    `ridge_fit` mirrors L, for L^T): no sum, so nothing the compiler
    could reorder. Entries of ``x`` before ``first`` must be 0 (they stay
    0 through the forward pass, which therefore starts there)."""
    for m in range(first, n):
        w_m = x[m] / chol_t[m, m]
        x[m] = w_m
        l_row = chol_t[m, m + 1:n]
        rest = x[m + 1:n]
        for i in range(n - m - 1):
            rest[i] -= l_row[i] * w_m
    for i in range(n - 1, 0, -1):
        x_i = x[i] / chol_t[i, i]
        x[i] = x_i
        l_row = chol_t[i, :i]
        for m in range(i):
            x[m] -= l_row[m] * x_i
    x[0] = x[0] / chol_t[0, 0]


@njit(**_INLINE)
def max_block_drops(k):
    """Most dropped neighbours whose refit `refit_without` does from the
    full fit's factor (each costs two triangular solves, O(k^2); a new
    factor from the first dropped column on costs up to k^3 / 3)."""
    return max(2, k // 12)


# No fastmath here: with it, the compiled code (and the last bit of the
# results) differed between a process that compiled the kernel and one
# that loaded it from the cache (test_compiled_and_cached_kernels_agree_bitwise).
@njit(**_JIT)
def refit_without(fit, kvec, z_nbr, n, dropped, n_drop, lam, mode, kept_z, drop):
    """The clipped refit when a few neighbours are dropped (up to
    `max_block_drops`), from the full fit's factor instead of a new one.

    With A = K + lam I on all n neighbours, B = A^-1, S the kept and D
    the dropped neighbours, the kept system's inverse is B_SS - B_SD
    B_DD^-1 B_DS (block inversion). So with v = B y' (y' = z - c' on S,
    0 on D, c' the kept neighbours' offset) and w_d = B e_d for d in D:
    alpha_S = v_S - w_S (W^-1 v_D), W = B_DD. That is 1 + n_drop solves
    with the factor in hand, instead of refactorising. ``kept_z`` holds
    the kept neighbours' redshifts; ``fit`` is the full fit's
    `FitScratch` (its factor, and its ``scratch`` the full fit's z sorted
    by `_offset` when the offset is the median; its ``y`` receives v).
    ``drop.w`` (at least n_drop rows of n) receives the w_d; ``drop.w_dd``
    (n_drop x n_drop at least) and ``drop.t`` (n_drop) are scratch for
    W^-1 v_D: in closed form for one or two dropped, by a Cholesky factor
    of W for more. Returns (z_phot, rms residual, ok); not ok (W not
    positive definite in floating point) asks for the direct refit.
    """
    chol_t, scratch, v = fit.chol_t, fit.scratch, fit.y
    w, w_dd, t = drop.w, drop.w_dd, drop.t
    n_keep = n - n_drop
    if mode == 1:
        # ``scratch`` still holds the full fit's z sorted (`_offset`): the
        # kept ones' median is read off it with the dropped values taken
        # out (one occurrence each; ``t`` marks those still to remove).
        for b in range(n_drop):
            t[b] = 1.0
        m = 0
        for i in range(n):
            value = scratch[i]
            skip = False
            for b in range(n_drop):
                if t[b] > 0.0 and value == z_nbr[dropped[b]]:
                    t[b] = 0.0
                    skip = True
                    break
            if skip:
                continue
            scratch[m] = value
            m += 1
        c = _sorted_median(scratch, n_keep)
    else:
        c = _offset(kept_z, n_keep, mode, scratch)
    for i in range(n):
        v[i] = z_nbr[i] - c
    for b in range(n_drop):
        v[dropped[b]] = 0.0
    _cho_solve(chol_t, n, v, np.int64(0))
    for b in range(n_drop):
        w_b = w[b]
        d_b = dropped[b]
        for i in range(n):
            w_b[i] = 0.0
        w_b[d_b] = 1.0
        _cho_solve(chol_t, n, w_b, d_b)
    if n_drop == 1:
        d_a = dropped[0]
        if not w[0, d_a] > 0.0:
            return np.nan, np.nan, False
        t[0] = v[d_a] / w[0, d_a]
    elif n_drop == 2:
        d_a = dropped[0]
        d_b = dropped[1]
        w_aa = w[0, d_a]
        w_ab = w[0, d_b]
        w_bb = w[1, d_b]
        det = w_aa * w_bb - w_ab * w_ab
        if not (w_aa > 0.0 and det > 0.0):
            return np.nan, np.nan, False
        t[0] = (w_bb * v[d_a] - w_ab * v[d_b]) / det
        t[1] = (w_aa * v[d_b] - w_ab * v[d_a]) / det
    else:
        # W t = v_D by W's Cholesky factor (lower triangle of ``w_dd``).
        for a in range(n_drop):
            for b in range(a + 1):
                total = w[b, dropped[a]]
                for m in range(b):
                    total -= w_dd[a, m] * w_dd[b, m]
                if a == b:
                    if not total > 0.0:
                        return np.nan, np.nan, False
                    w_dd[a, a] = np.sqrt(total)
                else:
                    w_dd[a, b] = total / w_dd[b, b]
        for a in range(n_drop):
            total = v[dropped[a]]
            for m in range(a):
                total -= w_dd[a, m] * t[m]
            t[a] = total / w_dd[a, a]
        for a in range(n_drop - 1, -1, -1):
            total = t[a]
            for m in range(a + 1, n_drop):
                total -= w_dd[m, a] * t[m]
            t[a] = total / w_dd[a, a]
    # The dropped neighbours (``dropped`` is increasing) are left out.
    z_phot = c
    sum_r2 = 0.0
    next_drop = 0
    for i in range(n):
        if next_drop < n_drop and i == dropped[next_drop]:
            next_drop += 1
            continue
        alpha_i = v[i]
        for b in range(n_drop):
            alpha_i -= t[b] * w[b, i]
        z_phot += alpha_i * kvec[i]
        sum_r2 += alpha_i * alpha_i
    return z_phot, lam * np.sqrt(sum_r2 / n_keep), True


@njit(**_JIT)
def rbf_gram(offsets, nbr_d2, n, gamma, dots, exponent, packed, gram):
    """Upper triangle of the RBF Gram matrix of the first ``n`` neighbours.

    Built from |x_i - x_j|^2 = d_i^2 + d_j^2 - 2 u_i.u_j with ``offsets``
    u (n_feat, n), the neighbours relative to the query, and d_i^2 =
    |u_i|^2 their exact distances. The dot products come from one BLAS
    matrix product into ``dots`` (n, n): about three times as fast as
    rows of multiply-adds here, whose lengths (1 to n - 1) leave most of
    the work to scalar remainder loops. The exponents are gathered into
    ``exponent`` (n (n - 1) / 2), then one vectorised exp into ``packed``
    and rows copied to ``gram``. Neighbours are close to the query, so |u|
    is of the order of the pairwise distances and the cancellation costs
    a few ulp at most.
    """
    np.dot(offsets.T, offsets, dots)
    start = np.int64(0)
    for i in range(n - 1):
        m = n - i - 1
        t_row = exponent[start:start + m]
        dot_row = dots[i, i + 1:n]
        d_i = nbr_d2[i]
        d_j = nbr_d2[i + 1:n]
        for j in range(m):
            t_row[j] = min(-gamma * (d_i + d_j[j] - 2.0 * dot_row[j]), 0.0)
        start += m
    exp_into(exponent, packed, start)
    start = 0
    for i in range(n):
        g_row = gram[i, i:n]
        g_row[0] = 1.0
        m = n - i - 1
        k_row = packed[start:start + m]
        for j in range(m):
            g_row[j + 1] = k_row[j]
        start += m
