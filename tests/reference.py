"""
Plain NumPy/SciPy implementation of the method, independent of the
package's Numba kernels, used as the reference in tests and benchmarks.

Written for clarity, not speed: a Python loop over galaxies, cKDTree-free
brute-force neighbours, ``scipy.linalg.cho_solve`` for the Gram systems.
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve

AB_ZEROPOINT_UJY = 23.9
#: Clipping never leaves fewer neighbours than this (then the first fit stands).
MIN_FIT = 3


def features_from_fluxes(flux_ujy, magnitude_band=None):
    """Adjacent colours (+ one magnitude) from fluxes in uJy, shape (n, bands)."""
    mag = AB_ZEROPOINT_UJY - 2.5 * np.log10(flux_ujy)
    colours = mag[:, :-1] - mag[:, 1:]
    if magnitude_band is None:
        return colours
    return np.column_stack([colours, mag[:, magnitude_band]])


def standardise(train, query):
    mean = train.mean(axis=0)
    std = train.std(axis=0, ddof=1)
    return (train - mean) / std, (query - mean) / std


def _fit(x_nbr, z_nbr, d2_query, gamma, lam, offset):
    c = {"none": 0.0, "median": np.median(z_nbr), "mean": np.mean(z_nbr)}[offset]
    y = z_nbr - c
    sq = ((x_nbr[:, None, :] - x_nbr[None, :, :]) ** 2).sum(axis=-1)
    gram = np.exp(-gamma * sq)
    alpha = cho_solve(cho_factor(gram + lam * np.eye(len(y)), lower=True), y)
    z_phot = c + alpha @ np.exp(-gamma * d2_query)
    resid = y - gram @ alpha
    return z_phot, np.sqrt(np.mean(resid ** 2)), resid


def window_members(z, d2, width, rank=None):
    """Boolean mask of the neighbours in the densest redshift window
    ``|z - z0| <= width (1 + z0)``: the most weight, neighbour j (nearest
    first) weighing rank[j], by default 1 / (j + 1), equal to 1e-12; then
    least summed d2, then lowest z0. Neighbour j is in the window of z0 for z0 in
    [(z_j - width) / (1 + width), (z_j + width) / (1 - width)], so every
    membership set occurs at one of those end points; all are tried."""
    low, high = (z - width) / (1 + width), (z + width) / (1 - width)
    z0 = np.concatenate([low, high])
    inside = (low[None, :] <= z0[:, None]) & (z0[:, None] <= high[None, :])
    if rank is None:
        rank = 1.0 / np.arange(1, z.size + 1)
    weight = inside @ rank
    tied = np.flatnonzero(weight >= weight.max() - 1e-12)
    best = tied[np.lexsort((z0[tied], (inside @ d2)[tied]))[0]]
    return inside[best]


def closer_group(z, d2, width, gamma, share, first):
    """The window's members ``first``, or the heaviest window of the other
    neighbours (their rank weights 1 / (j + 1) kept) when it holds at
    least ``share`` of the first's rank weight, has at least 3 members,
    and its mean exp(-gamma d2) is larger."""
    rank = 1.0 / np.arange(1, z.size + 1)
    rest = np.flatnonzero(~first)
    if rest.size == 0:
        return first
    second = np.zeros(z.size, bool)
    second[rest[window_members(z[rest], d2[rest], width, rank[rest])]] = True
    heavy = rank[second].sum() >= share * rank[first].sum() and second.sum() >= 3
    nearer = np.exp(-gamma * d2[second]).mean() > np.exp(-gamma * d2[first]).mean()
    return second if heavy and nearer else first


def predict(x_train, z_train, x_query, k, gamma, lam, clip_sigma=3.0,
            offset="median", window=None, second_group=None):
    """z_phot, z_phot_err and neighbours used, galaxy by galaxy."""
    n = len(x_query)
    z_phot = np.empty(n)
    z_err = np.empty(n)
    n_used = np.empty(n, dtype=int)
    index = np.arange(len(x_train))
    for q in range(n):
        d2 = np.zeros(len(x_train))
        for f in range(x_train.shape[1]):   # same summation order as the kernel
            d2 += (x_train[:, f] - x_query[q, f]) ** 2
        nbr = np.lexsort((index, d2))[:k]   # ties go to the lower index
        if window is not None:
            inside = window_members(z_train[nbr], d2[nbr], window)
            if second_group is not None:
                inside = closer_group(z_train[nbr], d2[nbr], window, gamma, second_group,
                                      inside)
            nbr = nbr[inside]
        zp, err, resid = _fit(x_train[nbr], z_train[nbr], d2[nbr], gamma, lam, offset)
        keep = np.abs(resid) <= clip_sigma * err
        if MIN_FIT <= keep.sum() < len(nbr):
            nbr = nbr[keep]
            zp, err, _ = _fit(x_train[nbr], z_train[nbr], d2[nbr], gamma, lam, offset)
        z_phot[q], z_err[q], n_used[q] = zp, err, len(nbr)
    return z_phot, z_err, n_used


def split_neighbours(x_train, z_train, x_query, z_phot, k, share=0.25, distance=0.15):
    """Whether each galaxy's k nearest neighbours (brute force, ties to the
    lower index) whose redshift z_j would make z_phot an outlier,
    ``|z_phot - z_j| > distance (1 + z_j)``, hold at least ``share`` of
    the rank weight (the j-th nearest weighing 1 / j); and that share."""
    index = np.arange(len(x_train))
    weight = 1.0 / np.arange(1, k + 1)
    shares = np.empty(len(x_query))
    for q in range(len(x_query)):
        d2 = np.zeros(len(x_train))
        for f in range(x_train.shape[1]):
            d2 += (x_train[:, f] - x_query[q, f]) ** 2
        z_nbr = z_train[np.lexsort((index, d2))[:k]]
        far = np.abs(z_phot[q] - z_nbr) > distance * (1 + z_nbr)
        shares[q] = weight[far].sum() / weight.sum()
    return shares >= share, shares
