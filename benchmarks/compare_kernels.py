"""
Two or more versions of the package's kernels timed against each other in
one process, interleaved: how each kernel change on the performance page
was measured.

    python -m benchmarks.compare_kernels REV [REV ...] [--large] [--k 50]

Each ``REV`` is a git revision (``3c112a5``, ``HEAD~2``, a branch) or
``WORKTREE`` (the working tree's ``photoz_numba/``); the first is the
reference. Its ``photoz_numba/`` is extracted (``git archive``) into a
temporary directory under a name of its own (``pzn_v0``, ``pzn_v1``,
...), with Numba's on-disk cache turned off in its kernel sources, and
imported from there; the kernels of either layout are driven through
one adapter: ``photoz_numba/kernels.py`` (before the kernels became the
``_kernels`` subpackage) or ``photoz_numba/_kernels/``.

The features are prepared once, with the importable ``photoz_numba``:
each version's neighbour index is built from the seed-0 training part of
the paper's catalogue (``PHOTOZ_NUMBA_KALNA2024``), and its
``predict_kernel`` run on ``--n`` resampled galaxies with the default
settings at ``--k`` (each version's own defaults: its redshift window
where it has one), on one thread unless ``--threads``. With
``--large`` the training set is resampled to 10^6 galaxies with an
approximate search (``--search-eps``), and the small training set is
timed beside it (the ratio of issue 8, point 2), and the search alone
too. Prints the best and median rate of each version and the largest
difference of its z_phot from the first's.
"""

import argparse
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

import numba
import numpy as np

from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from ._common import BANDS, resample, resample_training, standardised, timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKTREE = "WORKTREE"


def extract(revision, workdir, name):
    """The ``photoz_numba/`` tree of a git revision (or of the working tree)
    as ``workdir/name``, Numba's on-disk cache off; returns its path."""
    target = os.path.join(workdir, name)
    if revision == WORKTREE:
        shutil.copytree(os.path.join(ROOT, "photoz_numba"), target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    else:
        unpacked = os.path.join(workdir, f"{name}_archive")
        os.makedirs(unpacked)
        archive = subprocess.run(["git", "-C", ROOT, "archive", revision, "photoz_numba"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", unpacked], input=archive, check=True)
        os.rename(os.path.join(unpacked, "photoz_numba"), target)
    disable_cache(target)
    return target


def disable_cache(package):
    """Compile the package's kernels in memory only: a version must not load
    another's machine code from the cache, nor leave its own there."""
    old = os.path.join(package, "kernels.py")
    new = os.path.join(package, "_kernels", "_jit.py")
    if os.path.exists(new):
        path, pattern, replacement = new, r"(_JIT = dict\(cache=)[^,]+,", r"\1False,"
    elif os.path.exists(old):
        path, pattern, replacement = old, r"cache=True", "cache=False"
    else:
        raise SystemExit(f"{package}: neither _kernels/_jit.py nor kernels.py")
    with open(path) as f:
        source = f.read()
    source, count = re.subn(pattern, replacement, source)
    if not count:
        raise SystemExit(f"{path}: found no Numba cache option to turn off")
    with open(path, "w") as f:
        f.write(source)


def import_package(name, path):
    """Import the package at ``path`` under ``name`` (registered in
    sys.modules; the import path is left alone)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(path, "__init__.py"), submodule_search_locations=[path])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    name_kernel_tuples(name, path)
    return module


def name_kernel_tuples(name, path):
    """Prefix the names of the kernels' namedtuple classes (``SearchIndex``,
    ``PredictOutputs``, ...) of the version imported as ``name`` with that
    name. Numba tells function-pointer types apart by their names alone
    (the predict loop calls its block kernel through one), so two versions'
    equally named tuples would be taken for each other in one process."""
    kernels = os.path.join(path, "_kernels")
    if not os.path.isdir(kernels):
        return
    for file in sorted(os.listdir(kernels)):
        if not file.endswith(".py") or file.startswith("_"):
            continue
        module = importlib.import_module(f"{name}._kernels.{file[:-3]}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, tuple)
                    and hasattr(value, "_fields") and value.__module__ == module.__name__):
                value.__name__ = f"{name}_{value.__name__}"


class OldKernels:
    """``photoz_numba/kernels.py``: the index a tuple of arrays, the
    parameters and outputs positional."""

    def __init__(self, package):
        self.kernels = importlib.import_module(f"{package}.kernels")
        self.dispatcher = self.kernels.predict_kernel

    def build_index(self, x_train_t, eps):
        return self.kernels.build_neighbour_index(x_train_t, eps=eps)

    def predictor(self, index, z_train, x_query, k, gamma, lam, clip_sigma, offset):
        n = len(x_query)
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        params = (k, gamma, lam, clip_sigma, self.kernels.OFFSET_MODES[offset])
        predictable = np.ones(n, bool)

        def predict():
            self.kernels.predict_kernel(*index, z_train, x_query, predictable, *params, *out)
        return predict, out[0]

    def nearest_neighbours(self, index, x_query, k):
        return self.kernels.nearest_neighbours(index, x_query, k)


class NewKernels:
    """``photoz_numba/_kernels/``: a `SearchIndex`, `RidgeParams` and
    `PredictOutputs`."""

    def __init__(self, package):
        self.search = importlib.import_module(f"{package}._kernels.search")
        self.predict = importlib.import_module(f"{package}._kernels.predict")
        # The compiled loop (a Python function now calls it).
        self.dispatcher = getattr(self.predict, "_predict_all", self.predict.predict_kernel)
        # Each version's default redshift window and second group (none
        # before they existed).
        model = importlib.import_module(f"{package}.model")
        parameters = inspect.signature(model.PhotoZModel.__init__).parameters
        self.window = parameters["window"].default if "window" in parameters else None
        self.second_group = (parameters["second_group"].default
                             if "second_group" in parameters else None)

    def build_index(self, x_train_t, eps):
        return self.search.build_index(x_train_t, eps=eps)

    def predictor(self, index, z_train, x_query, k, gamma, lam, clip_sigma, offset):
        n = len(x_query)
        out = self.predict.empty_outputs(n)
        if self.window is None:
            params = self.predict.ridge_params(k, gamma, lam, clip_sigma, offset)
        elif self.second_group is None:
            params = self.predict.ridge_params(k, gamma, lam, clip_sigma, offset, self.window)
        else:
            params = self.predict.ridge_params(k, gamma, lam, clip_sigma, offset, self.window,
                                               self.second_group)
        predictable = np.ones(n, bool)

        def predict():
            self.predict.predict_kernel(index, z_train, x_query, predictable, params, out)
        return predict, out.z_phot

    def nearest_neighbours(self, index, x_query, k):
        return self.search.nearest_neighbours(index, x_query, k)


def load_version(revision, workdir, number):
    """The kernels of one revision, behind `OldKernels` or `NewKernels`."""
    name = f"pzn_v{number}"
    path = extract(revision, workdir, name)
    import_package(name, path)
    if os.path.isdir(os.path.join(path, "_kernels")):
        return NewKernels(name)
    return OldKernels(name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", metavar="REV",
                        help=f"git revisions or {WORKTREE}, the first the reference")
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--n", type=int, default=None,
                        help="galaxies predicted (100,000; 20,000 with --large)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--search-eps", type=float, default=3.0)
    args = parser.parse_args(argv)
    n = args.n or (20_000 if args.large else 100_000)
    warnings.simplefilter("ignore")
    numba.set_num_threads(args.threads)
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    queries = resample(sample, n, seed=12)
    small = PhotoZModel(BANDS, k=args.k).fit(train)
    sets = {"small": standardised(small, queries) + (0.0,)}
    if args.large:
        big = PhotoZModel(BANDS, k=args.k).fit(resample_training(train, 1_000_000, seed=11))
        sets["large"] = standardised(big, queries) + (args.search_eps,)
    settings = (args.k, float(small.gamma), float(small.lam), float(small.clip_sigma),
                small.offset)

    # The versions' sources stay on disk until the timings are done.
    with tempfile.TemporaryDirectory(prefix="compare_kernels_") as workdir:
        versions = []
        for number, revision in enumerate(args.revisions):
            kernels = load_version(revision, workdir, number)
            runs = {}
            for name, (x_query, pattern, eps) in sets.items():
                index = kernels.build_index(pattern["x_train_t"], eps)
                predict, z_phot = kernels.predictor(index, pattern["z"], x_query, *settings)
                predict()                                # compile outside the timing
                runs[name] = (predict, z_phot)
                if name == "large":
                    def search(kernels=kernels, index=index, x_query=x_query):
                        kernels.nearest_neighbours(index, x_query, args.k)
                    search()
                    runs["large search"] = (search, None)
            versions.append((f"{revision} (pzn_v{number})", runs))
        # Interleaved: each repeat runs every version once, in order.
        times = timed({(label, name): run for label, runs in versions
                       for name, (run, _) in runs.items()}, args.repeat)
    reference = versions[0][1]
    for label, runs in versions:
        line = [f"{label}:"]
        for name, (_, z_phot) in runs.items():
            best, median = n / min(times[label, name]), n / np.median(times[label, name])
            line.append(f"{name} {best:,.0f} gal/s (median {median:,.0f})")
            if z_phot is not None:
                line[-1] += f", max |dz| {np.nanmax(np.abs(z_phot - reference[name][1])):.1e}"
        if args.large:
            ratio = min(times[label, "small"]) / min(times[label, "large"])
            line.append(f"large / small {ratio:.1%}")
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
