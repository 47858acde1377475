# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The package's k-nearest-neighbour search, for use on its own.

`NeighbourIndex` holds a set of points (rows of a feature array) and finds
the ``k`` nearest of each query point in Euclidean distance, exactly, ties
broken by the lower row index: the search `~photoz_numba.PhotoZModel`
runs in its standardised colour space. A set of up to `SCAN_ROWS` points
is scanned whole; a larger one is held in a k-d tree (the faster of the
two at each size, docs: performance).
"""

import numpy as np

from ._kernels.search import SCAN_ROWS, build_index, nearest_neighbours

__all__ = ["NeighbourIndex", "SCAN_ROWS"]


class NeighbourIndex:
    """Exact (or, with ``eps``, approximate) k-nearest-neighbour search.

    Parameters
    ----------
    points : array-like, shape (n_points, n_features)
        The points to search among; finite.
    eps : float, optional
        0 (default) for the exact k nearest. Above 0, a tree search may
        return, for each rank, a point up to ``1 + eps`` times as far as
        the true neighbour of that rank, and examines far fewer points in
        a large set. A set of up to `SCAN_ROWS` points is always searched
        exactly.

    Raises
    ------
    ValueError
        ``points`` is not a 2-d array of finite numbers with at least one
        row, or ``eps`` is negative.

    Examples
    --------
    The same neighbours as a brute-force search:

    >>> import numpy as np
    >>> from photoz_numba.neighbours import NeighbourIndex
    >>> rng = np.random.default_rng(0)
    >>> points, queries = rng.normal(size=(500, 3)), rng.normal(size=(20, 3))
    >>> index, distance = NeighbourIndex(points).query(queries, k=5)
    >>> brute = np.argsort(((queries[:, None] - points[None]) ** 2).sum(-1), axis=1)[:, :5]
    >>> bool((index == brute).all()), distance.shape
    (True, (20, 5))
    """

    def __init__(self, points, eps=0.0):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] < 1 or points.shape[1] < 1:
            raise ValueError(f"points must be a 2-d array (n_points, n_features) with at "
                             f"least one row and column, not of shape {points.shape}")
        if not np.isfinite(points).all():
            raise ValueError("points must all be finite")
        if not (isinstance(eps, (int, float, np.floating, np.integer)) and eps >= 0):
            raise ValueError(f"eps must be a number >= 0, not {eps!r}")
        self.n_points, self.n_features = points.shape
        self.eps = float(eps)
        self._index = build_index(points.T, eps=self.eps)

    def query(self, points, k=1):
        """The ``k`` nearest points of each query, nearest first.

        Parameters
        ----------
        points : array-like, shape (n_queries, n_features)
            The query points. A query with a NaN has no neighbours.
        k : int, optional
            Neighbours per query, from 1 to ``n_points``.

        Returns
        -------
        index : ndarray of int64, shape (n_queries, k)
            Row of each neighbour in the indexed points (-1 where there is
            none).
        distance : ndarray of float64, shape (n_queries, k)
            Its Euclidean distance (inf where there is none).

        Raises
        ------
        ValueError
            ``points`` has the wrong number of features, or ``k`` is not
            an integer from 1 to ``n_points``.
        """
        points = np.asarray(points, dtype=np.float64)
        if points.ndim == 1:
            points = points[None, :]
        if points.ndim != 2 or points.shape[1] != self.n_features:
            raise ValueError(f"query points must have {self.n_features} features, "
                             f"not shape {points.shape}")
        if (isinstance(k, bool) or not isinstance(k, (int, np.integer))
                or not 1 <= k <= self.n_points):
            raise ValueError(f"k must be an integer from 1 to {self.n_points}, not {k!r}")
        index, distance2 = nearest_neighbours(self._index, points, int(k))
        return index, np.sqrt(distance2)

    def __repr__(self):
        return (f"NeighbourIndex({self.n_points} points, {self.n_features} features, "
                f"eps={self.eps})")
