"""Each compiled kernel calls its own copies of its callees, whether compiled or loaded from cache.

Numba links each called kernel's IR into the caller as ``linkonce_odr`` and optimises the whole
module again; with ``reassoc`` LLVM may compile those copies differently from the callee's own
compilation (a reduction summed in another order).  In object code they are weak symbols, and
the JIT binds a weak symbol to an earlier definition when one is loaded: a process that compiled
the kernels bound the callers to the callees' separately compiled code, a process that loaded
the callers from the disk cache (callees never loaded) to the callers' own copies -- and a seeded
fit's last bits differed between the two.  Here the copies are made internal after optimisation
(the same machine code), so the ones inside each caller are always the ones called.

This adjusts two private methods of Numba's ``JITCodeLibrary`` (checked on Numba 0.68),
acting on modules that define fastbp kernels only.  Where a Numba lacks them nothing is changed
(``OWN_COPIES`` is False) and tests/test_cache.py's cold-vs-warm test says so.
"""
from llvmlite import binding as llvm

try:
    from numba.core.codegen import JITCodeLibrary
except ImportError:  # pragma: no cover -- a Numba without it
    JITCodeLibrary = None


def _own_copies(finalize_final_module, module_for_linking):
    """Wrappers of JITCodeLibrary's two methods: the final module's linked-in copies internal
    after optimisation; the module other kernels link keeps them ``linkonce_odr``."""
    def finalize_with_own_copies(library):
        if library._shared_module is None:  # compiled here, not loaded from the disk cache
            mod = library._final_module
            if any(fn.name.startswith("_ZN6fastbp7kernels") and fn.linkage == llvm.Linkage.external
                   for fn in mod.functions if not fn.is_declaration):  # fastbp's kernels only
                local = [fn.name for fn in mod.functions
                         if not fn.is_declaration and fn.linkage == llvm.Linkage.linkonce_odr]
                for name in local:
                    mod.get_function(name).linkage = llvm.Linkage.internal
                library._fastbp_local = local
        return finalize_final_module(library)

    def linking_module_unchanged(library):
        built = library._shared_module is None
        mod = module_for_linking(library)
        if built and mod is not library._final_module:
            for name in getattr(library, "_fastbp_local", ()):
                mod.get_function(name).linkage = llvm.Linkage.linkonce_odr
        return mod

    finalize_with_own_copies.fastbp = linking_module_unchanged.fastbp = True
    return finalize_with_own_copies, linking_module_unchanged


def _install():
    """Patch JITCodeLibrary once per process; True where it could be."""
    needed = ("_finalize_final_module", "_get_module_for_linking")
    if JITCodeLibrary is None or not all(hasattr(JITCodeLibrary, name) for name in needed):
        return False
    if not getattr(JITCodeLibrary._finalize_final_module, "fastbp", False):
        JITCodeLibrary._finalize_final_module, JITCodeLibrary._get_module_for_linking = \
            _own_copies(JITCodeLibrary._finalize_final_module,
                        JITCodeLibrary._get_module_for_linking)
    return True


OWN_COPIES = _install()
