"""Numba's on-disk cache of the kernels: every kernel is stamped with all
the kernel files, so a change to any of them recompiles every kernel.

Numba on its own checks a cached function against its own file only: a
kernel calling a helper in another file would be loaded stale after that
file changed. These tests show the package's locator closes that gap. Contract tests;
the recompile check runs five subprocesses, each compiling or loading a
kernel, and is marked slow.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import photoz_numba._kernels as kernels_package

KERNEL_DIR = os.path.dirname(kernels_package.__file__)
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


@pytest.mark.skipif(JIT_DISABLED, reason="no compiled kernels with NUMBA_DISABLE_JIT")
def test_every_kernel_is_cached_with_the_stamp_of_all_kernel_files():
    from numba.core.registry import CPUDispatcher

    from photoz_numba._kernels import _jit, predict, ridge, search
    dispatchers = [value for module in (predict, ridge, search)
                   for value in vars(module).values() if isinstance(value, CPUDispatcher)]
    assert len(dispatchers) > 20
    for dispatcher in dispatchers:
        locator = dispatcher._cache._impl.locator
        assert isinstance(locator, _jit.KernelCacheLocator), dispatcher
        assert locator.get_source_stamp() == _jit.source_stamp()
    assert set(_jit.kernel_sources()) == {
        os.path.join(KERNEL_DIR, name) for name in os.listdir(KERNEL_DIR)
        if name.endswith(".py")}


# A probe kernel in a file of its own that calls a helper of ridge.py:
# the cross-file dependency Numba's own cache check misses.
_PROBE = '''
import numpy as np
from numba import njit
from ._jit import _JIT
from .ridge import _sorted_median

@njit(**_JIT)
def probe(values):
    return _sorted_median(values, values.size)
'''

_RUN = textwrap.dedent('''
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from kcopy.probe import probe
    value = probe(np.array([1.0, 2.0, 4.0]))
    print(value, probe.stats.cache_hits.total() if hasattr(probe.stats.cache_hits, "total")
          else sum(probe.stats.cache_hits.values()))
''')


def _run(root, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _RUN, str(root)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="no compiled kernels with NUMBA_DISABLE_JIT")
def test_a_change_to_any_kernel_file_recompiles(tmp_path):
    copy = tmp_path / "kcopy"
    shutil.copytree(KERNEL_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "probe.py").write_text(_PROBE)
    cache = tmp_path / "cache"
    assert _run(tmp_path, cache) == (2.0, 0)          # compiled
    assert _run(tmp_path, cache) == (2.0, 1)          # loaded from the cache
    # The helper changes in ridge.py, not in the probe's own file.
    ridge = copy / "ridge.py"
    source = ridge.read_text()
    assert source.count("        return values[half]\n") == 1
    ridge.write_text(source.replace("        return values[half]\n",
                                    "        return values[half] + 10.0\n"))
    assert _run(tmp_path, cache) == (12.0, 0)         # recompiled, not stale
    assert _run(tmp_path, cache) == (12.0, 1)
    # Any other kernel file too, even a comment in it.
    search = copy / "search.py"
    search.write_text(search.read_text() + "\n# touched\n")
    assert _run(tmp_path, cache) == (12.0, 0)


_FIRST_PREDICT = textwrap.dedent('''
    import glob, logging, os, pickle, sys, time
    from photoz_numba import PhotoZModel, conf
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba._kernels import _jit
    from photoz_numba._kernels._jit import cache_directory
    conf.compile_in_parallel = sys.argv[1] != "serial"
    if sys.argv[1] == "broken":     # a second process that fails at once
        _jit._HELPER = "import sys; sys.exit(1)"
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    log = logging.getLogger("photoz_numba")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    table = toy_catalogue(400)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
    model.predict(table)
    model.predict(table[:50])
    if len(sys.argv) > 2:   # then a first calibrate and a prediction with p(z)
        records.clear()
        model.calibrate(table, form="scale", n_folds=5)
        model.predict(table[:50])
    # Cache entries per kernel, written by this process or its helper.
    counts = {}
    for path in glob.glob(os.path.join(cache_directory(), "*.nbi")):
        name = os.path.basename(path).split("-")[0].split(".")[1]
        with open(path, "rb") as f:
            pickle.load(f)
            counts[name] = len(pickle.loads(f.read())[1])
    notices = [m for m in records if m.startswith("compiling ")]
    out = model.predict(table)
    z_first = [float(out[name][i]) for i in range(5)
               for name in ("z_phot", "z_phot_840")[:1 + (len(sys.argv) > 2)]]
    print(repr((counts, z_first, len(notices), len(records))))
''')


def _first_predict(cache, how, *calibrate):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _FIRST_PREDICT, how, *calibrate], env=env,
                         check=True, capture_output=True, text=True).stdout
    return eval(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="no compiled kernels with NUMBA_DISABLE_JIT")
@pytest.mark.parametrize("how", ["parallel", "serial", "broken"])
def test_first_predict_compiles_only_what_it_uses_once_and_says_so(tmp_path, how):
    """Contract: a model scanned whole (400 training galaxies) compiles no
    tree build and no tree walk, and every kernel it runs for one set of
    argument types, whether part of them is compiled by a second process
    (``conf.compile_in_parallel``, the default), or not, or that second
    process fails. It logs one notice of the compilation, then its
    duration; the second predict compiles and logs nothing, and a second
    process compiles nothing and logs nothing. All ways give the same
    redshifts."""
    counts, z_first, notices, records = _first_predict(tmp_path / "cache", how)
    used = {"_scan", "_nearest", "ridge_fit", "refit_without", "_cho_solve",
            "_predict_block", "_predict_all"}
    assert {name: counts.get(name, 0) for name in used} == dict.fromkeys(used, 1)
    assert "_build_tree" not in counts and "_walk" not in counts
    assert all(count == 1 for count in counts.values()), counts
    assert (notices, records) == (1, 2)
    again = _first_predict(tmp_path / "cache", how)
    assert again == (counts, z_first, 0, 0)
    if how != "serial":
        serial = _first_predict(tmp_path / "serial-cache", "serial")
        assert serial[:2] == (counts, z_first)


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="no compiled kernels with NUMBA_DISABLE_JIT")
def test_first_calibrate_says_what_it_compiles_once(tmp_path):
    """Contract: after a first prediction, a first ``calibrate`` compiles
    the neighbour search's loop and the p(z) kernels (the loop with the
    scores, then the quantiles), announcing each with its duration
    (three notices, six records), every kernel for one set of argument
    types; the next process compiles and logs nothing, and predicts the
    same redshifts and percentiles."""
    counts, values, notices, records = _first_predict(tmp_path / "cache", "serial",
                                                      "calibrate")
    assert (notices, records) == (3, 6)
    used = {"_nearest_all", "_galaxies", "_scores_of", "_quantiles_of"}
    assert {name: counts.get(name, 0) for name in used} == dict.fromkeys(used, 1)
    assert all(count == 1 for count in counts.values()), counts
    again = _first_predict(tmp_path / "cache", "serial", "calibrate")
    assert again == (counts, values, 0, 0)
