"""The installed package: kernels ship inside it as fastbp.kernels, never as a top-level 'kernels'."""
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

import fastbp
import fastbp.kernels


def imported_from_source_tree():
    """True for an editable install or a plain checkout (fastbp imported from this repository)."""
    return Path(fastbp.__file__).resolve().parent.parent == Path(__file__).resolve().parent.parent


def test_kernels_are_a_subpackage_of_fastbp():
    assert fastbp.kernels.__name__ == "fastbp.kernels"
    assert callable(fastbp.kernels.train_full_batch)


def test_no_top_level_kernels_module():
    spec = importlib.util.find_spec("kernels")
    assert spec is None or "fastbp" not in str(spec.origin), "a top-level 'kernels' was installed"


def test_kernels_ship_inside_the_installed_package():
    if imported_from_source_tree():
        pytest.skip("fastbp imported from the source tree: the wheel layout is checked by the CI's "
                    "`pip install .`")
    package = Path(fastbp.__file__).parent
    assert Path(fastbp.kernels.__file__).parent == package / "kernels"


def test_console_script_is_declared():
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("fastbp") == "fastbp.cli:main"
