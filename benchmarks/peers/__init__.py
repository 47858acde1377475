"""
Peers
=====

photoz_numba measured against other photo-z codes on the same splits in
the same run; today RAIL's FlexZBoost (issues 19 and 22). From the
repository root, in the package's own environment::

    python -m benchmarks.peers.compare --dataset both --seeds 0-9 [--tune N]
    python -m benchmarks.peers.compare --quick       # 1 seed: the plumbing

``paper`` is the paper protocol (10 stratified 4:1 splits of the 4605
galaxies, ``PHOTOZ_NUMBA_KALNA2024``), ``lsst`` the LSST-like benchmark
(trained on ``lsst_like_train.fits``, judged on ``lsst_like_test.fits``;
``PHOTOZ_NUMBA_LSST_LIKE``, default ``../shared/data``).

- ``setup_rail.sh [VENV]`` makes RAIL's own virtual environment
  (``pz-rail-base`` 2.0.11, ``pz-rail-flexzboost`` 2.0.3; default
  ``~/.cache/photoz_numba-peers/rail-venv`` or ``$PHOTOZ_NUMBA_RAIL_VENV``),
  idempotently; ``compare`` calls it. RAIL is never a dependency of the
  package and never imported in its environment.
- ``flexzboost_worker.py`` runs in that venv on one split written to an
  .npz: RAIL's FlexZBoost informer and estimator with their defaults on
  magnitudes and magnitude errors, non-detections at RAIL's 99 replaced by
  limiting magnitudes; it writes the p(z) on the comparison's grid and
  the mode.
- ``compare.py`` fits our model (default hyper-parameters, or ``--tune``
  on the training part) and calibrates it on the training part, runs the
  worker, and writes ``benchmarks/results/peers_<dataset>.ecsv`` (a row per
  code), ``..._per_seed.ecsv`` and ``..._by_z.ecsv``.
- ``metrics.py``: sigma_NMAD, outliers, coverage, PIT and its KS distance,
  CDE loss and the per-redshift table, in plain NumPy, the same for both.

Nothing is tuned on a test set: FlexZBoost tunes its bump and sharpening
parameters on a validation quarter of the training part, our model its
error calibration (and, with ``--tune``, its hyper-parameters) on the
training part.

Measured 2026-12-01, 2 cores shared (load 4.8 to 5.8), 17 minutes, our
model at its defaults; "tuned": ``--tune 50`` (paper) and ``--tune 30``
(LSST-like), separate runs (docs: peers, with the per-redshift tables):

=================  ============  ========  ======  =====  =====  ======  ========
data               code          sigma     f_out   68 %   95 %   PIT KS  CDE loss
=================  ============  ========  ======  =====  =====  ======  ========
paper, 10 seeds    photoz_numba  0.0165    3.29 %  70.0   91.9   0.025   -8.36
paper, 10 seeds    ours, tuned   0.0162    3.08 %  70.4   92.4   0.032   -8.39
paper, 10 seeds    FlexZBoost    0.0175    3.51 %  63.0   79.0   0.084   -5.75
LSST-like          photoz_numba  0.0293    6.76 %  68.8   93.6   0.018   -6.48
LSST-like          ours, tuned   0.0300    5.90 %  69.4   93.3   0.013   -6.00
LSST-like          FlexZBoost    0.0255    5.71 %  66.2   86.2   0.051   -5.95
=================  ============  ========  ======  =====  =====  ======  ========
"""
