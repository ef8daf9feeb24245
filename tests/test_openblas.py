"""Which table of kernels the bundled OpenBLAS copies serve, and fastbp's switch to this CPU's
AVX-512 table (``kernels.openblas``, ``FASTBP_OPENBLAS_CORE``)."""
import json
import os
import subprocess
import sys

import pytest

from fastbp.kernels import blas, openblas

AVX512 = dict.fromkeys(openblas.AVX512_FEATURES, True)


@pytest.mark.parametrize("current, environ, avx512, expected", [
    ("haswell", {}, True, True),                                   # misidentified: switch
    ("haswell", {}, False, False),                                 # an AVX2 CPU: its table
    ("skylakex", {}, True, False),                                 # already AVX-512
    ("cooperlake", {"FASTBP_OPENBLAS_CORE": "cpu"}, True, False),
    ("haswell", {"OPENBLAS_CORETYPE": "Haswell"}, True, False),    # the user's choice stays
    ("haswell", {"OPENBLAS_CORETYPE": "Haswell", "FASTBP_OPENBLAS_CORE": "cpu"}, True, True),
    ("zen", {"OPENBLAS_CORETYPE": "Zen", "FASTBP_OPENBLAS_CORE": " CPU "}, True, True),
    ("haswell", {"OPENBLAS_CORETYPE": "Haswell", "FASTBP_OPENBLAS_CORE": "cpu"}, False, False),
    ("haswell", {"FASTBP_OPENBLAS_CORE": "keep"}, True, False),
    ("haswell", {"FASTBP_OPENBLAS_CORE": "auto", "OPENBLAS_CORETYPE": ""}, True, True),
    (None, {"FASTBP_OPENBLAS_CORE": "cpu"}, True, False),          # not an OpenBLAS
])
def test_the_rule_serves_avx512_only_where_allowed(current, environ, avx512, expected):
    assert openblas.should_serve_avx512(current, environ, avx512) is expected


def test_a_bad_mode_is_named():
    with pytest.raises(ValueError, match="FASTBP_OPENBLAS_CORE must be one of auto, cpu, keep"):
        openblas.should_serve_avx512("haswell", {"FASTBP_OPENBLAS_CORE": "fast"}, True)


def test_avx512_needs_every_feature_the_kernels_use():
    assert openblas.has_avx512(AVX512)
    for missing in openblas.AVX512_FEATURES:
        assert not openblas.has_avx512({**AVX512, missing: False})
    assert not openblas.has_avx512({})


def test_the_description_says_why_and_how_to_change_it():
    named = openblas.describe({"numpy": ("haswell", "haswell")},
                              {"OPENBLAS_CORETYPE": "Haswell"}, avx512=True)
    assert "numpy's: haswell (named in OPENBLAS_CORETYPE=Haswell)" in named
    assert "FASTBP_OPENBLAS_CORE=cpu" in named
    switched = openblas.describe({"scipy": ("haswell", "skylakex")}, {}, avx512=True)
    assert "scipy's: skylakex (served by fastbp" in switched and "chose haswell" in switched
    assert "half width" not in switched
    assert "half width" not in openblas.describe({"numpy": ("haswell", "haswell")}, {},
                                                 avx512=False)


@pytest.mark.parametrize("cores, avx512, expected", [
    ({"numpy": ("haswell", "haswell")}, True, True),
    ({"numpy": ("haswell", "haswell")}, False, False),      # an AVX2 CPU's own table
    ({"numpy": ("haswell", "skylakex"), "scipy": ("skylakex", "skylakex")}, True, False),
    ({"numpy": ("skylakex", "skylakex"), "scipy": ("zen", "zen")}, True, True),
    ({"numpy": (None, None)}, True, False),                 # not an OpenBLAS (MKL, say)
])
def test_a_narrow_table_is_one_without_avx512_on_an_avx512_cpu(cores, avx512, expected):
    assert openblas.narrow_table(cores, avx512) is expected


def test_the_blas_line_follows_the_table():
    from fastbp.kernels import config

    if os.environ.get(config.BLAS_MIN_WEIGHTS_ENV, "").strip():
        pytest.skip(f"{config.BLAS_MIN_WEIGHTS_ENV} sets the line")
    expected = config.BLAS_MIN_WEIGHTS_NARROW if blas.NARROW_TABLE else 512
    assert config.BLAS_MIN_WEIGHTS == expected


def test_the_advice_fits_the_case(monkeypatch):
    monkeypatch.setattr(openblas, "can_serve", lambda paths: True)
    narrow = {"numpy": ("haswell", "haswell")}
    named = openblas.describe(narrow, {"OPENBLAS_CORETYPE": "Haswell"}, avx512=True)
    assert named.endswith("unset OPENBLAS_CORETYPE or set FASTBP_OPENBLAS_CORE=cpu")
    kept = openblas.describe(narrow, {"FASTBP_OPENBLAS_CORE": "keep"}, avx512=True)
    assert kept.endswith("FASTBP_OPENBLAS_CORE=keep keeps it (auto or cpu would serve SkylakeX)")
    failed = openblas.describe(narrow, {"FASTBP_OPENBLAS_CORE": "cpu"}, avx512=True)
    assert failed.endswith("FASTBP_OPENBLAS_CORE=cpu did not switch it")
    monkeypatch.setattr(openblas, "can_serve", lambda paths: False)
    assert openblas.describe(narrow, {}, avx512=True).endswith(
        "this OpenBLAS has no AVX-512 table to switch to")


def test_no_openblas_is_left_alone():
    assert openblas.serve_avx512([]) == (None, None)
    assert not openblas.can_serve([])


def test_the_kernels_libraries_are_described():
    assert set(blas.CORES) == {"numpy", "scipy"}
    for chosen, served in blas.CORES.values():
        assert (chosen is None) == (served is None)
    assert blas.SMALL_KERNELS[0] == (blas.CORES[blas.library_of("float64")][1]
                                     in openblas.AVX512_CORES)


_PROBE = """
import json, os, numpy as np, scipy.linalg
before = os.environ.pop("OPENBLAS_CORETYPE", None) if {unset} else None
from threadpoolctl import threadpool_info
import fastbp
from fastbp.kernels import blas, config
rng = np.random.default_rng(0)
a, b = rng.standard_normal((150, 70)), rng.standard_normal((70, 90))
exact = sum(np.outer(a[:, i], b[i]) for i in range(70))
print(json.dumps({{"cores": blas.CORES, "small": blas.SMALL_KERNELS,
                  "pools": sorted(i["architecture"] for i in threadpool_info()
                                  if i["user_api"] == "blas"),
                  "env": os.environ.get("OPENBLAS_CORETYPE"),
                  "narrow": blas.NARROW_TABLE, "line": config.BLAS_MIN_WEIGHTS,
                  "error": float(abs(a @ b - exact).max()),
                  "error32": float(abs(a.astype(np.float32) @ b.astype(np.float32) - exact).max())}}))
"""


def _probe(environ, unset=False):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "FASTBP_OPENBLAS_CORE")}
    env.update(environ, FASTBP_QUIET="1")
    out = subprocess.run([sys.executable, "-c", _PROBE.format(unset=unset)], env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _avx512_openblas():
    if not openblas.has_avx512() or not all(openblas.can_serve(openblas.library_paths(library))
                                            for library in ("numpy", "scipy")):
        pytest.skip("needs an AVX-512 CPU and OpenBLAS copies built with their SkylakeX table")


def test_cpu_mode_serves_the_avx512_table_over_a_named_one():
    _avx512_openblas()
    named = _probe({"OPENBLAS_CORETYPE": "Haswell"})
    assert named["cores"] == {"numpy": ["haswell", "haswell"], "scipy": ["haswell", "haswell"]}
    assert named["pools"] == ["Haswell", "Haswell"] and named["small"] == [False, False]
    assert named["narrow"] and named["line"] == 128 * 128  # own AVX-512 loops up to 128 x 128
    served = _probe({"OPENBLAS_CORETYPE": "Haswell", "FASTBP_OPENBLAS_CORE": "cpu"})
    assert served["cores"] == {"numpy": ["haswell", "skylakex"], "scipy": ["haswell", "skylakex"]}
    assert served["pools"] == ["SkylakeX", "SkylakeX"] and served["small"] == [True, True]
    assert served["env"] == "Haswell"  # the user's variable is left as it was
    assert not served["narrow"] and served["line"] == 512
    for result in (named, served):     # np.dot computes the product on either table
        assert result["error"] < 1e-12 and result["error32"] < 1e-3


def test_auto_mode_corrects_a_table_the_library_chose_itself():
    _avx512_openblas()
    # Loaded with Haswell named, then the name removed: as a library that misidentified the CPU.
    chosen = _probe({"OPENBLAS_CORETYPE": "Haswell"}, unset=True)
    assert chosen["cores"] == {"numpy": ["haswell", "skylakex"], "scipy": ["haswell", "skylakex"]}
    assert chosen["env"] is None
    kept = _probe({"OPENBLAS_CORETYPE": "Haswell", "FASTBP_OPENBLAS_CORE": "keep"}, unset=True)
    assert kept["cores"] == {"numpy": ["haswell", "haswell"], "scipy": ["haswell", "haswell"]}
