# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Numba options shared by the kernel modules, and the on-disk cache's
locator.

Numba checks a cached function against the source of its own file only,
so a kernel in `predict` loaded from the cache would keep a stale copy of
a helper in `ridge` after that file changed. Every function compiled in
this subpackage is therefore cached through `KernelCacheLocator`, whose
source stamp is a hash of *all* the subpackage's files: a change to any of
them invalidates every cached kernel. Each kernel module imports this
module before it defines a kernel, which registers the locator.
"""

import contextlib
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings

from astropy.utils.exceptions import AstropyUserWarning
from numba import typeof
from numba.core import caching, config, types
# Imported for what it registers: the Numba type of a `KernelPointer`
# (numba.types.WrapperAddressProtocol) as an argument.
from numba.experimental import function_type  # noqa: F401

__all__ = []

_HERE = os.path.dirname(os.path.abspath(__file__))


def kernel_sources():
    """The subpackage's source files, sorted: what the cache stamp covers."""
    return sorted(os.path.join(_HERE, name) for name in os.listdir(_HERE)
                  if name.endswith(".py"))


_STAMP = {}


def source_stamp():
    """SHA-256 of every kernel source file (names and contents)."""
    files = kernel_sources()
    key = tuple((path, os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in files)
    if key not in _STAMP:
        digest = hashlib.sha256()
        for path in files:
            digest.update(os.path.basename(path).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
        _STAMP.clear()
        _STAMP[key] = digest.hexdigest()
    return _STAMP[key]


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _cache_directories():
    """Where the cache may go, in order of preference: ``NUMBA_CACHE_DIR``,
    the subpackage's ``__pycache__``, Numba's user-wide cache, the
    temporary directory."""
    sub = caching._CacheLocator.get_suitable_cache_subpath(os.path.join(_HERE, "x.py"))
    if config.CACHE_DIR:
        yield os.path.join(config.CACHE_DIR, sub)
    yield os.path.join(_HERE, "__pycache__")
    try:
        from numba.misc.appdirs import AppDirs
        yield os.path.join(AppDirs(appname="numba", appauthor=False).user_cache_dir, sub)
    except ImportError:  # pragma: no cover
        pass
    try:
        # Raises when no temporary directory is usable (read-only system).
        temporary = tempfile.gettempdir()
    except OSError:
        return
    user = getattr(os, "getuid", lambda: 0)()
    yield os.path.join(temporary, f"photoz_numba-numba-cache-{user}", sub)


_CHOSEN = []


def cache_directory():
    """The first writable cache directory of `_cache_directories`, or None
    (then the kernels are compiled in every process, with one warning)."""
    if not _CHOSEN:
        path = next((p for p in _cache_directories() if _writable(p)), None)
        if path is None:
            warnings.warn("photoz_numba: no writable directory for Numba's cache (set "
                          "NUMBA_CACHE_DIR to one); the kernels are compiled in every "
                          "process", AstropyUserWarning)
        _CHOSEN.append(path)
    return _CHOSEN[0]


class KernelCacheLocator(caching._CacheLocator):
    """Numba cache locator for the functions of this subpackage: stamped
    with `source_stamp`, in the first writable `cache_directory`."""

    def __init__(self, py_func, py_file, path):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._path = path

    def ensure_cache_path(self):
        os.makedirs(self._path, exist_ok=True)

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return source_stamp()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _HERE:
            return None
        path = cache_directory()
        return None if path is None else cls(py_func, py_file, path)


def _register():
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    classes = impl._locator_classes
    if KernelCacheLocator not in classes:
        classes.insert(0, KernelCacheLocator)


_register()

# Cached on disk where a directory is writable (`cache_directory`);
# otherwise compiled in every process.
_JIT = dict(cache=cache_directory() is not None, nogil=True, error_model="numpy")
# Fused multiply-adds in the Cholesky and the solves. No 'reassoc': with
# it the compiler vectorised the back substitution's sums differently in a
# process that compiled the kernel and in one that loaded it from the
# cache, so the loops are written without sums to vectorise
# (`ridge._cho_solve`). No 'nnan'/'ninf': the positive-pivot check must
# see NaN as NaN.
_FASTMATH = {"contract", "nsz", "arcp"}
# Small helpers called per row or per tree node are inlined by Numba
# (``inline='always'``), not left to LLVM: a call to a Numba function
# takes and drops a reference to each array argument, two atomic calls
# into Numba's runtime that LLVM cannot remove and that cost more than
# the helper's own arithmetic. So are the helpers called from one kernel
# only (scratch allocation, the scan's steps, the redshift window): a
# kernel compiled on its own is one more module that Numba optimises,
# turns into machine code and caches, then links into its caller and
# compiles again there; inlined, it is compiled once, in its caller
# (about 5 % less compilation on a cold start). Only helpers with the
# same fastmath flags as their callers are inlined this way, since the
# inlined code is compiled with the caller's flags.
_INLINE = dict(inline="always", **_JIT)
# Every specialisation of a kernel is one more compilation (seconds for the
# larger ones, on every machine's first run), so the kernels are called
# with one type per argument: a count that starts at a constant and is
# passed to another kernel starts at ``np.int64(0)``, since Numba's type
# inference would otherwise compile that kernel for the constant
# (``Literal[int](0)``) as well as for int64.


class KernelPointer(types.WrapperAddressProtocol):
    """A kernel compiled for the types of ``args`` (returning a
    ``restype``, int64 by default) and handed to another kernel as a
    function pointer (Numba's
    first-class function type) rather than as a function: the caller then
    calls its machine code instead of linking a copy of it in.

    That is what keeps a parallel loop's compilation short. Numba compiles
    a ``prange`` loop into four functions (the loop body, its gufunc
    wrapper, the scheduler's wrapper and the caller), each linking in,
    optimising and generating machine code again for everything the body
    calls: for the predict loop, four more compilations of the whole
    per-galaxy work. Called through a pointer, the body stays one
    compiled kernel, cached on disk like the others, and the parallel
    loop compiles a few lines. The call costs an indirect jump per block
    of galaxies. The pointer goes through Numba's C wrapper of the kernel,
    which cannot pass on an exception: it prints it and returns 0, so a
    kernel called this way either returns something else when it succeeds,
    for the caller to check, or cannot raise (it allocates nothing and
    raises nothing: the per-galaxy steps of `predict.step_pointers`, which
    return a ``restype`` other than int64).

    Each kernel called through a pointer is compiled on its own, so
    several can be compiled at once, in other processes
    (`compile_elsewhere`). It is compiled, and cached, for its whole
    signature, return type included, as `compile_key` says and the other
    process does (Numba's own address lookup used the argument types only
    before version 0.68, which would miss the other process's entries).
    """

    def __init__(self, dispatcher, args, restype=types.int64):
        self.dispatcher = dispatcher
        self._signature = restype(*(typeof(a) for a in args))

    def signature(self):
        return self._signature

    def __wrapper_address__(self):
        # Compiles the kernel, or loads it from the cache, at the first call.
        args = tuple(self._signature.args)
        if args not in self.dispatcher.overloads:
            self.dispatcher.compile(self._signature)
        compiled = self.dispatcher.overloads[args]
        if compiled.signature.return_type != self._signature.return_type:
            raise TypeError(f"{self.dispatcher.py_func.__name__} returns "
                            f"{compiled.signature.return_type}, not "
                            f"{self._signature.return_type}")
        return compiled.library.get_pointer_to_function(
            compiled.fndesc.llvm_cfunc_wrapper_name)


def kernel_pointer(dispatcher, args, restype=types.int64):
    """`KernelPointer` of ``dispatcher`` for ``args``, returning a
    ``restype``; with ``NUMBA_DISABLE_JIT`` the kernel is a Python
    function and is passed as it is."""
    return dispatcher if config.DISABLE_JIT else KernelPointer(dispatcher, args, restype)


def compile_key(call):
    """``(dispatcher, signature)`` that a call compiles: a pair
    ``(dispatcher, arguments)`` is compiled for the arguments' types, a
    `KernelPointer` for its whole signature (the return type is part of
    Numba's cache key too)."""
    if isinstance(call, KernelPointer):
        return call.dispatcher, call.signature()
    dispatcher, args = call
    return dispatcher, tuple(dispatcher.typeof_pyval(a) for a in args)


def is_ready(dispatcher, signature):
    """Whether ``dispatcher`` has its code for ``signature`` (a
    `compile_key`) in this process or in the on-disk cache (False when
    unsure)."""
    try:
        if tuple(getattr(signature, "args", signature)) in dispatcher.overloads:
            return True
        index = dispatcher._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - no cache, or another Numba's internals
        return False
    return any(key[0] == signature for key in index)


def _cpus():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


# Run by the helper process of `compile_notice` (in Python's isolated
# mode, so that nothing in the working directory shadows the modules it
# needs first): reads the import path, the cache directory and the name
# of this module, then the kernels to compile (module, name, signature),
# and compiles each into the on-disk cache. It gives up (exit code 3) if
# its cache directory is not the caller's.
_HELPER = """
import importlib, pickle, sys, warnings
warnings.simplefilter("ignore")
sys.path[:], where, jit_module = pickle.load(sys.stdin.buffer)
if importlib.import_module(jit_module).cache_directory() != where:
    sys.exit(3)
for module, name, signature in pickle.load(sys.stdin.buffer):
    getattr(importlib.import_module(module), name).compile(signature)
"""


def compile_elsewhere(keys):
    """Start a second process that compiles the kernels of ``keys``
    (`compile_key` pairs) into the on-disk cache, and return it (a
    `subprocess.Popen`); None when there is nothing to compile, no cache,
    a single CPU, no Python executable to start (``sys.executable`` empty,
    or a frozen application), or ``conf.compile_in_parallel`` is off.
    Numba compiles one function at a time in a process; two processes
    compile on two CPUs at once. Nothing depends on the helper: whatever
    it has not compiled when the caller needs it, the caller compiles (or
    loads) itself."""
    from .._config import conf
    if (not keys or config.DISABLE_JIT or cache_directory() is None
            or not conf.compile_in_parallel or _cpus() < 2 or not sys.executable
            or getattr(sys, "frozen", False)):
        return None
    jobs = [(d.py_func.__module__, d.py_func.__name__, signature) for d, signature in keys]
    helper = None
    try:
        payload = (pickle.dumps((list(sys.path), cache_directory(), __name__))
                   + pickle.dumps(jobs))
        helper = subprocess.Popen([sys.executable, "-I", "-c", _HELPER],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        helper.stdin.write(payload)
        helper.stdin.close()
    except (OSError, TypeError, ValueError, pickle.PicklingError) as error:
        logging.getLogger("photoz_numba").debug(f"no compiling process: {error}")
        if helper is not None:
            _stop(helper)
        return None
    return helper


def _stop(helper):
    """Kill ``helper`` (a no-op once it has ended) and reap it."""
    helper.kill()
    helper.wait()


#: How long a caller waits for `compile_elsewhere`'s process after its
#: own share: this many times as long as that share took, plus
#: `HELPER_GRACE` seconds; then it stops the process and compiles what is
#: left itself. (The two shares take about as long.)
HELPER_PATIENCE = 4.0
HELPER_GRACE = 30.0


@contextlib.contextmanager
def compile_notice(calls, elsewhere=(), what="kernels"):
    """Announce, once, a compilation about to happen: around the first call
    of each kernel in ``calls`` and ``elsewhere`` (pairs of a dispatcher
    and its arguments, or `KernelPointer`), logs through the
    ``photoz_numba`` logger that the kernels are being compiled and then
    how long it took, unless all are in the cache. The callers keep that
    time out of every rate they report (see
    `photoz_numba.PhotoZModel.warm_up`).

    The kernels of ``elsewhere``, those the others call through pointers
    (`KernelPointer`), are compiled by a second process
    (`compile_elsewhere`) while this one compiles those of ``calls``; the
    block then runs once that process is done, and loads its kernels from
    the cache. ``what`` names them in the notice ("p(z) kernels", say)."""
    if config.DISABLE_JIT:
        yield
        return
    here = [key for key in map(compile_key, calls) if not is_ready(*key)]
    there = [key for key in map(compile_key, elsewhere) if not is_ready(*key)]
    if not here and not there:
        yield
        return
    log = logging.getLogger("photoz_numba")
    where = cache_directory()
    once = ("once per machine: later runs load them from Numba's cache in "
            f"{where}" if where else "in every process: no writable cache directory")
    log.info(f"compiling {what}, {once} ...")
    start = time.perf_counter()
    helper = compile_elsewhere(there) if here else None
    if helper is not None:
        try:
            for dispatcher, signature in here:
                dispatcher.compile(signature)
            patience = HELPER_PATIENCE * (time.perf_counter() - start) + HELPER_GRACE
            code = helper.wait(patience)
            if code:
                log.debug(f"the compiling process ended with code {code}")
        except subprocess.TimeoutExpired:
            log.debug("the compiling process took too long; compiling here")
        finally:
            # Stopped on any way out (an error, an interrupt, too long):
            # Numba replaces a cache file whole, so none is left half written.
            _stop(helper)
    yield
    log.info(f"compiled {what} in {time.perf_counter() - start:.1f} s")
