"""photoz_numba.dask on a 2-worker LocalCluster, and LSDB to HATS.

Contract tests: the distributed predictions are the in-memory ones, bit
for bit (no independent reference needed: the in-memory path is tested
against tests/reference.py in test_kernels and test_missing_bands).
"""

import contextlib
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from astropy.table import vstack

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from photoz_numba import PhotoZModel  # noqa: E402
from photoz_numba.dask import predict, predict_catalog, stack_pdf  # noqa: E402
from photoz_numba.datasets import KALNA2024_BANDS  # noqa: E402
from photoz_numba.selection import stratified_split  # noqa: E402

BANDS = list(KALNA2024_BANDS)

# The test frames are built in memory, so their graphs carry the data.
pytestmark = pytest.mark.filterwarnings("ignore:Sending large graph")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def model(sample):
    return PhotoZModel(BANDS).fit(stratified_split(sample, z="zspec", seed=0)[0])


@pytest.fixture(scope="module")
def frame(catalogue):
    """The whole catalogue (with missing bands) as pandas, row ids added."""
    df = catalogue.to_pandas()
    df["row"] = np.arange(len(df))
    return df


def _expected(model, catalogue):
    out = model.predict(catalogue)
    return {"z_phot": np.ma.filled(out["z_phot"], np.nan),
            "z_phot_err": np.ma.filled(out["z_phot_err"], np.nan),
            "z_phot_flag": np.asarray(out["z_phot_flag"]),
            "z_phot_nused": np.asarray(out["z_phot_nused"])}


def test_identical_to_in_memory_predict(client, model, catalogue, frame):
    ddf = dd.from_pandas(frame, npartitions=7)
    out = predict(model, ddf)
    sizes = ddf.map_partitions(len).compute()
    result = client.compute(out).result()
    # Row count and order per partition: the same rows, the same order.
    np.testing.assert_array_equal(out.map_partitions(len).compute(), sizes)
    np.testing.assert_array_equal(result["row"], np.arange(len(frame)))
    for name, values in _expected(model, catalogue).items():
        np.testing.assert_array_equal(result[name].to_numpy(), values)
    assert str(result["z_phot_flag"].dtype) == "int16"


def test_nothing_is_computed_early(model, frame):
    import dask

    @dask.delayed
    def boom():
        raise RuntimeError("computed too early")

    ddf = dd.from_delayed([boom()], meta=frame.iloc[:0])
    out = predict(model, ddf)            # building the graph computes nothing
    assert list(out.columns[-4:]) == ["z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"]
    with pytest.raises(RuntimeError, match="too early"):
        out.compute(scheduler="sync")


def test_bad_frames(model, frame):
    with pytest.raises(KeyError, match="f444w"):
        predict(model, dd.from_pandas(frame.drop(columns="f444w"), npartitions=2))
    with pytest.raises(ValueError, match="z_phot"):
        predict(model, dd.from_pandas(frame.assign(z_phot=1.0), npartitions=2))


@pytest.mark.parametrize("name", ["z_phot", "Z_PHOT", "Z_Phot_Flag"])
def test_output_columns_already_there_are_refused_in_any_case(name):
    """An output column already in the DataFrame is refused, in any case,
    as predict and predict_fits refuse it (Dask let Z_PHOT through, to sit
    beside the new z_phot: the same column to FITS)."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    frame = table[500:].to_pandas().assign(**{name: 1.0})
    with pytest.raises(ValueError, match=rf"the DataFrame already has column\(s\) "
                                         rf"\['{name}'\].*ignoring case"):
        predict(model, dd.from_pandas(frame, npartitions=2))


def test_stated_units(client, model, catalogue, frame):
    in_njy = frame.assign(**{band: frame[band] * 1000 for band in BANDS})
    out = client.compute(predict(model, dd.from_pandas(in_njy, npartitions=3),
                                 units="nJy")).result()
    np.testing.assert_allclose(out["z_phot"], _expected(model, catalogue)["z_phot"],
                               rtol=0, atol=1e-9)


@pytest.mark.slow
def test_killed_worker_loses_no_rows(client, model, catalogue, frame):
    big = frame.iloc[np.tile(np.arange(len(frame)), 40)].reset_index(drop=True)
    big["row"] = np.arange(len(big))
    out = predict(model, dd.from_pandas(big, npartitions=40))
    future = client.compute(out)
    deadline = time.monotonic() + 60
    while not any(client.processing().values()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    assert not future.done()
    victim = sorted(client.scheduler_info()["workers"])[0]
    # The worker dies before it can answer; its nanny starts a new one.
    with contextlib.suppress(distributed.comm.CommClosedError, OSError):
        client.run(os._exit, 1, workers=[victim])
    result = future.result(timeout=300)
    np.testing.assert_array_equal(result["row"], np.arange(len(big)))
    expected = _expected(model, vstack([catalogue] * 40))
    np.testing.assert_array_equal(result["z_phot"].to_numpy(), expected["z_phot"])


@pytest.mark.slow
def test_lsdb_catalogue_to_hats(model, catalogue, frame, tmp_path):
    lsdb = pytest.importorskip("lsdb")
    catalog = lsdb.from_dataframe(frame, ra_column="ra", dec_column="dec")
    predict_catalog(model, catalog).write_catalog(tmp_path / "photoz", progress_bar=False)
    back = lsdb.open_catalog(tmp_path / "photoz").compute().sort_values("row")
    assert len(back) == len(frame)
    np.testing.assert_array_equal(back["z_phot"].to_numpy(),
                                  _expected(model, catalogue)["z_phot"])


def test_model_is_one_node_of_the_graph(model, frame):
    """Each worker fetches the model once: one graph node, whatever the partitions."""
    out = predict(model, dd.from_pandas(frame, npartitions=6))
    graph = dict(out.__dask_graph__())
    model_keys = [key for key, node in graph.items()
                  if isinstance(getattr(node, "value", None), PhotoZModel)]
    assert len(model_keys) == 1
    tasks = [node for key, node in graph.items() if "_predict_partition" in str(key)]
    assert len(tasks) == 6
    assert all(model_keys[0] in node.dependencies for node in tasks)


def test_stack_pdf_equals_the_in_memory_stack(client):
    """The partitions' stacks add up to the in-memory stack of all rows
    (the reference), with an empty partition, a weight column and rows
    without a p(z); LSDB catalogues go the same way."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.exceptions import PhotoZWarning
    table = toy_catalogue(1500, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1200]).calibrate(table[:1200])
    rows = table[1200:].copy()
    rows["r"][:5] = rows["i"][:5] = np.nan          # no p(z)
    rows["w"] = np.linspace(0.5, 1.5, len(rows))
    grid = np.linspace(0, 4, 201)
    with pytest.warns(PhotoZWarning, match="5 of 300 rows"):
        expected = model.stack_pdf(rows, grid, weights="w")
    frame = rows.to_pandas()
    ddf = dd.concat([dd.from_pandas(frame, npartitions=4),
                     dd.from_pandas(frame.iloc[:0], npartitions=1)])
    with pytest.warns(PhotoZWarning, match="5 of 300 rows"):
        stacked = stack_pdf(model, ddf, grid, weights="w")
    np.testing.assert_allclose(stacked["n_z"], expected["n_z"], rtol=1e-12, atol=1e-12)
    assert stacked.meta == expected.meta | {"weight_sum": pytest.approx(
        expected.meta["weight_sum"], rel=1e-12)}
    with pytest.raises(KeyError, match="'weight'"):
        stack_pdf(model, ddf, grid, weights="weight")
    with pytest.raises(TypeError, match="must name a column"):
        stack_pdf(model, ddf, grid, weights=np.ones(len(rows)))
    bad = frame.copy()
    bad.loc[160, "w"] = np.nan              # row 160: the third partition's 10th
    with pytest.raises(ValueError, match=r"partition 2: 'w' must be finite .* row 10 \(nan\)"):
        stack_pdf(model, dd.from_pandas(bad, npartitions=4), grid, weights="w")
    with pytest.raises(ValueError, match="'s' must hold numbers"):
        stack_pdf(model, dd.from_pandas(frame.assign(s="x"), npartitions=2), grid,
                  weights="s")
    lsdb = pytest.importorskip("lsdb")
    rng = np.random.default_rng(2)
    catalog = lsdb.from_dataframe(frame.assign(ra=rng.uniform(0, 10, len(frame)),
                                               dec=rng.uniform(-5, 5, len(frame))),
                                  ra_column="ra", dec_column="dec", margin_threshold=None)
    with pytest.warns(PhotoZWarning):
        from_lsdb = stack_pdf(model, catalog, grid, weights="w")
    np.testing.assert_allclose(from_lsdb["n_z"], expected["n_z"], rtol=1e-12, atol=1e-12)


def test_text_in_a_band_column_is_read_as_in_a_table():
    """Text in a band column: a number written as text is that number, and
    other text is the Table path's error naming the column (it was made a
    missing band, flagged but not said)."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    rows = table[500:]
    expected = model.predict(rows)
    frame = rows.to_pandas()
    text = frame.assign(g=[repr(float(value)) for value in frame["g"]])
    assert text["g"].dtype.kind not in "biuf"
    text.loc[3, "g"] = None                 # a missing value, as NaN: no measurement
    out = predict(model, dd.from_pandas(text, npartitions=2)).compute(scheduler="sync")
    kept = np.arange(len(rows)) != 3
    np.testing.assert_array_equal(out["z_phot"].to_numpy()[kept],
                                  np.ma.filled(expected["z_phot"], np.nan)[kept])
    assert out["z_phot_flag"].iloc[3] & 1 and not expected["z_phot_flag"][3] & 1
    in_table = rows.copy()
    in_table["g"] = in_table["g"].astype(str)
    in_table["g"][1] = "oops"
    with pytest.raises(TypeError, match="column 'g' must hold numbers, not"):
        model.predict(in_table)
    bad = text.copy()
    bad.loc[1, "g"] = "1.2e-3 oops"
    with pytest.raises(TypeError, match="column 'g' must hold numbers, not"):
        predict(model, dd.from_pandas(bad, npartitions=2)).compute(scheduler="sync")
    with pytest.raises(TypeError, match="column 'g' must hold numbers, not"):
        stack_pdf(model.calibrate(table[:500]), dd.from_pandas(bad, npartitions=2),
                  np.linspace(0, 4, 41))


def test_mostly_extrapolated_rows_are_said_once_per_result():
    """Rows mostly beyond their neighbours' range (band columns not in the
    units they say) are warned of as by model.predict, predict_fits and
    predict_file: once per result, for the first partition found, with its
    counts (Dask's predict said nothing; the flags alone told)."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.exceptions import PhotoZWarning
    from photoz_numba.flags import EXTRAPOLATION
    table = toy_catalogue(1600, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
    rows = table[1000:].copy()
    rows["g"] *= 300.0
    rows["i"] /= 50.0
    with pytest.warns(PhotoZWarning, match="600 of 600 rows lie beyond"):
        model.predict(rows)
    flagged = (model.predict_arrays(rows).z_phot_flag & EXTRAPOLATION) != 0
    out = predict(model, dd.from_pandas(rows.to_pandas(), npartitions=4))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out.compute(scheduler="sync")
    assert [w.category for w in said] == [PhotoZWarning]
    found = re.match(r"(\d+) of 150 rows of partition (\d) lie beyond their neighbours",
                     str(said[0].message))
    part = int(found[2])
    assert int(found[1]) == flagged[150 * part:150 * (part + 1)].sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.compute(scheduler="sync")       # the same result, said already
    # Another result says it again; rows like the training set's, nothing.
    with pytest.warns(PhotoZWarning, match="rows of partition . lie beyond"):
        predict(model, dd.from_pandas(rows.to_pandas(), npartitions=2)).compute(
            scheduler="sync")
    predict(model, dd.from_pandas(table[1000:].to_pandas(), npartitions=4)).compute(
        scheduler="sync")


def test_stack_pdf_says_once_when_all_its_rows_are_mostly_extrapolated():
    """stack_pdf computes its total, so it judges all the rows at once, as
    a file streamed is judged, and says it once, here: 4 partitions of 15
    rows (none of which alone would be judged, being under 20 rows), with
    the count of rows the in-memory prediction flags extrapolation (said
    nothing before; the stack of nJy fluxes labelled uJy came silently)."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.flags import EXTRAPOLATION
    table = toy_catalogue(1500, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1200]).calibrate(table[:1200])
    rows = table[1200:1260].copy()
    for band in ("g", "r", "i"):
        rows[band][:45] *= 1000.0                          # nJy, labelled uJy
    flagged = int(((model.predict_arrays(rows).z_phot_flag & EXTRAPOLATION) != 0).sum())
    assert 0.63 * 60 < flagged < 60
    grid = np.linspace(0, 6, 121)
    ddf = dd.from_pandas(rows.to_pandas(), npartitions=4)
    assert list(ddf.map_partitions(len).compute(scheduler="sync")) == [15] * 4
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        stacked = stack_pdf(model, ddf, grid)
    assert [str(w.message) for w in said if "beyond" in str(w.message)] == [
        f"{flagged} of 60 rows lie beyond their neighbours in some feature (flag "
        f"extrapolation): are the band columns in the units they say?"]
    assert stacked.meta["n_extrapolated"] == flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stack_pdf(model, dd.from_pandas(table[1200:1260].to_pandas(), npartitions=4), grid)


def test_without_dask_the_import_says_what_to_install():
    """photoz_numba.dask without pandas (or Dask) says which extra to
    install, as to_qp does for qp (it was a bare ModuleNotFoundError)."""
    code = ("import sys; sys.modules['pandas'] = None\n"
            "try:\n    import photoz_numba.dask\n"
            "except ImportError as exc:\n    print(exc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert "photoz_numba.dask needs Dask and pandas" in result.stdout
    assert "pip install 'photoz_numba[dask]'" in result.stdout
