"""Performance benchmarks of photoz_numba, run as modules from the repository root."""
