"""
The paper protocol's test predictions of two or more revisions of the
package, compared value by value in one process: how "predictions
bit-identical before and after" is checked for a restructure.

    python -m benchmarks.compare_protocol 3c112a5 WORKTREE [--seeds 0-9] [--no-tune]

Each revision's ``photoz_numba/`` is imported under a name of its own
(``benchmarks.compare_kernels``), and its ``protocol.run_paper_protocol``
run on the catalogue (``PHOTOZ_NUMBA_KALNA2024``) with the default
hyper-parameters and, unless ``--no-tune``, tuned per seed. Prints, for
each revision after the first, the number of test predictions and of
those that differ (z_phot, z_phot_err, z_phot_flag, z_phot_nused) and the
tuned hyper-parameters that differ.
"""

import argparse
import tempfile
import warnings

import numpy as np

from benchmarks._common import parse_seeds
from benchmarks.compare_kernels import extract, import_package

COLUMNS = ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused")


def run(name, seeds, tune):
    protocol = __import__(f"{name}.protocol", fromlist=["run_paper_protocol"])
    datasets = __import__(f"{name}.datasets", fromlist=["load_kalna2024"])
    catalogue = datasets.load_kalna2024()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return protocol.run_paper_protocol(catalogue, seeds=seeds, tune=tune)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions or WORKTREE")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--no-tune", action="store_true")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    modes = [False] if args.no_tune else [False, True]
    with tempfile.TemporaryDirectory() as workdir:
        names = []
        for number, revision in enumerate(args.revisions):
            name = f"pzn_p{number}"
            import_package(name, extract(revision, workdir, name))
            names.append(name)
        for tune in modes:
            results = [run(name, seeds, tune) for name in names]
            reference = results[0]
            for revision, (per_seed, predictions) in zip(args.revisions[1:], results[1:]):
                differ = {column: int((~np.equal(np.ma.getdata(predictions[column]),
                                                 np.ma.getdata(reference[1][column]))).sum())
                          for column in COLUMNS}
                params = [name for name in ("k", "gamma", "lam")
                          if not np.array_equal(per_seed[name], reference[0][name])]
                print(f"{'tuned' if tune else 'default'}: {revision} against "
                      f"{args.revisions[0]}: {len(predictions)} test predictions, differing "
                      f"{differ}; tuned parameters differing: {params or 'none'}", flush=True)


if __name__ == "__main__":
    main()
