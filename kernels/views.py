"""Two-dimensional views into the flat workspaces and parameter buffers.

``matrix(buf, start, rows, cols)`` is ``buf[start:start + rows * cols].reshape((rows, cols))``
for a C-contiguous 1-D ``buf``: a C-contiguous (rows, cols) view of the same memory, checked to
lie inside ``buf``.  Numba's ``reshape`` calls a C helper (``numba_attempt_nocopy_reshape``) at
every view, and the training loops take several views per layer and block at every step --
for a small network a few percent of its epoch (docs/decisions.md); this view is a few
integer operations the compiler sees through.
"""
from numba import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from .config import kernel


@intrinsic
def _matrix_view(typingctx, buf, start, rows, cols):
    """The (rows, cols) C-contiguous view of ``buf`` (1-D, C-contiguous) from element ``start``
    on, unchecked."""
    if not (isinstance(buf, types.Array) and buf.ndim == 1 and buf.layout == "C"):
        return None
    result = buf.copy(ndim=2, layout="C")

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        view = context.make_array(result)(context, builder)
        first, n_rows, n_cols = args[1], args[2], args[3]
        itemsize = context.get_constant(
            types.intp, context.get_abi_sizeof(context.get_data_type(buf.dtype)))
        populate_array(view, data=builder.gep(source.data, [first]), shape=[n_rows, n_cols],
                       strides=[builder.mul(n_cols, itemsize), itemsize], itemsize=itemsize,
                       meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, result, view._getvalue())

    return result(buf, types.intp, types.intp, types.intp), codegen


@kernel(inline=True)
def matrix(buf, start, rows, cols):
    """buf[start:start + rows * cols] as a C-contiguous (rows, cols) array (a view)."""
    if start < 0 or rows < 0 or cols < 0 or start + rows * cols > buf.size:
        raise IndexError("a view outside its buffer")
    return _matrix_view(buf, start, rows, cols)


@kernel
def probe_matrix(buf, start, rows, cols, out, layout):
    """matrix(buf, start, rows, cols) seen from Python (tests): its values copied into ``out``
    through a sub-view indexed by its strides, and its shape, strides (bytes) and itemsize into
    ``layout[:5]``."""
    view = matrix(buf, start, rows, cols)
    strided = view[:, 0:cols]  # (not C-contiguous to the compiler: read through the strides)
    for r in range(rows):
        for c in range(cols):
            out[r, c] = strided[r, c]
    layout[0], layout[1] = view.shape
    layout[2], layout[3] = view.strides
    layout[4] = view.itemsize
