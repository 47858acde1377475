"""
RAIL's FlexZBoost on one training / test pair, run by the RAIL virtual
environment's Python (`setup_rail.sh`), never by the package's:

    <rail-venv>/bin/python benchmarks/peers/flexzboost_worker.py IN.npz OUT.npz

It imports RAIL only (not photoz_numba), so that RAIL stays out of the
package's dependencies.

``IN.npz`` holds, as RAIL's stages are normally given them:

``bands``
    Band names (strings); RAIL's columns are ``mag_<band>`` and
    ``mag_err_<band>``, and the reference band (``ref_band``: the
    magnitude FlexZBoost takes besides the colours of adjacent bands) is
    one of them.
``train_mag``, ``train_mag_err``, ``test_mag``, ``test_mag_err``
    (n, n_bands) AB magnitudes and their errors; a non-detection is
    ``nondetect_val`` (99, RAIL's default), which RAIL replaces by the
    band's limiting magnitude (``mag_limits``) with an error of 1 mag.
``train_z``
    Training redshifts.
``mag_limits``
    (n_bands,) limiting magnitude of each band.
``zmin``, ``zmax``, ``nzbins``, ``seed``
    FlexZBoost's redshift range and grid, and the seed of its split of
    the training set into a fitting part and a validation part (RAIL's
    ``trainfrac`` = 0.75) on which it tunes its bump-removal threshold and
    sharpening exponent by CDE loss. It then refits on the whole training
    set (``retrain_full``). The test set is used for nothing but the
    estimate.

``OUT.npz`` holds ``z_grid`` (``linspace(zmin, zmax, nzbins)``), ``pdf``
(n_test, nzbins) densities on it, ``zmode`` (RAIL's mode point estimate),
the tuned ``bump_threshold`` and ``sharpen_alpha`` and the ``seconds``
taken by the informer and by the estimator.

All other settings are FlexZBoost's defaults in RAIL (35 cosine basis
functions, XGBoost with max_depth 8).
"""

import sys
import tempfile
import time

import numpy as np


def _columns(bands, mag, mag_err):
    """RAIL's dictionary of magnitude and error columns."""
    data = {}
    for b, band in enumerate(bands):
        data[f"mag_{band}"] = np.ascontiguousarray(mag[:, b], dtype=float)
        data[f"mag_err_{band}"] = np.ascontiguousarray(mag_err[:, b], dtype=float)
    return data


def run(inputs):
    """FlexZBoost's p(z) and mode for the test rows of ``inputs`` (a dict
    as described in the module docstring), as a dict of arrays."""
    from rail.core.data import DataStore
    from rail.estimation.algos.flexzboost import FlexZBoostEstimator, FlexZBoostInformer

    DataStore.allow_overwrite = True
    bands = [str(band) for band in inputs["bands"]]
    names = [f"mag_{band}" for band in bands]
    config = dict(
        hdf5_groupname="",
        bands=names,
        err_bands=[f"mag_err_{band}" for band in bands],
        ref_band=f"mag_{inputs['ref_band']}",
        mag_limits=dict(zip(names, map(float, inputs["mag_limits"]))),
        nondetect_val=99.0,
        zmin=float(inputs["zmin"]),
        zmax=float(inputs["zmax"]),
        nzbins=int(inputs["nzbins"]),
    )
    train = _columns(bands, inputs["train_mag"], inputs["train_mag_err"])
    train["redshift"] = np.asarray(inputs["train_z"], dtype=float)
    test = _columns(bands, inputs["test_mag"], inputs["test_mag_err"])

    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        informer = FlexZBoostInformer.make_stage(
            name="inform_flexzboost", model=f"{scratch}/flexzboost.pkl",
            redshift_col="redshift", seed=int(inputs["seed"]), **config)
        informer.inform(train)
        informed = time.perf_counter()
        estimator = FlexZBoostEstimator.make_stage(
            name="estimate_flexzboost", model=informer.get_handle("model"),
            output=f"{scratch}/flexzboost_pdfs.hdf5", output_mode="return",
            calculated_point_estimates=["zmode"], **config)
        ensemble = estimator.estimate(test)()
        estimated = time.perf_counter()
    z_grid = np.linspace(config["zmin"], config["zmax"], config["nzbins"])
    model = informer.model
    return {"z_grid": z_grid, "pdf": np.asarray(ensemble.pdf(z_grid), dtype=float),
            "zmode": np.asarray(ensemble.ancil["zmode"], dtype=float).ravel(),
            "bump_threshold": float(model.bump_threshold),
            "sharpen_alpha": float(model.sharpen_alpha),
            "seconds": np.array([informed - start, estimated - informed])}


def main(argv=None):
    """Read the input .npz, run FlexZBoost, write the output .npz."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit("usage: flexzboost_worker.py IN.npz OUT.npz")
    with np.load(argv[0], allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    np.savez(argv[1], **run(inputs))


if __name__ == "__main__":
    main()
