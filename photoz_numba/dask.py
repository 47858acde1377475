# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Photometric redshifts on Dask DataFrames and LSDB catalogues.

Optional: ``pip install 'photoz_numba[dask]'`` installs Dask, distributed
and LSDB. The work per partition is `~photoz_numba.PhotoZModel`'s usual
prediction; Dask (or LSDB on top of it) schedules the partitions.
"""

import threading
import uuid

import numpy as np
from astropy.table import Table

try:
    import dask.dataframe  # noqa: F401  (what this module works on)
    import pandas as pd
except ImportError as exc:
    raise ImportError(f"photoz_numba.dask needs Dask and pandas ({exc}): pip install "
                      f"'photoz_numba[dask]'") from None

__all__ = ["predict", "predict_catalog", "stack_pdf"]

#: The results of `predict` and `predict_catalog` (a token each) one of
#: whose partitions has said, in this process, that its rows are mostly
#: extrapolated: each result says it once, not once per partition.
_EXTRAPOLATION_SAID = set()
_SAID_LOCK = threading.Lock()


def _output_dtypes(model):
    """The model's output columns, in its order, with their dtypes
    (`~photoz_numba.PhotoZModel.output_schema`)."""
    return {column.name: column.dtype for column in model.output_schema()}


def _partition_units(model, units):
    """Band-keyed units: the caller's, else those the model was fitted in."""
    fitted = dict(zip(model.bands, (str(unit) for unit in model.band_units_)))
    if units is None:
        return fitted
    return fitted | model.stated_units(units)


def _input_table(frame, names):
    """A pandas partition's columns ``names`` as a Table of floats, read as
    a Table's are (text that is a number, such as "1.5", is that number);
    missing values (NaN, None, pd.NA) become NaN: 'no measurement'. Other
    text is a `TypeError` naming the column, as for a Table, not a
    missing value."""
    values = {}
    for name in names:
        try:
            values[name] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise TypeError(f"column {name!r} must hold numbers, not "
                            f"{frame[name].dtype}") from None
    return Table(values)


def _predict_partition(frame, model, units, n_threads, token, partition_info=None):
    """Add the z_phot columns to one pandas partition, rows in order."""
    if len(frame) == 0:
        return frame.assign(**{name: np.empty(0, dtype=dtype)
                               for name, dtype in _output_dtypes(model).items()})
    table = _input_table(frame, model.input_columns)
    prediction = model.predict_arrays(table, units, n_threads)
    _say_if_mostly_extrapolated(prediction.z_phot_flag, model, token, partition_info)
    return frame.assign(**{column.name: prediction.filled(column)
                           for column in model.output_schema()})


def _say_if_mostly_extrapolated(z_phot_flag, model, token, partition_info):
    """`~photoz_numba.PhotoZModel.warn_if_mostly_extrapolated` for a partition's
    rows, naming the partition (Dask gives its number in
    ``partition_info``; LSDB does not), unless a partition of the same
    result (``token``) has said it in this process."""
    from .flags import n_extrapolated
    n_rows, n_flagged = z_phot_flag.size, n_extrapolated(z_phot_flag)
    # Judged before the warning, so that only a partition that says it
    # marks the result as said.
    if not model.mostly_extrapolated(n_flagged, n_rows):
        return
    with _SAID_LOCK:
        if token in _EXTRAPOLATION_SAID:
            return
        _EXTRAPOLATION_SAID.add(token)
    part = ("a partition" if partition_info is None
            else f"partition {partition_info['number']}")
    model.warn_if_mostly_extrapolated(n_flagged, n_rows, part)


def _prepare(model, columns, units):
    from .schema import check_no_output_columns
    model.check_fitted()
    missing = [name for name in model.input_columns if name not in columns]
    if missing:
        raise KeyError(f"column(s) {missing} are not in the DataFrame")
    check_no_output_columns(columns, model.output_schema(), "the DataFrame")
    return _partition_units(model, units)


def _meta(meta, model):
    return meta.assign(**{name: pd.Series(dtype=dtype, index=meta.index)
                          for name, dtype in _output_dtypes(model).items()})


def predict(model, ddf, units=None, n_threads=1):
    """Add ``z_phot`` columns to a Dask DataFrame, partition by partition.

    Nothing is computed here: the result is a lazy Dask DataFrame whose
    output columns (`~photoz_numba.PhotoZModel.output_schema`) are declared
    up front. The model is
    one object in the task graph, so each worker receives it once, not
    once per partition. Every partition keeps its rows, in order; masked
    predictions are NaN.

    DataFrames carry no units: band columns are read in the units the
    model was fitted with (``model.band_units_``, stored in model files)
    unless ``units`` states others. Missing values (NaN, None, pd.NA) are
    "no measurement", as NaN is in Tables; a band column of text is read
    as a Table's is: text that is a number is that number, and any other
    text is an error when the partition holding it is computed, not a
    missing value.

    Rows mostly beyond their neighbours' range in some feature (the mark
    of band columns not in the units they say) are warned of as by
    `~photoz_numba.PhotoZModel.predict`, once per result: a lazy result
    has no total until all of it is computed, so the first partition
    found so, judged on its own rows, says it, naming itself and its
    counts, and the result's other partitions, and computing it again,
    do not. The warning is given in the process that computes the
    partition: with ``dask.distributed``, a worker, whose log has it, not
    the client. Every such row carries the ``extrapolation`` bit of
    ``z_phot_flag`` (`photoz_numba.flags.EXTRAPOLATION`), which counts
    them over the whole result.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model.
    ddf : `dask.dataframe.DataFrame`
        The catalogue, with the model's band columns.
    units : dict or unit, optional
        Units of the band columns, one for all or a dict keyed by band.
    n_threads : int, optional
        Numba threads per task (default 1). Dask runs one task per worker
        thread, so a cluster of W workers with T threads each uses W x T
        cores at ``n_threads=1``; raise it only with fewer worker threads
        than cores, or the cores are oversubscribed.

    Returns
    -------
    ddf : `dask.dataframe.DataFrame`
        ``ddf`` with ``z_phot``, ``z_phot_err``, ``z_phot_flag`` and
        ``z_phot_nused`` added (and for a calibrated model
        ``z_phot_err_raw`` and the p(z)'s percentiles ``z_phot_025`` to
        ``z_phot_975``: the columns of `~photoz_numba.PhotoZModel.output_schema`).

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.
    KeyError
        A band column (or, with ``snr_min``, its error column) is missing.
    ValueError
        The input already has one of the output columns.
    TypeError
        On computing: a band (or error) column holds text that is not a
        number.

    Examples
    --------
    .. doctest-requires:: dask

        >>> import dask.dataframe as dd
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.dask import predict
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(600)           # g, r, i in uJy, and zspec
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
        >>> frame = table[500:].to_pandas()      # no units: read in the model's, uJy
        >>> out = predict(model, dd.from_pandas(frame, npartitions=4))
        >>> out.npartitions, list(out.columns[-4:])
        (4, ['z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused'])
        >>> print(f"{out.compute()['z_phot'].iloc[0]:.3f}")
        1.320
    """
    import dask

    units = _prepare(model, ddf.columns, units)
    shipped = dask.delayed(model, pure=True)
    return ddf.map_partitions(_predict_partition, shipped, units, n_threads,
                              uuid.uuid4().hex, meta=_meta(ddf._meta, model))


def predict_catalog(model, catalog, units=None, n_threads=1):
    """`predict` for an LSDB catalogue: a lazy catalogue with z_phot columns.

    The result is written as a HATS catalogue with its ``write_catalog``
    method.
    LSDB's ``map_partitions`` does not resolve delayed arguments, so here
    the model travels with each task (a few hundred kB for the paper's
    training set) rather than once per worker.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model.
    catalog : `lsdb.Catalog`
        The catalogue, with the model's band columns.
    units, n_threads
        As for `predict`, and so is the warning of rows mostly beyond their
        neighbours' range (LSDB does not number its partitions: "rows of a
        partition").

    Returns
    -------
    catalog : `lsdb.Catalog`
        ``catalog`` with ``z_phot``, ``z_phot_err``, ``z_phot_flag`` and
        ``z_phot_nused`` added (and for a calibrated model
        ``z_phot_err_raw`` and the p(z)'s percentiles ``z_phot_025`` to
        ``z_phot_975``).

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.
    KeyError
        A band column (or, with ``snr_min``, its error column) is missing.
    ValueError
        The input already has one of the output columns.
    TypeError
        On computing: a band (or error) column holds text that is not a
        number.

    Examples
    --------
    .. doctest-requires:: lsdb

        >>> import lsdb
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.dask import predict_catalog
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(600)           # g, r, i in uJy, and zspec
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
        >>> rng = np.random.default_rng(2)       # positions on the sky
        >>> frame = table[500:].to_pandas().assign(ra=rng.uniform(0, 10, 100),
        ...                                        dec=rng.uniform(-5, 5, 100))
        >>> catalog = lsdb.from_dataframe(frame, ra_column="ra",
        ...                               dec_column="dec", margin_threshold=None)
        >>> with_photoz = predict_catalog(model, catalog)
        >>> list(with_photoz.columns[-4:])
        ['z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused']
        >>> result = with_photoz.compute(progress_bar=False).sort_values("zspec")
        >>> for _, row in result[:3].iterrows():
        ...     print(f"z_phot = {row['z_phot']:.3f}, zspec = {row['zspec']:.3f}")
        z_phot = 0.174, zspec = 0.174
        z_phot = 0.225, zspec = 0.223
        z_phot = 0.298, zspec = 0.300
    """
    units = _prepare(model, catalog.columns, units)
    return catalog.map_partitions(_predict_partition, model, units, n_threads,
                                  uuid.uuid4().hex, meta=_meta(catalog.meta, model))


def _stack_partition(frame, index, model, z_grid, weights, units, n_threads):
    """Partition ``index``'s `~photoz_numba.PhotoZModel.stack_pdf` (its
    warning left to the total; an error names the partition)."""
    from .pdf import quiet
    table = _input_table(frame, model.input_columns)
    if weights is not None:
        # Missing values (NaN, None, pd.NA) become NaN: an error below.
        table[weights] = frame[weights].to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        return quiet(model.stack_pdf, table, z_grid, weights, units, n_threads)
    except ValueError as exc:
        raise ValueError(f"partition {index}: {exc} (rows counted within the partition)") \
            from None


def stack_pdf(model, ddf, z_grid, weights=None, units=None, n_threads=1):
    """The p(z) of a Dask DataFrame's (or LSDB catalogue's) rows summed on a
    grid: `~photoz_numba.PhotoZModel.stack_pdf` partition by partition.

    This computes: each partition's sum is a small array, and their total
    is returned. Units and missing values are read as in `predict`.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A calibrated model (one with a p(z)).
    ddf : `dask.dataframe.DataFrame` or `lsdb.Catalog`
        The catalogue, with the model's band columns.
    z_grid : array-like
        Redshifts, strictly increasing.
    weights : str or None
        A column of weights, finite and >= 0; None weighs every row 1.
    units, n_threads
        As for `predict`.

    Returns
    -------
    stacked : `~astropy.table.Table`
        As from `~photoz_numba.PhotoZModel.stack_pdf`: columns ``z`` and
        ``n_z``, and ``n_rows``, ``n_stacked`` and ``weight_sum`` in
        ``meta``, over all partitions. Rows with no p(z) are not in the
        sum, and one `~photoz_numba.exceptions.PhotoZWarning` says how many;
        another, judged on all the rows (``n_extrapolated`` in ``meta``)
        and given here, not on a worker, says when far more of them than
        chance would leave are beyond their neighbours' range (are the
        band columns in the units they say?).

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model has no p(z).
    KeyError
        A band column, or the ``weights`` column, is missing.
    ValueError
        ``z_grid`` is not a strictly increasing grid, or a weight is
        negative or not finite.
    TypeError
        A band column holds text that is not a number.

    Examples
    --------
    .. doctest-requires:: dask

        >>> import dask.dataframe as dd
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.dask import stack_pdf
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> frame = dd.from_pandas(table[1000:].to_pandas(), npartitions=3)
        >>> nz = stack_pdf(model, frame, np.linspace(0, 4, 401))
        >>> round(float(np.trapezoid(nz["n_z"], nz["z"])), 6), nz.meta["n_stacked"]
        (200.0, 200)
    """
    import dask

    from .pdf import check_grid, combine_stacks, quiet

    model.check_pz()
    grid = check_grid(z_grid)
    units = _partition_units(model, units)
    missing = [name for name in model.input_columns if name not in ddf.columns]
    if weights is not None:
        if not isinstance(weights, str):
            raise TypeError(f"weights must name a column, not be a "
                            f"{type(weights).__name__}")
        if weights not in ddf.columns:
            missing.append(weights)
        elif ddf[weights].dtype.kind not in "biuf":
            raise ValueError(f"the weights column {weights!r} must hold numbers, not "
                             f"{ddf[weights].dtype}")
    if missing:
        raise KeyError(f"column(s) {missing} are not in the DataFrame")
    shipped = dask.delayed(model, pure=True)
    parts = [dask.delayed(_stack_partition)(part, index, shipped, grid, weights, units,
                                            n_threads)
             for index, part in enumerate(ddf.to_delayed())]
    total = dask.compute(dask.delayed(quiet)(combine_stacks, grid, parts))[0]
    stacked = combine_stacks(grid, [total])     # warns here, not on a worker
    # The total is here: judged on all the rows, as a file's are.
    model.warn_if_mostly_extrapolated(stacked.meta["n_extrapolated"], stacked.meta["n_rows"])
    return stacked
