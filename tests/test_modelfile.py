"""Model files: save -> load gives the same network bit for bit (in a fresh process too), and a
damaged, foreign or hostile file is refused with a ValueError, executing nothing."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import fastbp
from conftest import parameters_of
from fastbp import modelfile

HEADS = {"sigmoid": lambda r, n: (r.random((n, 2)) < 0.5).astype(float),
         "softmax": lambda r, n: r.integers(0, 3, n),
         "identity": lambda r, n: r.standard_normal((n, 2))}


def trained(head="softmax", dtype=np.float64, optimizer="adam", momentum=0.0, epochs=5):
    random = np.random.default_rng(0)
    X = random.standard_normal((60, 4)).astype(dtype)
    y = HEADS[head](random, 60)
    K = 3 if head == "softmax" else 2
    nn = fastbp.NeuralNetwork([4, 8, 6, K], activation=["tanh", "relu"], output=head, dtype=dtype,
                              seed=0)
    if epochs:
        nn.fit(X, y, epochs=epochs, lr=0.01, optimizer=optimizer, momentum=momentum, batch_size=16,
               seed=0)
    return nn, X, y


@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer, momentum", [("adam", 0.0), ("sgd", 0.9), ("sgd", 0.0)])
def test_round_trip_keeps_everything(tmp_path, head, dtype, optimizer, momentum):
    nn, X, y = trained(head, dtype, optimizer, momentum)
    path = tmp_path / "model.npz"
    nn.save(path)
    loaded = fastbp.NeuralNetwork.load(path)
    assert (loaded.layer_sizes, loaded.activation, loaded.output, loaded.dtype) == \
        (nn.layer_sizes, nn.activation, nn.output, nn.dtype)
    np.testing.assert_array_equal(parameters_of(loaded), parameters_of(nn))
    np.testing.assert_array_equal(loaded.forward(X, record=False), nn.forward(X, record=False))
    # the optimizer state came along: training on from both gives the same bits
    for network in (nn, loaded):
        network.fit(X, y, epochs=3, lr=0.01, optimizer=optimizer, momentum=momentum,
                    batch_size=16, seed=1)
    np.testing.assert_array_equal(parameters_of(loaded), parameters_of(nn))


def test_untrained_and_tutorial_networks(tmp_path):
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], tutorial_compat=True, seed=3, backend="numpy")
    nn.save(tmp_path / "t.npz")
    loaded = fastbp.NeuralNetwork.load(tmp_path / "t.npz", backend="numba")
    assert loaded.tutorial_compat and loaded.backend == "numba"
    np.testing.assert_array_equal(parameters_of(loaded), parameters_of(nn))


def test_predictions_identical_in_a_fresh_process(tmp_path):
    nn, X, _ = trained("softmax", epochs=20)
    nn.save(tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import numpy as np, fastbp
        nn = fastbp.NeuralNetwork.load({str(tmp_path / "m.npz")!r})
        np.save({str(tmp_path / "p.npy")!r}, nn.predict_proba(np.load({str(tmp_path / "X.npy")!r})))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), nn.predict_proba(X))


def test_an_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    nn, _, _ = trained(epochs=0)
    path = tmp_path / "m.npz"
    nn.save(path)
    before = path.read_bytes()

    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(modelfile.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nn.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


# -- damaged and hostile files ----------------------------------------------------------------

def write_npz(path, metadata=None, **arrays):
    """An archive as a hand-crafted file would be: metadata (a dict, JSON-encoded) and arrays."""
    if metadata is not None:
        arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays)


def saved_parts(tmp_path):
    nn, _, _ = trained("softmax", optimizer="adam")
    nn.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(str(arrays.pop("metadata"))), arrays


class Payload:
    """Unpickling this would create a file: the proof that nothing was executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_cases(tmp_path):
    metadata, arrays = saved_parts(tmp_path)
    good = (tmp_path / "good.npz").read_bytes()
    cases = {}

    def case(name, **changes):
        meta = json.loads(json.dumps(metadata))
        parts = dict(arrays)
        for key, value in changes.items():
            if key == "meta":
                value(meta)
            else:
                parts[key] = value
        write_npz(tmp_path / f"{name}.npz", meta, **{k: v for k, v in parts.items()
                                                     if v is not None})
        cases[name] = tmp_path / f"{name}.npz"

    for cut in (10, len(good) // 2, len(good) - 30):
        (tmp_path / f"truncated{cut}.npz").write_bytes(good[:cut])
        cases[f"truncated at {cut}"] = tmp_path / f"truncated{cut}.npz"
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0x10
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    cases["bit flipped"] = tmp_path / "flipped.npz"
    (tmp_path / "text.npz").write_text("not a model")
    cases["not an archive"] = tmp_path / "text.npz"
    np.save(tmp_path / "plain.npy", np.zeros(3))
    cases["a single .npy"] = tmp_path / "plain.npy"
    case("wrong_shape", params=arrays["params"][:-1])
    case("wrong_dtype", params=arrays["params"].astype(np.float32))
    case("nan", params=np.where(np.arange(arrays["params"].size) == 3, np.nan, arrays["params"]))
    case("infinite_moment", m=np.full_like(arrays["m"], np.inf))
    case("missing_state", v=None)
    case("extra_array", extra=np.zeros(2))
    case("unknown_version", meta=lambda m: m.update(format_version=99))
    case("foreign_format", meta=lambda m: m.update(format="keras"))
    case("bad_sizes", meta=lambda m: m.update(layer_sizes=[4, -8, 3]))
    case("huge_sizes", meta=lambda m: m.update(layer_sizes=[4, 10**9, 3]))
    case("bad_activation", meta=lambda m: m.update(activation=["tanh", "swish"]))
    case("bad_output", meta=lambda m: m.update(output="softmax2"))
    case("bad_dtype", meta=lambda m: m.update(dtype="float16"))
    case("bad_optimizer", meta=lambda m: m["optimizer"].update(name="rmsprop"))
    case("string_steps", meta=lambda m: m["optimizer"].update(steps="7"))
    case("object_array", params=np.array([Payload(tmp_path / "EXECUTED")], dtype=object))
    pickled = tmp_path / "pickled_metadata.npz"
    np.savez(pickled, metadata=np.array([Payload(tmp_path / "EXECUTED")], dtype=object),
             **arrays)
    cases["pickled metadata"] = pickled
    (tmp_path / "not_json.npz").write_bytes(b"")
    np.savez(tmp_path / "not_json.npz", metadata=np.array("{not json"), **arrays)
    cases["metadata not JSON"] = tmp_path / "not_json.npz"
    np.savez(tmp_path / "nan_json.npz", metadata=np.array('{"format": NaN}'), **arrays)
    cases["NaN in the metadata"] = tmp_path / "nan_json.npz"
    np.savez(tmp_path / "no_meta.npz", **arrays)
    cases["no metadata"] = tmp_path / "no_meta.npz"
    import io

    header = io.BytesIO()  # a params member whose header claims 10**12 values
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    with zipfile.ZipFile(tmp_path / "huge_header.npz", "w") as archive:
        archive.writestr("metadata.npy", _npy(np.array(json.dumps(metadata))))
        archive.writestr("params.npy", header.getvalue() + b"\0" * 64)
        for name in ("velocity", "m", "v"):
            archive.writestr(f"{name}.npy", _npy(arrays[name]))
    cases["a header claiming 10**12 values"] = tmp_path / "huge_header.npz"
    with zipfile.ZipFile(tmp_path / "pickle_member.npz", "w") as archive:
        archive.writestr("metadata.npy", pickle.dumps(Payload(tmp_path / "EXECUTED")))
    cases["a pickle as a member"] = tmp_path / "pickle_member.npz"
    # One damaged byte in a member's central-directory entry: a compression method zipfile does
    # not know (NotImplementedError inside zipfile) or the "encrypted" flag (RuntimeError).
    good = tmp_path / "good.npz"
    fastbp.NeuralNetwork([4, 8, 3], seed=0).save(good)
    raw = good.read_bytes()
    entry = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 4)  # a member after the first
    for label, offset, value in (("an unknown compression method", 10, 99),
                                 ("the encrypted flag", 8, 1)):
        damaged = bytearray(raw)
        damaged[entry + offset] = value
        path = tmp_path / f"{label.replace(' ', '_')}.npz"
        path.write_bytes(bytes(damaged))
        cases[f"a member with {label}"] = path
    return cases


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_damaged_and_hostile_files_raise_value_error_and_execute_nothing(tmp_path):
    cases = hostile_cases(tmp_path)
    assert len(cases) > 25
    for name, path in cases.items():
        with pytest.raises(ValueError) as error:
            fastbp.NeuralNetwork.load(path)
        assert str(path.name) in str(error.value) or "model file" in str(error.value), name
    assert not (tmp_path / "EXECUTED").exists()


def test_save_refuses_object_arrays(tmp_path):
    state = modelfile.ModelState({"a": 1}, {"labels": np.array(["x", None], dtype=object)})
    with pytest.raises(ValueError, match="numbers and text"):
        modelfile.save(tmp_path / "x.npz", state)
    assert os.listdir(tmp_path) == []


# -- estimators -----------------------------------------------------------------------------------

def test_estimators_round_trip_in_a_fresh_process(tmp_path):
    pytest.importorskip("sklearn")
    import warnings

    from fastbp.sklearn import MLPClassifier, MLPRegressor

    random = np.random.default_rng(1)
    X = random.standard_normal((120, 5))
    labels = np.array(["cat", "dog", "emu"], dtype=object)[random.integers(0, 3, 120)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0,
                                   early_stopping=True).fit(X, labels)
        regressor = MLPRegressor(hidden_layer_sizes=(8, 4), solver="lbfgs", max_iter=30,
                                 dtype="float32", random_state=0).fit(X, X[:, 0] - X[:, 1])
    classifier.save(tmp_path / "c.npz")
    regressor.save(tmp_path / "r.npz")
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import numpy as np
        from fastbp.sklearn import MLPClassifier, MLPRegressor
        X = np.load({str(tmp_path / "X.npy")!r})
        c = MLPClassifier.load({str(tmp_path / "c.npz")!r})
        r = MLPRegressor.load({str(tmp_path / "r.npz")!r})
        np.save({str(tmp_path / "p.npy")!r}, c.predict_proba(X))
        np.save({str(tmp_path / "q.npy")!r}, r.predict(X))
        np.save({str(tmp_path / "l.npy")!r}, c.predict(X))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), classifier.predict_proba(X))
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy"), regressor.predict(X))
    assert list(np.load(tmp_path / "l.npy")) == list(classifier.predict(X))
    loaded = MLPClassifier.load(tmp_path / "c.npz")
    assert loaded.get_params() == classifier.get_params()
    assert loaded.validation_scores_ == classifier.validation_scores_
    assert loaded.loss_curve_ == classifier.loss_curve_ and loaded.n_iter_ == classifier.n_iter_
    with pytest.raises(ValueError, match="not a MLPRegressor"):
        MLPRegressor.load(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="estimator"):
        MLPClassifier.load(_network_only(tmp_path))


def _network_only(tmp_path):
    nn, _, _ = trained(epochs=0)
    nn.save(tmp_path / "n.npz")
    return tmp_path / "n.npz"
