"""Model files: NumPy ``.npz`` archives read without pickle (layout: docs/model-files.md).

A file holds named 1-D arrays of numbers or text and one JSON text, ``metadata``; nothing in it
is ever executed: object arrays are refused (``allow_pickle=False``), every array's header is
checked against what the metadata announces before its data is read (a crafted header cannot
make the reader allocate more), and every value is checked before a network is built from it.
``save`` writes to a temporary file beside the target and renames it into place, so an
interrupted save leaves the old file or none, never half of one.

This module knows the container (archive, format version, metadata, sizes); what the arrays
mean is checked by their owners (``NeuralNetwork.from_model_state``, the estimators' ``load``).
"""
import dataclasses
import json
import math
import os
import tempfile
import zipfile
import zlib

try:
    import lzma
except ImportError:  # pragma: no cover -- a Python built without it
    lzma = None

import numpy as np

FORMAT = "fastbp-model"
FORMAT_VERSION = 1
METADATA_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass
class ModelState:
    """What a model file holds: ``metadata`` (JSON-compatible) and named ``arrays``."""

    metadata: dict
    arrays: dict


def save(path, state):
    """Write ``state`` to ``path`` (exactly that name) atomically."""
    path = os.fspath(path)
    for name, array in state.arrays.items():
        if name == "metadata" or np.asarray(array).dtype.kind not in "biufU":
            raise ValueError(f"array {name!r} cannot go in a model file (numbers and text only)")
    metadata = dict(state.metadata, format=FORMAT, format_version=FORMAT_VERSION)
    text = json.dumps(metadata, allow_nan=False, sort_keys=True)
    folder = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".fastbp-", suffix=".npz.tmp",
                                         delete=False)
    try:
        with handle:
            np.savez(handle, metadata=np.array(text), **state.arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with _quietly():
            os.unlink(handle.name)
        raise


def load(path, expected_sizes):
    """Read a model file: its metadata and arrays, each array's size first checked by
    ``expected_sizes(metadata)`` -> {name: (dtype, element count)}; a ValueError names whatever
    is wrong (not a model file, damaged, another version, unexpected arrays)."""
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _MEMBER_ERRORS as error:
        raise ValueError(f"{path} is not a fastbp model file (not a readable .npz archive: "
                         f"{error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a fastbp model file (a single .npy array, not an .npz "
                         "archive)")
    with archive:
        metadata = _metadata(archive, path)
        expected = expected_sizes(metadata)
        names = set(archive.files) - {"metadata"}
        if names != set(expected):
            missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
            raise ValueError(f"{path}: the arrays do not match the metadata (missing {missing}, "
                             f"unexpected {extra})")
        arrays = {}
        for name, (dtype, count) in expected.items():
            dtype = np.dtype(dtype)

            def check(shape, stored, dtype=dtype, count=count):
                if stored != dtype or math.prod(shape) != count or len(shape) != 1:
                    raise ValueError(f"it should hold {count} values of {dtype} in one "
                                     f"dimension, not {shape} of {stored}")

            array = _read(archive, name, path, check)
            if dtype.kind == "f" and not np.all(np.isfinite(array)):
                raise ValueError(f"{path}: array {name!r} holds NaN or infinite values")
            arrays[name] = array
    return ModelState(metadata, arrays)


def _metadata(archive, path):
    if "metadata" not in archive.files:
        raise ValueError(f"{path} is not a fastbp model file (no metadata)")

    def check(shape, dtype):
        if dtype.kind != "U" or shape != () or dtype.itemsize > METADATA_BYTES:
            raise ValueError("the metadata must be one text of at most 16 MB")

    text = _read(archive, "metadata", path, check)
    try:
        metadata = json.loads(str(text), parse_constant=_no_constant)
    except ValueError as error:
        raise ValueError(f"{path}: the metadata is not valid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fastbp model file (format {metadata.get('format')!r})"
                         if isinstance(metadata, dict) else f"{path}: the metadata is not a "
                         "JSON object")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: model file format version {version!r} is not supported "
                         f"(this fastbp reads version {FORMAT_VERSION})")
    return metadata


# What reading a damaged member can raise: zipfile raises NotImplementedError for a compression
# method it does not know and RuntimeError for a member flagged as encrypted; the decompressors
# zlib.error (deflate), OSError (bzip2) and LZMAError on bad data.
_MEMBER_ERRORS = (ValueError, OSError, EOFError, KeyError, NotImplementedError, RuntimeError,
                  zipfile.BadZipFile, zlib.error) + ((lzma.LZMAError,) if lzma else ())


def _read(archive, name, path, check):
    """Member ``name``.npy, its header read and passed to ``check(shape, dtype)`` (which raises
    ValueError) before any data is read or memory allocated for it."""
    member = f"{name}.npy"
    try:
        with archive.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError("object arrays are not allowed")
        check(shape, dtype)
        with archive.zip.open(member) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
    except _MEMBER_ERRORS as error:
        raise ValueError(f"{path}: array {name!r} cannot be read ({error})") from None
    return array


def _no_constant(name):
    raise ValueError(f"{name} is not allowed")


class _quietly:
    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        return kind is not None and issubclass(kind, OSError)


# -- checking metadata values ---------------------------------------------------------------------

def field(metadata, key, kind, path="model file"):
    """metadata[key], checked to be of ``kind`` ("int", "float", "bool", "str", "list",
    "dict", or a tuple of allowed strings); a ValueError names the key otherwise."""
    if key not in metadata:
        raise ValueError(f"{path}: the metadata lacks {key!r}")
    value = metadata[key]
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
        and math.isfinite(v),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
    }
    if isinstance(kind, tuple):
        if value not in kind:
            raise ValueError(f"{path}: metadata {key!r} must be one of {list(kind)}, got "
                             f"{value!r}")
    elif not ok[kind](value):
        raise ValueError(f"{path}: metadata {key!r} must be a {kind}, got {value!r}")
    return value
