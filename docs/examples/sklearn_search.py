"""A grid search over fastbp's MLPClassifier in a scikit-learn pipeline, then a model file."""
import tempfile
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp.sklearn import MLPClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                    max_iter=500, random_state=0),
                      {"alpha": [1e-4, 1e-2], "solver": ["adam", "lbfgs"]}, cv=3, n_jobs=2)
search.fit(scaler.transform(X_train), y_train)
best = search.best_estimator_
print("best", search.best_params_, f"cv accuracy {search.best_score_:.3f}")
print(f"held-out accuracy {best.score(scaler.transform(X_test), y_test):.3f}")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "cancer.npz"
    best.save(path)                                  # no pickle: an .npz archive
    again = MLPClassifier.load(path)
    same = (again.predict_proba(scaler.transform(X_test))
            == best.predict_proba(scaler.transform(X_test))).all()
    print("loaded model predicts the same:", bool(same))

pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                                   random_state=0))
print(f"pipeline accuracy {pipe.fit(X_train, y_train).score(X_test, y_test):.3f}")
