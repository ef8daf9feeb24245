"""One contiguous buffer for every layer's weights and biases, with per-layer views into it."""
import numpy as np

from . import kernels

# Activation and head names -> the kernels' run-time codes.
ACTIVATION_CODES = {"relu": kernels.RELU, "leaky_relu": kernels.LEAKY_RELU, "tanh": kernels.TANH,
                    "sigmoid": kernels.SIGMOID, "identity": kernels.IDENTITY}
HEAD_CODES = {"sigmoid": kernels.SIGMOID, "softmax": kernels.SOFTMAX, "identity": kernels.IDENTITY}


class Parameters:
    """The parameters of a dense network, laid out [W0, b0, W1, b1, ...] in one 1-D buffer.

    ``weights[i]`` is a writable (sizes[i], sizes[i+1]) view and ``biases[i]`` a (sizes[i+1],)
    view into ``flat``; ``grads`` has the same layout and ``backup`` holds the state before the
    latest update, so a diverging step can be undone (both made when first needed).
    """

    def __init__(self, layer_sizes, dtype, hidden=None, head="sigmoid"):
        self.sizes = np.asarray(layer_sizes, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        n_layers = len(layer_sizes) - 1
        self.hidden = list(hidden) if hidden is not None else ["relu"] * (n_layers - 1)
        self.head = head
        self.codes = np.array([ACTIVATION_CODES[name] for name in self.hidden] + [HEAD_CODES[head]],
                              dtype=np.int64)  # each layer's activation code, the head last
        total = sum(n_in * n_out + n_out for n_in, n_out in self.layer_shapes)
        self.flat = aligned_zeros(total, self.dtype)
        self._grads = None   # made when first needed, dropped by release_step_buffers
        self._backup = None
        self.weights, self.biases = self.views(self.flat)
        self.decay = aligned_zeros(total, self.dtype)  # 1 for weights: weight decay's mask
        for W in self.views(self.decay)[0]:
            W[...] = 1

    @property
    def grads(self):
        """The gradient buffer of stand-alone steps (``backward``, ``update``), in the parameter
        layout; made when first needed."""
        if self._grads is None:
            self._grads = aligned_zeros(self.flat.size, self.dtype)
        return self._grads

    @property
    def backup(self):
        """The parameters before the latest update, to undo a step that would not be finite;
        made when first needed (a fit writes it before reading it)."""
        if self._backup is None:
            self._backup = aligned_zeros(self.flat.size, self.dtype)
        return self._backup

    def release_step_buffers(self):
        """Drop ``grads`` and ``backup`` (each made again when next needed): a kept network then
        holds its parameters and the weight-decay mask only."""
        self._grads = self._backup = None

    @property
    def layer_shapes(self):
        """[(n_in, n_out), ...] for every layer."""
        return [(int(a), int(b)) for a, b in zip(self.sizes[:-1], self.sizes[1:])]

    @property
    def names(self):
        """Parameter names in buffer order: W0, b0, W1, b1, ..."""
        return [f"{kind}{i}" for i in range(len(self.weights)) for kind in ("W", "b")]

    def named(self, buffer):
        """{'W0': view, 'b0': view, ...} over ``buffer`` (``flat``, ``grads`` or a copy of them)."""
        weights, biases = self.views(buffer)
        return {name: view for name, view in zip(self.names, _interleave(weights, biases))}

    def views(self, buffer):
        """(weights, biases): per-layer views into ``buffer`` (any array in the parameter layout)."""
        weights, biases, offset = [], [], 0
        for n_in, n_out in self.layer_shapes:
            weights.append(buffer[offset:offset + n_in * n_out].reshape(n_in, n_out))
            offset += n_in * n_out
            biases.append(buffer[offset:offset + n_out])
            offset += n_out
        return weights, biases


def _interleave(weights, biases):
    for W, b in zip(weights, biases):
        yield W
        yield b


def aligned_empty(size, dtype, alignment=64):
    """np.empty(size, dtype) starting on a cache-line boundary.

    malloc aligns to 16 bytes only: a buffer 16 bytes off a 32-byte boundary makes every other
    AVX load or store split a cache line (what it cost: docs/decisions.md).
    """
    dtype = np.dtype(dtype)
    raw = np.empty(size * dtype.itemsize + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + size * dtype.itemsize].view(dtype)


def aligned_zeros(size, dtype):
    """np.zeros(size, dtype) starting on a cache-line boundary (see aligned_empty)."""
    buffer = aligned_empty(size, dtype)
    buffer[...] = 0
    return buffer
