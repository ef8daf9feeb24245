"""How compiled kernels call each other: linked copies, or one compiled code called by address.

**Linked copies** (Numba's way, every kernel by default).

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

**Called by address** (``kernel(linked=False)``, the big loop kernels and the training steps'
parts).  A linked callee is optimised and compiled to machine code again in every caller, and
again in the caller's callers: that was most of the training loops' LLVM time.  An
``AddressCalled`` kernel is compiled once per signature; compiled callers declare it under a
stable symbol name (``fastbp.<module>.<name>.<digest of the signature>``), bound in each process
to the address of its compiled (or cache-loaded) code, and call it like any Numba function.
A cached caller records a ``Bind`` for each such callee among Numba's reload functions, so
loading it from the cache first compiles or loads the callee and binds the symbol.  Every caller
thus runs the callee's one compiled code, whether compiled here or loaded from the cache.  The
call itself costs a few nanoseconds (LLVM did not inline these big kernels into their callers).
"""
import hashlib
import importlib
from collections import namedtuple

from llvmlite import binding as llvm
from numba import types
from numba.core import cgutils
from numba.core.imputils import lower_builtin
from numba.core.registry import CPUDispatcher
from numba.core.typing.templates import AbstractTemplate

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


class AddressCalled(CPUDispatcher):
    """A kernel's dispatcher whose compiled callers call its code by address (see above).
    Called from Python, it is a plain Numba dispatcher."""

    def __init__(self, py_func, **kwargs):
        super().__init__(py_func, **kwargs)
        dispatcher = self

        class Call(AbstractTemplate):  # typing: the callee's signature for these arguments
            key = dispatcher

            def generic(self, args, kws):
                if kws:
                    return None
                args = tuple(types.unliteral(a) for a in args)
                dispatcher.compile(args)
                return dispatcher.overloads[args].signature

        self._by_address = types.Function(Call)
        lower_builtin(self, types.VarArg(types.Any))(self._lower_call)

    @property
    def _numba_type_(self):
        return self._by_address

    def _lower_call(self, context, builder, sig, args):
        """A call through the bound symbol, its status propagated as for any Numba call."""
        name = bind(self, sig.args)
        function = cgutils.get_or_insert_function(
            builder.module, context.call_conv.get_function_type(sig.return_type, sig.args), name)
        context.call_conv.decorate_function(function, [str(i) for i in range(len(sig.args))],
                                            sig.args)
        status, result = context.call_conv.call_function(builder, function, sig.return_type,
                                                         sig.args, args)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        func = self.py_func
        context.active_code_library._reload_init.add(Bind(func.__module__, func.__qualname__,
                                                          sig.args))
        return result


def called_by_address(func, cache=False, **options):
    """``numba.njit(func, cache=cache, **options)``, as an ``AddressCalled`` dispatcher."""
    dispatcher = AddressCalled(func, targetoptions=dict(options, nopython=True, boundscheck=None))
    if cache:
        dispatcher.enable_caching()  # RuntimeError where the cache has no locator, as njit
    return dispatcher


_BOUND = {}  # symbol -> the compile result whose code it is bound to (kept alive)


def symbol(dispatcher, args):
    """The stable symbol name of ``dispatcher``'s code for argument types ``args``."""
    func = dispatcher.py_func
    digest = hashlib.sha256(str(args).encode()).hexdigest()[:24]
    return f"fastbp.{func.__module__}.{func.__qualname__}.{digest}"


def bind(dispatcher, args):
    """Compile (or load) ``dispatcher`` for ``args`` and bind its symbol once; the symbol."""
    name = symbol(dispatcher, args)
    if name not in _BOUND:
        dispatcher.compile(args)
        compiled = dispatcher.overloads[args]
        llvm.add_symbol(name, compiled.library.get_pointer_to_function(
            compiled.fndesc.llvm_func_name))
        _BOUND[name] = compiled
    return name


class Bind(namedtuple("Bind", "module qualname args")):
    """Reload function of a cached caller (picklable): bind its callee's symbol before loading."""

    def __call__(self):
        bind(getattr(importlib.import_module(self.module), self.qualname), self.args)
