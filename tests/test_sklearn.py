"""fastbp.sklearn: scikit-learn's estimator checks, and the estimators used as a scikit-learn user
uses them -- Pipeline, GridSearchCV in worker processes, cross_val_score, clone, labels of any
type, pandas, partial_fit, warm_start -- and trained with the steps scikit-learn's parameters say."""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastbp  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor, fit_keywords, invscaling_rates  # noqa: E402

ESTIMATORS = [MLPClassifier(), MLPRegressor(), MLPClassifier(solver="lbfgs"),
              MLPRegressor(solver="lbfgs", dtype="float32"),
              MLPClassifier(solver="sgd", dtype="float32"), MLPRegressor(solver="sgd", batch_size=16)]


def expected_failures(estimator):
    """Checks an estimator is known to fail, and why (parametrize_with_checks marks them xfail)."""
    if isinstance(estimator, MLPClassifier) and estimator.solver == "lbfgs":
        return {"check_classifiers_multilabel_output_format_predict_proba":
                "L-BFGS fits the check's 25 samples until some sigmoid outputs round to exactly "
                "1.0 in float64; the check wants probabilities strictly below 1"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_passes_scikit_learns_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    return scaled(load_breast_cancer)


def quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def test_pipeline_grid_search_in_worker_processes_and_cross_validation(cancer):
    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=60,
                                                         random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                               "mlpclassifier__solver": ["adam", "lbfgs"]}, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X_train, y_train)
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__solver"}
    assert grid.score(X_test, y_test) > 0.9
    # the same search serially gives the same scores: the fits are seeded and deterministic
    serial = clone(grid).set_params(n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial.fit(X_train, y_train)
    np.testing.assert_array_equal(serial.cv_results_["mean_test_score"],
                                  grid.cv_results_["mean_test_score"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(MLPClassifier(hidden_layer_sizes=(16,), max_iter=50,
                                               random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_clone_and_pickle_keep_parameters_and_predictions(cancer):
    X, y = cancer
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=30, random_state=1,
                                    dtype="float32"), X, y)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "network_")
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    # a refit of the clone with the same random_state gives the same bits
    np.testing.assert_array_equal(quiet_fit(twin, X, y).predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("labels", [["no", "yes"], [3, 7], [False, True]])
def test_binary_labels_of_any_type(cancer, labels):
    X, y = cancer
    named = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                                    max_iter=100, random_state=0), X, named)
    assert list(model.classes_) == labels and model.out_activation_ == "logistic"
    assert model.network_.layer_sizes[-1] == 1
    predicted = model.predict(X)
    assert set(predicted) <= set(labels) and np.mean(predicted == named) > 0.95
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(np.asarray(labels)[proba.argmax(axis=1)], predicted)
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba))


def test_ten_classes_through_softmax():
    X, y = scaled(load_digits)
    names = np.array([f"digit {d}" for d in range(10)])[y]
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0), X,
                      names)
    assert model.out_activation_ == "softmax" and model.network_.layer_sizes == (64, 32, 10) \
        or list(model.network_.layer_sizes) == [64, 32, 10]
    assert model.score(X, names) > 0.97
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_multilabel_through_sigmoid_outputs():
    random = np.random.default_rng(0)
    X = random.standard_normal((300, 5))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5]).astype(int)
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0), X, Y)
    assert list(model.classes_) == [0, 1, 2] and model.out_activation_ == "logistic"
    assert model.predict(X).shape == (300, 3) and model.predict_proba(X).shape == (300, 3)
    assert model.score(X, Y) > 0.9  # subset accuracy


def test_pandas_feature_names(cancer):
    pd = pytest.importorskip("pandas")
    data = load_breast_cancer(as_frame=True)
    frame = (data.data - data.data.mean()) / data.data.std()
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0), frame,
                      data.target)
    assert list(model.feature_names_in_) == list(frame.columns) and model.n_features_in_ == 30
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(frame.to_numpy())
    assert isinstance(frame, pd.DataFrame)


def test_fitted_attributes(cancer):
    X, y = cancer
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500, random_state=0).fit(X, y)
    assert model.n_iter_ == len(model.loss_curve_) < 500  # stopped: tol over n_iter_no_change
    assert model.t_ == model.n_iter_ * len(X)
    assert model.loss_ == model.loss_curve_[-1] and model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert [w.shape for w in model.coefs_] == [(30, 8), (8, 1)]
    assert [b.shape for b in model.intercepts_] == [(8,), (1,)]
    assert model.n_layers_ == 3 and model.n_outputs_ == 1
    assert isinstance(model.network_, fastbp.NeuralNetwork)

    stopped = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500, early_stopping=True,
                            random_state=0).fit(X, y)
    assert len(stopped.validation_scores_) == stopped.n_iter_ < 500
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert stopped.best_loss_ is None


def test_the_convergence_warning_when_max_iter_is_reached(cancer):
    X, y = cancer
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)


def test_partial_fit_continues_one_epoch_at_a_time(cancer):
    X, y = cancer
    model = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y)
    model.partial_fit(X[:300], y[:300], classes=[0, 1])
    network = model.network_
    for _ in range(9):
        model.partial_fit(X, y)
    assert model.network_ is network and model.n_iter_ == 10 and len(model.loss_curve_) == 10
    assert model.t_ == 300 + 9 * len(X)
    assert model.loss_curve_[-1] < model.loss_curve_[1] and model.score(X, y) > 0.95
    with pytest.raises(ValueError, match="not in"):
        model.partial_fit(X, y + 2)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1])


def test_warm_start_continues_from_the_fitted_weights(cancer):
    X, y = cancer
    model = quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                                    random_state=0), X, y)
    first = [w.copy() for w in model.coefs_]
    network = model.network_
    quiet_fit(model, X, y)
    assert model.network_ is network and model.n_iter_ == 10 and len(model.loss_curve_) == 10
    assert not np.array_equal(first[0], model.coefs_[0])
    with pytest.raises(ValueError, match="same classes"):
        model.fit(X, np.where(y == 1, 2, y))


def test_regressor_scale_matches_scikit_learns_half_squared_error():
    """The regressor's loss_curve_ is scikit-learn's half squared error; its steps are
    scikit-learn's: SGD at half the rate on fastbp's (unhalved) loss, the penalty doubled."""
    X, y = scaled(load_diabetes)
    y = (y - y.mean()) / y.std()
    model = quiet_fit(MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0,
                                   alpha=0.01, batch_size=442, max_iter=20, tol=0,
                                   random_state=0), X, y)
    assert model.network_.loss(X, y) / 2 == pytest.approx(
        0.5 * np.mean((model.predict(X) - y) ** 2))
    # the same training written against NeuralNetwork directly
    keywords = fit_keywords(model.get_params(), len(X), 0.5)
    assert keywords["weight_decay"] == pytest.approx(0.01 / (442 * 0.5))
    assert keywords["batch_size"] is None  # one batch of all samples: the full-batch loop


def test_invscaling_rates_are_scikit_learns():
    rates = invscaling_rates(0.1, 0.5, samples_seen=0, n_samples=100, epochs=3)
    np.testing.assert_allclose(rates, [0.1, 0.1 / np.sqrt(101), 0.1 / np.sqrt(201)])


def test_scores_level_with_scikit_learn_on_real_data(cancer):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    for solver in ("adam", "lbfgs"):
        ours = quiet_fit(MLPClassifier(hidden_layer_sizes=(32,), solver=solver, random_state=0),
                         X_train, y_train).score(X_test, y_test)
        theirs = quiet_fit(SkMLP(hidden_layer_sizes=(32,), solver=solver, random_state=0),
                           X_train, y_train).score(X_test, y_test)
        assert ours >= theirs - 0.03, solver


BAD = [
    (MLPClassifier(learning_rate="adaptive"), "adaptive"),
    (MLPClassifier(activation="softplus"), "activation"),
    (MLPClassifier(solver="rmsprop"), "solver"),
    (MLPClassifier(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (MLPClassifier(batch_size=0), "batch_size"),
    (MLPClassifier(alpha=-1.0), "alpha"),
    (MLPClassifier(max_iter=0), "max_iter"),
    (MLPClassifier(dtype="float16"), "float"),
    (MLPClassifier(backend="gpu"), "backend"),
    (MLPRegressor(loss="poisson"), "poisson"),
]


@pytest.mark.parametrize("estimator, match", BAD, ids=[m for _, m in BAD])
def test_unsupported_parameters_raise_clear_errors_at_fit(cancer, estimator, match):
    X, y = cancer
    with pytest.raises((ValueError, TypeError), match=match):
        estimator.fit(X, y)
    assert not hasattr(estimator, "network_")


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_initial_weights_and_validation_split_are_scikit_learns(activation):
    """The same random_state gives scikit-learn's initial weights (and, with early stopping, its
    validation split): one SGD step at a vanishing rate leaves both at their start."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = scaled(load_digits)
    options = dict(hidden_layer_sizes=(10, 7), max_iter=1, random_state=3, solver="sgd",
                   learning_rate_init=1e-14, momentum=0.0, activation=activation,
                   early_stopping=True)
    ours = quiet_fit(MLPClassifier(**options), X, y)
    theirs = quiet_fit(SkMLP(**options), X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    if activation == "logistic":  # (an untrained ReLU network's near-ties make argmax fragile)
        # the validation split too: the same model's score on the same rows
        assert ours.validation_scores_[0] == pytest.approx(theirs.validation_scores_[0])


def test_fastbp_grid_search_matches_scikit_learns(cancer):
    """fastbp.sklearn.GridSearchCV trains several fits at once (threads, one worker each) and
    gives scikit-learn's GridSearchCV's scores and choice, bit for bit."""
    from sklearn.model_selection import GridSearchCV as SkGridSearchCV

    from fastbp.sklearn import GridSearchCV as FastGridSearchCV

    X, y = cancer
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=40,
                                                         random_state=0, workers=2))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-1], "mlpclassifier__solver": ["adam", "sgd"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkGridSearchCV(pipe, grid, cv=3).fit(X, y)
        ours = FastGridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert ours.best_params_ == theirs.best_params_ and ours.best_score_ == theirs.best_score_
    for key in ("mean_test_score", "std_test_score", "rank_test_score", "split0_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
    # the user's settings are untouched: the estimator searched and the best one kept
    assert pipe.get_params()["mlpclassifier__workers"] == 2
    assert ours.best_estimator_.get_params()["mlpclassifier__workers"] == 2


def test_workers_change_speed_not_bits(cancer):
    X, y = cancer
    fits = [quiet_fit(MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0,
                                    workers=w), X, y) for w in (None, 1, 2)]
    for model in fits[1:]:
        for a, b in zip(model.coefs_, fits[0].coefs_):
            np.testing.assert_array_equal(a, b)
    assert fits[1].network_.workers_used == [1]
    with pytest.raises(ValueError, match="workers"):
        MLPClassifier(workers=0).fit(X, y)
