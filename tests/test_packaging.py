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


def test_version_comes_from_the_package_metadata(capsys):
    """One place for the version (pyproject.toml): fastbp.__version__ and `fastbp --version`."""
    from fastbp.cli import main

    assert fastbp.__version__ == importlib.metadata.version("fastbp")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"fastbp {fastbp.__version__}"


def test_typed_and_licensed():
    """py.typed ships with the package (PEP 561); the LICENSE file and the classifiers say MIT."""
    assert (Path(fastbp.__file__).parent / "py.typed").exists()
    metadata = importlib.metadata.metadata("fastbp")
    assert "License :: OSI Approved :: MIT License" in metadata.get_all("Classifier")
    assert any(url.startswith("Documentation") for url in metadata.get_all("Project-URL"))
    if imported_from_source_tree():
        assert "MIT License" in (Path(__file__).parent.parent / "LICENSE").read_text()
