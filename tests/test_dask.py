"""Scaling out on Dask: a scikit-learn grid search over fastbp's estimators on a real local
dask.distributed cluster (a scheduler and two worker processes on loopback, started and shut down
here) through joblib's dask backend, against the same search run serially; an ensemble of
networks trained as Dask futures, each equal to its fit here.  (docs/scaling.md)"""
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")

import joblib  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastbp  # noqa: E402
from conftest import parameters_of  # noqa: E402
from fastbp.sklearn import MLPClassifier  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        client.run(fastbp.set_num_threads, 1)  # one core per worker: no oversubscription
        yield client


def search():
    return GridSearchCV(MLPClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=0),
                        {"alpha": [1e-4, 1e-1], "solver": ["adam", "lbfgs"]}, cv=3, n_jobs=-1)


def test_grid_search_on_a_dask_cluster_equals_the_serial_search(client):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as tasks:
            remote = search().fit(X, y)
        serial = search().set_params(n_jobs=1).fit(X, y)
    assert remote.best_params_ == serial.best_params_
    assert remote.best_score_ == serial.best_score_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    # the fits really ran on the cluster, on both worker processes
    assert len({task["worker"] for task in tasks.data}) == 2


def train(seed):
    X, y = fastbp.datasets.make_spirals()
    nn = fastbp.NeuralNetwork([2, 32, 16, 1], seed=seed)
    nn.fit(X, y, epochs=200, lr=0.01, optimizer="adam")
    return nn


def test_an_ensemble_trained_as_dask_futures(client):
    futures = client.map(train, range(4))
    networks = client.gather(futures)
    X, _ = fastbp.datasets.make_spirals()
    for seed, nn in enumerate(networks):
        np.testing.assert_array_equal(parameters_of(nn), parameters_of(train(seed)))
    votes = np.mean([nn.predict_proba(X)[:, 1] for nn in networks], axis=0)
    assert votes.shape == (len(X),)
