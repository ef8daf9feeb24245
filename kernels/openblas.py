"""The OpenBLAS copies NumPy's and SciPy's wheels bundle: where they lie, what they export, which
table of kernels ("core") they serve -- and, where asked or where OpenBLAS misidentified the CPU,
the table this CPU runs fastest.

OpenBLAS built for many CPUs (``DYNAMIC_ARCH``, as in those wheels) chooses its table once, when
it is loaded: the one ``OPENBLAS_CORETYPE`` names, else one for the CPU's family and model, else
(a family it does not know) one for the CPU's features.  On an AVX-512 CPU a table without
AVX-512 (``Haswell``, say) runs the products at half width (docs/decisions.md has the
measurements).

``FASTBP_OPENBLAS_CORE`` says what fastbp does about it, at import, before any kernel calls BLAS:

* ``auto`` (default): where the library chose a table without AVX-512 on its own (no
  ``OPENBLAS_CORETYPE``) on a CPU with AVX-512 -- a family the release does not know, e.g. AMD's
  family 1Ah on FreeBSD (OpenMathLib/OpenBLAS#6029) -- serve ``SkylakeX``, OpenBLAS's own rule
  for such a CPU.  A table named in ``OPENBLAS_CORETYPE`` is the user's choice and stays.
* ``cpu``: serve ``SkylakeX`` on a CPU with AVX-512 whatever the library chose, a table named in
  ``OPENBLAS_CORETYPE`` included (the process's ``np.dot`` runs it too).
* ``keep``: never change the library's table.

The switch asks the library to choose again (``gotoblas_dynamic_quit``, then
``gotoblas_dynamic_init`` with ``OPENBLAS_CORETYPE=SkylakeX`` for that call only).  It depends on
the CPU's features, never on a measurement.  ``blas.CORES`` records both tables, and
``fastbp.thread_report()`` and the bench print them.
"""
import ctypes
import glob
import importlib.util
import os

import numpy as np
from llvmlite import binding

# The tables with AVX-512 kernels (KERNEL.SKYLAKEX, which COOPERLAKE and SAPPHIRERAPIDS include).
AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
# What the SkylakeX kernels execute (OpenBLAS's ``support_avx512`` asks for VL and the registers'
# state; its kernels use F, CD, BW, DQ and VL); LLVM's host features include the OS's support.
AVX512_FEATURES = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
SERVED_CORE = "SkylakeX"
MODE_ENV = "FASTBP_OPENBLAS_CORE"

_CORENAME = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
             "openblas_get_corename64_", "openblas_get_corename")


def library_paths(library):
    """Where the shared library behind ``library`` ("numpy" or "scipy") lies in a wheel install."""
    if library == "numpy":
        package, folder = os.path.dirname(np.__file__), "numpy.libs"
    else:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            return []
        package, folder = list(spec.submodule_search_locations)[0], "scipy.libs"
    patterns = [os.path.join(package, os.pardir, folder, "*openblas*"),
                os.path.join(package, ".dylibs", "*openblas*")]
    return sorted(p for pattern in patterns for p in glob.glob(pattern))


def function(paths, names, loader=ctypes.CDLL):
    """The first of ``names`` that the first loadable library of ``paths`` exports (a ctypes
    function, calls through which release the GIL; ``loader=ctypes.PyDLL``: hold it), else
    None."""
    for path in paths:
        try:
            library = loader(path)
        except OSError:
            continue
        for name in names:
            found = getattr(library, name, None)
            if found is not None:
                return found
    return None


def core(paths):
    """The core name (lower case) OpenBLAS serves in the first of ``paths`` that is an OpenBLAS
    exporting its get_corename function, else None."""
    corename = function(paths, _CORENAME)
    if corename is None:
        return None
    corename.restype = ctypes.c_char_p
    name = corename()
    return name.decode("ascii", "replace").strip().lower() if name else None


def has_avx512(features=None):
    """Whether this CPU (and its operating system) runs AVX-512 code: every one of
    ``AVX512_FEATURES`` in LLVM's host features (or in ``features``, a name -> bool mapping)."""
    if features is None:
        return _host_has_avx512()
    return all(features.get(name, False) for name in AVX512_FEATURES)


_HOST_AVX512 = []  # the host's answer, once read


def _host_has_avx512():
    if not _HOST_AVX512:
        try:
            features = binding.get_host_cpu_features()
        except RuntimeError:  # an LLVM that cannot tell: no AVX-512 assumed
            features = {}
        _HOST_AVX512.append(has_avx512(features))
    return _HOST_AVX512[0]


def can_serve(paths):
    """Whether the OpenBLAS in ``paths`` can be asked for ``SERVED_CORE``: a build for many CPUs
    exporting its re-initialisation and that table."""
    return all(function(paths, (name,)) is not None
               for name in ("gotoblas_dynamic_quit", "gotoblas_dynamic_init",
                            f"gotoblas_{SERVED_CORE.upper()}"))


MODES = ("auto", "cpu", "keep")


def mode(environ=None):
    """``FASTBP_OPENBLAS_CORE`` (lower case; ``auto`` when unset); a ValueError names a bad value."""
    environ = os.environ if environ is None else environ
    value = environ.get(MODE_ENV, "").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{MODE_ENV} must be one of {', '.join(MODES)}, got {value!r}")
    return value


def should_serve_avx512(current, environ, avx512):
    """The rule: a library serving ``current`` (a lower-case core name, None if unknown) is asked
    for ``SERVED_CORE`` when the CPU has AVX-512 (``avx512``), the table in use has none, and the
    mode in ``environ`` allows it: ``cpu``, or ``auto`` with no ``OPENBLAS_CORETYPE`` set."""
    wanted = mode(environ)
    if current is None or current in AVX512_CORES or not avx512 or wanted == "keep":
        return False
    return wanted == "cpu" or not environ.get("OPENBLAS_CORETYPE", "").strip()


def serve_avx512(paths, avx512=None):
    """Apply ``should_serve_avx512`` to the OpenBLAS in the first loadable of ``paths``.

    Returns ``(chosen, served)``: the core OpenBLAS chose itself and the one it serves now (both
    lower case; equal where nothing changed; None where ``paths`` hold no OpenBLAS exporting its
    core name).  Runs at import, before the kernels call the library.  The two calls hold the
    GIL, so no other Python thread runs between them (the library has no table in between: a
    BLAS call then would crash the process); a BLAS call from a thread that runs no Python (or a
    child process started while the variable is set) is not guarded.
    """
    chosen = core(paths)
    if chosen is None:
        return None, None
    if avx512 is None:
        avx512 = has_avx512()
    if not should_serve_avx512(chosen, os.environ, avx512) or not can_serve(paths):
        return chosen, chosen
    quit_ = function(paths, ("gotoblas_dynamic_quit",), loader=ctypes.PyDLL)
    init = function(paths, ("gotoblas_dynamic_init",), loader=ctypes.PyDLL)
    named = os.environ.get("OPENBLAS_CORETYPE")
    os.environ["OPENBLAS_CORETYPE"] = SERVED_CORE
    try:
        quit_()
        init()
    finally:
        if named is None:
            del os.environ["OPENBLAS_CORETYPE"]
        else:
            os.environ["OPENBLAS_CORETYPE"] = named
    return chosen, core(paths)


def narrow_table(cores, avx512=None):
    """Whether some library of ``cores`` ({library: (chosen, served)}) serves a table without
    AVX-512 on a CPU with AVX-512 -- the one case whose products' vectors are narrower than the
    CPU's, and fastbp's own (AVX-512) loops win over a wider range of layers."""
    if avx512 is None:
        avx512 = has_avx512()
    return avx512 and any(served is not None and served not in AVX512_CORES
                          for _, served in cores.values())


def describe(cores, environ=None, avx512=None):
    """One line on ``cores`` ({library: (chosen, served)}, as ``blas.CORES``): each library's
    table, why, and -- where a table without AVX-512 runs on an AVX-512 CPU -- how to change it."""
    environ = os.environ if environ is None else environ
    if avx512 is None:
        avx512 = has_avx512()
    named = environ.get("OPENBLAS_CORETYPE", "").strip()
    parts, narrow = [], []
    for library, (chosen, served) in sorted(cores.items()):
        if served is None:
            parts.append(f"{library}'s: not an OpenBLAS that names its core")
        elif served != chosen:
            parts.append(f"{library}'s: {served} (served by fastbp for this AVX-512 CPU; "
                         f"OpenBLAS chose {chosen})")
        else:
            why = f"named in OPENBLAS_CORETYPE={named}" if named else "OpenBLAS's choice"
            parts.append(f"{library}'s: {served} ({why})")
            if avx512 and served not in AVX512_CORES:
                narrow.append(library)
    text = "; ".join(parts)
    if narrow:
        text += (" -- a table without AVX-512 on this AVX-512 CPU runs BLAS products at half "
                 f"width: {_advice(narrow, environ, named)}")
    return text


def _advice(libraries, environ, named):
    """How to have ``libraries`` (keeping a table without AVX-512) serve ``SERVED_CORE``."""
    if not all(can_serve(library_paths(library)) for library in libraries):
        return "this OpenBLAS has no AVX-512 table to switch to"
    wanted = mode(environ)
    if wanted == "keep":
        return f"{MODE_ENV}=keep keeps it (auto or cpu would serve {SERVED_CORE})"
    if named:
        return f"unset OPENBLAS_CORETYPE or set {MODE_ENV}=cpu"
    return f"{MODE_ENV}={wanted} did not switch it"
