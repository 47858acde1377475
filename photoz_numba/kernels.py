# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Numba kernels of the local kernel-ridge photo-z method.

Everything here works on plain ``float64`` NumPy arrays: units, masks and
Tables are dealt with in `photoz_numba.photometry` and `photoz_numba.model`
before anything reaches this module.

One ``numba.prange`` loop runs over blocks of query galaxies; each block
owns its scratch buffers, so nothing is allocated per galaxy. For each
galaxy the loop does:

1. neighbour scoring: the ``k`` training galaxies nearest in (standardised)
   feature space, by exact brute-force search with partial-distance
   early exit; ties are broken by the lower training index;
2. the Gram solve: ``alpha = (K + lam I)^-1 (z - c)`` by Cholesky, with
   ``K_ij = exp(-gamma |x_i - x_j|^2)`` and ``c`` the offset (0 in the
   paper, or the neighbours' median or mean redshift);
3. the prediction ``z_phot = c + sum_i alpha_i K(x, x_i)``;
4. clipping: the neighbours' residuals ``r = (z - c) - K alpha`` give
   ``sigma = sqrt(mean(r^2))``; neighbours with ``|r| > clip_sigma *
   sigma`` are dropped and steps 2-3 are redone once on the rest. The
   RMS residual of the final fit is ``z_phot_err``.

The kernels are kept together in this one file because Numba's on-disk
cache does not notice changes to helpers that live in other modules.
"""

import numpy as np
from numba import njit, prange

__all__ = ["predict_kernel", "OFFSET_MODES", "STATUS_OK",
           "STATUS_SOLVE_FAILED", "STATUS_EXTRAPOLATION", "STATUS_SKIPPED"]

#: Offset modes understood by the kernel, by name.
OFFSET_MODES = {"none": 0, "median": 1, "mean": 2}

# Per-galaxy status bits returned by the kernel; `photoz_numba.flags`
# maps them onto the public ``z_phot_flag`` bits.
STATUS_OK = 0
STATUS_SKIPPED = 1          # the caller marked the galaxy as not predictable
STATUS_SOLVE_FAILED = 2     # K + lam I was not positive definite in floating point
STATUS_EXTRAPOLATION = 4    # outside its neighbours' bounding box in some feature

# Galaxies per block of the parallel loop: large enough that per-block
# scratch allocation is negligible, small enough to balance two threads.
_BLOCK = 256

_JIT = dict(cache=True, nogil=True, error_model="numpy")
# Lets the compiler vectorise the Cholesky and solve dot products. No
# 'nnan'/'ninf': the positive-pivot check must see NaN as NaN.
_FASTMATH = {"contract", "reassoc", "nsz", "arcp"}


@njit(**_JIT)
def _nearest(x_train_t, query, k, d2_all, nbr_idx, nbr_d2):
    """k nearest training rows to ``query``, ascending in (distance, index).

    ``x_train_t`` is the training set feature-major (n_feat, n_train), so
    the distance pass runs over contiguous memory and vectorises.
    Distances are summed feature by feature in index order, so the result
    is exactly reproducible by a NumPy loop over features. ``nbr_d2``
    receives squared Euclidean distances.
    """
    n_feat, n_train = x_train_t.shape
    for j in range(n_train):
        diff = x_train_t[0, j] - query[0]
        d2_all[j] = diff * diff
    for f in range(1, n_feat):
        qf = query[f]
        for j in range(n_train):
            diff = x_train_t[f, j] - qf
            d2_all[j] += diff * diff
    n_found = 0
    worst = np.inf
    for j in range(n_train):
        d2 = d2_all[j]
        # Equal to the worst: the lower index, already in the list, wins.
        if not d2 < worst:
            continue
        pos = n_found if n_found < k else k - 1
        while pos > 0 and nbr_d2[pos - 1] > d2:
            nbr_d2[pos] = nbr_d2[pos - 1]
            nbr_idx[pos] = nbr_idx[pos - 1]
            pos -= 1
        nbr_d2[pos] = d2
        nbr_idx[pos] = j
        if n_found < k:
            n_found += 1
        if n_found == k:
            worst = nbr_d2[k - 1]
    return n_found


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
    half = n // 2
    if n % 2 == 1:
        return scratch[half]
    return 0.5 * (scratch[half - 1] + scratch[half])


@njit(fastmath=_FASTMATH, **_JIT)
def _ridge_fit(gram, kvec, z_nbr, n, lam, mode, chol, y, alpha, resid,
               scratch):
    """Fit kernel ridge on the first ``n`` neighbours.

    ``gram`` holds K (without lam) for those neighbours, ``kvec`` the
    kernel between the query and each of them. Fills ``resid`` with the
    neighbours' residuals and returns (z_phot, rms residual, ok).
    """
    c = _offset(z_nbr, n, mode, scratch)
    for i in range(n):
        y[i] = z_nbr[i] - c
    # Cholesky factor of K + lam I, lower triangle, row by row.
    for i in range(n):
        for j in range(i + 1):
            s = gram[i, j]
            if i == j:
                s += lam
            for m in range(j):
                s -= chol[i, m] * chol[j, m]
            if i == j:
                if not s > 0.0:
                    return np.nan, np.nan, False
                chol[i, i] = np.sqrt(s)
            else:
                chol[i, j] = s / chol[j, j]
    # Forward then back substitution: L w = y, L^T alpha = w.
    for i in range(n):
        s = y[i]
        for m in range(i):
            s -= chol[i, m] * alpha[m]
        alpha[i] = s / chol[i, i]
    for i in range(n - 1, -1, -1):
        s = alpha[i]
        for m in range(i + 1, n):
            s -= chol[m, i] * alpha[m]
        alpha[i] = s / chol[i, i]
    z_phot = c
    for i in range(n):
        z_phot += alpha[i] * kvec[i]
    sum_r2 = 0.0
    for i in range(n):
        fitted = 0.0
        for m in range(n):
            fitted += gram[i, m] * alpha[m]
        r = y[i] - fitted
        resid[i] = r
        sum_r2 += r * r
    return z_phot, np.sqrt(sum_r2 / n), True


@njit(parallel=True, **_JIT)
def predict_kernel(x_train_t, z_train, x_query, predictable, k, gamma, lam,
                   clip_sigma, offset_mode, z_phot, z_phot_err, n_used,
                   status):
    """Predict redshifts for every row of ``x_query``.

    Parameters
    ----------
    x_train_t : float64 array (n_feat, n_train), C-contiguous
        Standardised training features, feature-major.
    z_train : float64 array (n_train,)
        Training redshifts.
    x_query : float64 array (n_query, n_feat)
        Standardised features of the galaxies to predict.
    predictable : bool array (n_query,)
        False for galaxies to skip (outputs NaN, ``STATUS_SKIPPED``).
    k : int
        Neighbours per galaxy, ``1 <= k <= n_train``.
    gamma, lam : float
        RBF width and ridge regularisation, both > 0.
    clip_sigma : float
        Clipping threshold in units of the RMS residual; ``inf`` disables.
    offset_mode : int
        A value of `OFFSET_MODES`.
    z_phot, z_phot_err : float64 arrays (n_query,)
        Filled with the prediction and its RMS-residual error.
    n_used : int64 array (n_query,)
        Filled with the number of neighbours in the final fit.
    status : int64 array (n_query,)
        Filled with ``STATUS_*`` bits.
    """
    n_query, n_feat = x_query.shape
    n_blocks = (n_query + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        d2_all = np.empty(x_train_t.shape[1])
        nbr_idx = np.empty(k, np.int64)
        nbr_x = np.empty((k, n_feat))
        nbr_d2 = np.empty(k)
        gram = np.empty((k, k))
        sub_gram = np.empty((k, k))
        chol = np.empty((k, k))
        kvec = np.empty(k)
        sub_kvec = np.empty(k)
        z_nbr = np.empty(k)
        sub_z = np.empty(k)
        y = np.empty(k)
        alpha = np.empty(k)
        resid = np.empty(k)
        scratch = np.empty(k)
        keep = np.empty(k, np.int64)
        start = block * _BLOCK
        stop = min(start + _BLOCK, n_query)
        for q in range(start, stop):
            if not predictable[q]:
                z_phot[q] = np.nan
                z_phot_err[q] = np.nan
                n_used[q] = 0
                status[q] = STATUS_SKIPPED
                continue
            query = x_query[q]
            n = _nearest(x_train_t, query, k, d2_all, nbr_idx, nbr_d2)
            for i in range(n):
                for f in range(n_feat):
                    nbr_x[i, f] = x_train_t[f, nbr_idx[i]]
            flag = STATUS_OK
            for f in range(n_feat):
                lo = np.inf
                hi = -np.inf
                for i in range(n):
                    v = nbr_x[i, f]
                    lo = min(lo, v)
                    hi = max(hi, v)
                if query[f] < lo or query[f] > hi:
                    flag |= STATUS_EXTRAPOLATION
                    break
            for i in range(n):
                z_nbr[i] = z_train[nbr_idx[i]]
                kvec[i] = np.exp(-gamma * nbr_d2[i])
                gram[i, i] = 1.0
                for j in range(i):
                    d2 = 0.0
                    for f in range(n_feat):
                        diff = nbr_x[i, f] - nbr_x[j, f]
                        d2 += diff * diff
                    value = np.exp(-gamma * d2)
                    gram[i, j] = value
                    gram[j, i] = value
            zp, err, ok = _ridge_fit(gram, kvec, z_nbr, n, lam, offset_mode,
                                     chol, y, alpha, resid, scratch)
            n_final = n
            if ok:
                limit = clip_sigma * err
                n_keep = 0
                for i in range(n):
                    if not abs(resid[i]) > limit:
                        keep[n_keep] = i
                        n_keep += 1
                if 0 < n_keep < n:
                    for a in range(n_keep):
                        ia = keep[a]
                        sub_z[a] = z_nbr[ia]
                        sub_kvec[a] = kvec[ia]
                        for b in range(n_keep):
                            sub_gram[a, b] = gram[ia, keep[b]]
                    zp, err, ok = _ridge_fit(sub_gram, sub_kvec, sub_z, n_keep,
                                             lam, offset_mode, chol, y, alpha,
                                             resid, scratch)
                    n_final = n_keep
            if not ok:
                flag |= STATUS_SOLVE_FAILED
            z_phot[q] = zp
            z_phot_err[q] = err
            n_used[q] = n_final
            status[q] = flag
