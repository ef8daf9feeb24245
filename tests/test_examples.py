"""Every runnable example in docs/examples runs as a user would run it, and prints what the docs say."""
from pathlib import Path

import pytest

from conftest import run_python

README_CODE = ("tutorial_dropin.py", "fit_circle.py")  # the examples whose code the README shows
EXAMPLES = sorted((Path(__file__).parent.parent / "docs" / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_example_runs(example):
    result = run_python(f"import runpy; runpy.run_path(r'{example}', run_name='__main__')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_examples_are_the_readme_code():
    """The README shows the code of its two examples, line for line."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    shown = [e for e in EXAMPLES if e.name in README_CODE]
    assert len(shown) == len(README_CODE)
    for example in shown:
        code = [line for line in example.read_text().splitlines() if line.strip()]
        assert all(line in readme for line in code), example.name
