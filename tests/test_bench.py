"""Smoke test of ``python -m fastbp bench``: the smallest sizes, in-process, no cold start."""
import math
from dataclasses import replace

import numpy as np
import pytest

from fastbp import bench


@pytest.fixture
def tiny_workloads(monkeypatch):
    """W1 and W3 shrunk to a few epochs / steps (the table is the same code path)."""
    tiny = {"W1": bench.Size(64, 3, 2, 2), "W3": bench.Size(16, 1, 2, 2, blocks=1)}
    workloads = [replace(w, quick=tiny[w.key]) for w in bench.WORKLOADS if w.key in tiny]
    monkeypatch.setattr(bench, "WORKLOADS", workloads)
    monkeypatch.setattr(bench, "ENGINES", [e for e in bench.ENGINES
                                           if e.name in ("tutorial", "numpy", "numba")])
    return workloads


def test_bench_smoke(tiny_workloads):
    lines = []
    rows, cold = bench.run_bench(quick=True, workloads="W1,W3", repeats=1, peak_size=128,
                                 settle=0.0, out=lines.append, log=lambda message: None,
                                 isolate=False)
    assert cold is None
    assert [(row.workload.key, row.engine) for row in rows] == [
        (key, engine) for key in ("W1", "W3") for engine in ("tutorial", "numpy", "numba")]
    for row in rows:
        assert math.isfinite(row.seconds) and row.seconds > 0
        assert math.isfinite(row.flops / row.seconds)
        assert math.isfinite(row.diff)
        assert row.diff < 1e-8  # every engine did the same training as the reference
    assert all(math.isfinite(row.compile_seconds) for row in rows if row.engine == "numba")
    text = "\n".join(lines)
    assert "W1 tutorial circle" in text and "W3 tutorial efficiency demo" in text
    assert "nan" not in text and "inf" not in text.replace("info", "")


def test_each_engine_runs_in_a_fresh_process():
    """The default: one spawned process per engine (PyTorch or JAX must not be imported into the
    tutorial's process); the rows come back and agree with the reference."""
    w1 = next(w for w in bench.WORKLOADS if w.key == "W1")
    engines = [e for e in bench.ENGINES if e.name in ("tutorial", "numpy", "numba")]
    rows = bench.run_workloads([w1], quick=True, repeats=1, engines=engines,
                               log=lambda message: None, settle=0.0)
    assert [row.engine for row in rows] == ["tutorial", "numpy", "numba"]
    for row in rows:
        assert math.isfinite(row.seconds) and row.seconds > 0 and row.diff < 1e-8


def test_a_broken_peer_is_skipped_not_fatal(tiny_workloads):
    def broken(*args):
        raise ImportError("libtorch_cpu.so: cannot open shared object file")

    engines = [e for e in bench.ENGINES if e.name == "numpy"] + [bench.Engine("torch", broken, False)]
    notes = []
    rows = bench.run_workloads(tiny_workloads[:1], quick=True, repeats=1, engines=engines,
                               log=notes.append, settle=0.0, isolate=False)
    assert [row.engine for row in rows] == ["numpy"]
    assert any("torch skipped: ImportError" in note for note in notes)


def test_peers_are_found_without_being_imported():
    import sys

    before = set(sys.modules)
    for engine in bench.ENGINES:
        engine.available()
    assert not {"torch", "jax"} & (set(sys.modules) - before)


def test_gemm_flops_counts_the_issue_formula():
    # [2, 16, 8, 1] on 500 samples: layer 0 forward + dW, layers 1, 2 forward + dW + delta
    assert bench.gemm_flops((2, 16, 8, 1), 500) == 2 * 500 * (2 * 2 * 16 + 3 * 16 * 8 + 3 * 8 * 1)


def test_unknown_workload_is_rejected():
    with pytest.raises(SystemExit):
        bench.select("W9")


def test_cli_has_bench(monkeypatch):
    called = {}
    monkeypatch.setattr(bench, "run_bench", lambda **options: called.update(options))
    from fastbp.cli import main

    main(["bench", "--quick", "--workloads", "W1", "--repeats", "1"])
    assert called == {"quick": True, "workloads": "W1", "threads": None, "repeats": 1}


@pytest.mark.parametrize("argv", [
    ["bench", "--repeats", "0"], ["bench", "--threads", "0"], ["bench", "--threads", "10000"],
    ["bench", "--repeats", "two"], ["demo", "--repeats", "-1"]])
def test_cli_rejects_bad_counts_before_running(monkeypatch, capsys, argv):
    monkeypatch.setattr(bench, "run_bench", lambda **options: pytest.fail("ran"))
    from fastbp import demo
    from fastbp.cli import main

    monkeypatch.setattr(demo, "run_demo", lambda **options: pytest.fail("ran"))
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert argv[1] in capsys.readouterr().err


def test_demo_plot_without_matplotlib_stops_before_training(monkeypatch):
    from fastbp import demo

    monkeypatch.setattr(demo.importlib.util, "find_spec",
                        lambda name: None if name == "matplotlib" else object())
    monkeypatch.setattr(demo, "compile_seconds", lambda *args, **kw: pytest.fail("trained"))
    with pytest.raises(SystemExit, match="--plot needs matplotlib"):
        demo.run_demo(plot="demo.png")


@pytest.mark.parametrize("workloads", ["COLD", "W1,W9"])
def test_phases_rejects_what_it_cannot_time_before_printing(workloads):
    from fastbp import phases

    lines = []
    with pytest.raises(SystemExit, match="unknown workload"):
        phases.run_phases(workloads, out=lines.append)
    assert lines == []


def test_phases_of_a_compiled_step():
    from fastbp import phases

    w1 = next(w for w in bench.WORKLOADS if w.key == "W1")
    times = phases.phase_times(w1, reps=3, repeats=1)
    assert set(times) == {"forward", "loss", "gradient", "update", "step", "products", "share"}
    assert all(math.isfinite(t) and t > 0 for t in times.values())
    lines = []
    phases.run_phases("W1", out=lines.append)
    assert lines[-1].startswith("W1 500x[2, 16, 8, 1] float64") and lines[-1].count("us") == 7
    assert lines[-1].split()[-1] == "-"  # no gather in a full-batch workload


def test_phases_of_a_mini_batch_step_include_the_gather():
    from fastbp import phases

    w5 = next(w for w in bench.WORKLOADS if w.key == "W5")
    small = replace(w5, full=bench.Size(512, 1, 1, 1), batch_size=64)
    times = phases.phase_times(small, reps=2, repeats=1)
    assert set(times) == {"forward", "loss", "gradient", "update", "step", "products", "share",
                          "gather"}
    assert all(math.isfinite(t) and t > 0 for t in times.values())


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo's workloads cut to a few epochs (same code path as the main job)."""
    from fastbp import demo

    monkeypatch.setattr(demo, "WORKLOADS", [(name, make, sizes, 5, lr)
                                            for name, make, sizes, _, lr in demo.WORKLOADS])
    monkeypatch.setattr(demo, "SETTLE_SECONDS", 0.0)
    return demo


def test_demo_trains_both_networks_in_both_modes_on_both_engines(tiny_demo, capsys):
    results = tiny_demo.run_demo(repeats=1)
    out = capsys.readouterr().out
    assert set(results) == {(name, mode) for name in ("circle", "spirals")
                            for mode in ("exact", "tutorial")}
    for runs in results.values():
        assert set(runs) == {"numba", "numpy"}
        np.testing.assert_allclose(runs["numba"].params, runs["numpy"].params, atol=1e-12)
        assert len(runs["numba"].history["loss"]) == 5
    assert out.count(" numba ") == 4 and out.count(" numpy ") == 4
    assert "compile + first calls (numba)" in out


def test_demo_plot_is_written(tiny_demo, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    tiny_demo.run_demo(repeats=1, plot=str(path))
    assert path.stat().st_size > 10_000
    assert f"plot saved to {path}" in capsys.readouterr().out
