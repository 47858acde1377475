# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""The package's version and configuration items (re-exported by
`photoz_numba`); a module of its own so that any module can import them
without importing the package's top level."""

from astropy import config as _config

try:
    from ._version import version as __version__
except ImportError:  # running from a source tree that was never installed
    __version__ = "unknown"

__all__ = ["Conf", "conf", "__version__"]


class Conf(_config.ConfigNamespace):
    """Configuration items of photoz_numba."""

    kalna2024_path = _config.ConfigItem(
        "",
        "Local copy of the Kalná et al. (2024) catalogue; when empty, it is "
        "downloaded into astropy's cache. The environment variable "
        "PHOTOZ_NUMBA_KALNA2024 takes precedence over this item.",
        module="photoz_numba")
    compile_in_parallel = _config.ConfigItem(
        True,
        "At a first predict that must compile the kernels (once per machine), "
        "compile part of them in a second process, on a second CPU, while "
        "this one compiles the rest. Off: this process compiles them all.",
        module="photoz_numba")


conf = Conf()
