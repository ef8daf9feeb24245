"""The house rules, checked on the source: layers point one way, compiled code lives in kernels/,
the reference imports nothing from fastbp, no module reads another's private attributes."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
API = sorted((ROOT / "fastbp").rglob("*.py"))
KERNELS = sorted((ROOT / "kernels").glob("*.py"))
# Numba's own internals, which fastbp's compile settings adjust on purpose (each explained there).
# (views.py builds array structs in an intrinsic, as Numba's own reshape does)
NUMBA_INTERNALS = {"kernels/config.py", "kernels/linking.py", "kernels/views.py"}


def tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def imports(path):
    """(module, level) of every import in ``path``."""
    found = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def name(path):
    return path.relative_to(ROOT).as_posix()


def test_the_reference_imports_nothing_from_fastbp():
    assert imports(ROOT / "fastbp" / "reference.py") == [("numpy", 0)]


@pytest.mark.parametrize("path", KERNELS, ids=name)
def test_kernels_import_only_kernels_and_compilers(path):
    allowed = {"numpy", "numba", "llvmlite", "ctypes", "os", "platform", "time", "hashlib",
               "pathlib", "collections", "importlib", "glob", "gc", "fcntl"}
    for module, level in imports(path):
        if level:
            assert level == 1, f"{name(path)} reaches outside kernels/: {'.' * level}{module}"
        else:
            assert module.split(".")[0] in allowed, f"{name(path)} imports {module}"


@pytest.mark.parametrize("path", API, ids=name)
def test_compiled_code_lives_only_in_kernels(path):
    for node in ast.walk(tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                numba_compiled = text.startswith(("numba", "njit", "jit", "kernel", "intrinsic"))
                assert not numba_compiled, (  # (a peer's own compiler, e.g. jax.jit, is fine)
                    f"{name(path)}: {node.name} is compiled ({text}) outside kernels/")


@pytest.mark.parametrize("path", API + KERNELS, ids=name)
def test_no_module_reads_another_objects_private_attributes(path):
    """``x._name`` only on ``self``/``cls``/``super()`` (a class's own state), never on another
    object or module (Numba's internals excepted where fastbp's compile settings adjust them
    or an intrinsic builds an array)."""
    if name(path) in NUMBA_INTERNALS:
        return
    for node in ast.walk(tree(path)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            owner = ast.unparse(node.value)
            assert owner in ("self", "cls", "super()"), \
                f"{name(path)}:{node.lineno} reads {owner}.{node.attr}"


def test_engine_layer_does_not_import_the_api():
    """engines -> kernels and reference; never back up to the network or the harness."""
    for module, _level in imports(ROOT / "fastbp" / "engines.py"):
        assert module not in ("network", "bench", "demo", "cli", "gradcheck"), module
