"""A spin barrier for the data-parallel training loops: workers in Python threads, inside compiled code.

``board`` is an int64 array of ``(n_workers + 1) * SLOT`` entries (one cache line per slot):
worker w's slot counts the barriers it has reached, the last slot is the abort flag (set by a
worker that failed outside compiled code, so that the others stop waiting).  Every worker runs
the same deterministic sequence of barriers, so barrier number ``t`` is reached by all of them.
Counters are published with release stores and read with acquire loads (LLVM atomics), so all
writes a worker made before reaching a barrier are visible to every worker past it.  The barrier
returns how long it waited (``monotonic_ns``): the training loops add that up and hand the rest
of the training to one worker when the workers spend much of their time waiting for a worker
without a core (see train.finish_step).
"""
import ctypes
import os
import platform
import time

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import kernel

SLOT = 8  # int64 entries per slot: 64 bytes, one cache line
# A waiter spins SPINS_BEFORE_YIELD pauses (tens of microseconds), then calls sched_yield
# between checks: the worker it waits for has no core (another busy process, or more workers
# than cores), so the waiter's core is better given to whoever is runnable.  (Sleeping instead
# -- usleep, lengthened by the kernel's timer slack -- made the workers wait for each other's
# sleeps in turn: a quiet machine then fell back to one worker; docs/decisions.md.)
SPINS_BEFORE_YIELD = 1024
# Waits are timed from the 64th spin on: the short waits of workers that are both running
# cost no clock reads and count as none.
SPINS_BEFORE_TIMING = 64
_X86 = platform.machine().lower() in {"x86_64", "amd64", "i686", "x86"}
_POSIX = os.name == "posix"


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index] (int64, 1-D, C-contiguous) read with acquire ordering."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)
    return types.int64(array, types.intp), codegen


@intrinsic
def _store_release(typingctx, array, index, value):
    """array[index] = value (int64, 1-D, C-contiguous) with release ordering."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(array, types.intp, types.int64), codegen


@intrinsic
def _spin_pause(typingctx):
    """The x86 ``pause`` hint inside a spin loop (nothing elsewhere)."""
    def codegen(context, builder, signature, args):
        if _X86:
            fnty = cgutils.ir.FunctionType(cgutils.ir.VoidType(), [])
            pause = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _yield_core(typingctx):
    """sched_yield() on POSIX systems (a spin pause elsewhere)."""
    def codegen(context, builder, signature, args):
        if _POSIX:
            fnty = cgutils.ir.FunctionType(cgutils.ir.IntType(32), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        elif _X86:
            fnty = cgutils.ir.FunctionType(cgutils.ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _clock_ns(typingctx):
    """clock_gettime(CLOCK_MONOTONIC) in nanoseconds on POSIX systems (0 elsewhere)."""
    def codegen(context, builder, signature, args):
        i64 = cgutils.ir.IntType(64)
        if not _POSIX:
            return cgutils.ir.Constant(i64, 0)
        field = cgutils.ir.IntType(8 * ctypes.sizeof(ctypes.c_long))  # time_t and long
        timespec = cgutils.ir.LiteralStructType([field, field])
        now = cgutils.alloca_once(builder, timespec)
        fnty = cgutils.ir.FunctionType(cgutils.ir.IntType(32),
                                       [cgutils.ir.IntType(32), timespec.as_pointer()])
        clock_gettime = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        builder.call(clock_gettime, [cgutils.ir.Constant(cgutils.ir.IntType(32),
                                                         time.CLOCK_MONOTONIC), now])

        def field_value(i):  # as int64
            value = builder.load(cgutils.gep_inbounds(builder, now, 0, i))
            return value if field.width == 64 else builder.sext(value, i64)

        nanoseconds = builder.mul(field_value(0), cgutils.ir.Constant(i64, 1_000_000_000))
        return builder.add(nanoseconds, field_value(1))
    return types.int64(), codegen


@kernel(inline=True)
def monotonic_ns():
    """A monotonic clock in nanoseconds (POSIX; always 0 elsewhere, where waits count as none)."""
    return _clock_ns()


@kernel(python=False, linked=False)
def barrier(board, worker, n_workers, count):
    """Wait until every worker has reached barrier number ``count``.

    The caller counts its barriers (1, 2, 3, ...).  Returns the nanoseconds it waited after its
    first SPINS_BEFORE_TIMING spins (0 for a shorter wait), -1 if aborted.  With one worker it
    returns 0 at once.
    """
    if n_workers == 1:
        return 0
    _store_release(board, worker * SLOT, count)
    abort_slot = n_workers * SLOT
    spins = 0
    started = 0
    for other in range(n_workers):
        while _load_acquire(board, other * SLOT) < count:
            if _load_acquire(board, abort_slot) != 0:
                return -1
            spins += 1
            if spins == SPINS_BEFORE_TIMING:
                started = monotonic_ns()
            if spins < SPINS_BEFORE_YIELD:
                _spin_pause()
            else:
                _yield_core()
    return 0 if spins < SPINS_BEFORE_TIMING else max(monotonic_ns() - started, 1)


@intrinsic
def _raise_to(typingctx, array, index, value):
    """array[index] = value if it held less (int64, 1-D, C-contiguous; one atomic
    compare-and-swap loop, acquire-release): True if this call raised it."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        new = args[2]
        raised = cgutils.alloca_once_value(builder, cgutils.false_bit)
        loop = builder.append_basic_block("raise_to.loop")
        done = builder.append_basic_block("raise_to.done")
        builder.branch(loop)
        builder.position_at_end(loop)
        old = builder.load_atomic(ptr, "acquire", 8)
        with builder.if_then(builder.icmp_signed(">=", old, new)):
            builder.branch(done)
        pair = builder.cmpxchg(ptr, old, new, "acq_rel", "acquire")
        swapped = builder.extract_value(pair, 1)
        with builder.if_then(swapped):
            builder.store(cgutils.true_bit, raised)
            builder.branch(done)
        builder.branch(loop)
        builder.position_at_end(done)
        return builder.load(raised)
    return types.boolean(array, index, value), codegen
