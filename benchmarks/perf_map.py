"""
Profile the compiled kernels with Linux ``perf``: runs ``predict_kernel``
and writes ``/tmp/perf-<pid>.map``, the symbol map by which ``perf
report`` names Numba's compiled functions (otherwise shown as bare
addresses). How the reference counting in the tree search was found.

    perf record -o /tmp/perf.data python -m benchmarks.perf_map [--large] [--k 50]
    perf report -i /tmp/perf.data --stdio --sort sym | grep -v "^#" | head -30

Each function's extent is taken as up to the next symbol's address, so
an attribution near a boundary can be off; compilation (LLVM, Python)
also shows in the profile, before the timed runs. Needs the catalogue
(``PHOTOZ_NUMBA_KALNA2024``) like the other benchmarks.
"""

import argparse
import os
import tempfile
import time
import warnings

import numba

from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from ._common import BANDS, resample, resample_training, standardised
from .compare_kernels import WORKTREE, load_version


def write_perf_map(dispatcher, path):
    """Address, size and name of every function compiled for ``dispatcher``
    (and the libraries linked into it, such as the parallel loop's body)."""
    symbols = set()
    for compiled in dispatcher.overloads.values():
        libraries, seen = [compiled.library], set()
        while libraries:
            library = libraries.pop()
            if id(library) in seen:
                continue
            seen.add(id(library))
            libraries.extend(getattr(library, "_linking_libraries", []))
            for function in library._final_module.functions:
                if function.is_declaration:
                    continue
                try:
                    address = library.get_pointer_to_function(function.name)
                except Exception:
                    continue
                if address:
                    symbols.add((address, function.name))
    symbols = sorted(symbols)
    with open(path, "w") as f:
        ends = [address for address, _ in symbols[1:]] + [symbols[-1][0] + 65536]
        for (address, name), following in zip(symbols, ends):
            f.write(f"{address:x} {following - address:x} {name[:120]}\n")
    return len(symbols)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--n", type=int, default=100_000, help="galaxies per run")
    parser.add_argument("--large", action="store_true",
                        help="10^6 training galaxies with search_eps=3 instead of 3684")
    parser.add_argument("--repeat", type=int, default=6)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    numba.set_num_threads(1)
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    small = PhotoZModel(BANDS, k=args.k).fit(train)
    model = small
    if args.large:
        model = PhotoZModel(BANDS, k=args.k).fit(resample_training(train, 1_000_000, seed=11))
    x_query, pattern = standardised(model, resample(sample, args.n, seed=12))
    # Compiled without the cache, so that the functions' code is in memory.
    with tempfile.TemporaryDirectory(prefix="perf_map_") as workdir:
        kernels = load_version(WORKTREE, workdir, 0)
        index = kernels.build_index(pattern["x_train_t"], 3.0 if args.large else 0.0)
        run, _ = kernels.predictor(index, pattern["z"], x_query, args.k, float(small.gamma),
                                   float(small.lam), float(small.clip_sigma), small.offset)
        n = len(x_query)
        run()
        path = f"/tmp/perf-{os.getpid()}.map"
        count = write_perf_map(kernels.dispatcher, path)
        start = time.perf_counter()
        for _ in range(args.repeat):
            run()
        seconds = time.perf_counter() - start
    print(f"{count} symbols in {path}; {n * args.repeat / seconds:,.0f} galaxies/s on 1 thread")


if __name__ == "__main__":
    main()
