# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The compiled per-galaxy work of photoz_numba, by concern:

- `search`: the neighbour index and the k-nearest search;
- `ridge`: the RBF Gram matrix, the kernel ridge fit and the refit after
  clipping;
- `predict`: the parallel loop over galaxies that joins them;
- `_jit`: Numba options and the on-disk cache's locator, which stamps
  every kernel with a hash of all files here, so that a change to any of
  them recompiles every kernel that could depend on it.

Everything here works on plain ``float64`` NumPy arrays; units, masks and
Tables are dealt with in `photoz_numba.photometry` and
`photoz_numba.model`. This subpackage is private: users reach the search
through `photoz_numba.neighbours` and the predict loop through
`photoz_numba.PhotoZModel`.
"""
