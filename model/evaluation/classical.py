"""Classical baselines, each behind the same preprocessing as the ANN.

Settings are sensible library defaults with light regularisation where the
default gives unusable probabilities (a full-depth tree predicts only 0 or 1;
5 neighbours give probabilities in steps of 0.2). They are fixed, not tuned on
the data, so comparing them with the ANN on the same folds is fair.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from model.data.preprocessing import make_preprocessor
from model.data.schema import FEATURE_NAMES


def with_preprocessing(estimator, step_name: str = "classifier", features: Sequence[str] = FEATURE_NAMES) -> Pipeline:
    """The shared preprocessing (learning from `features` only) followed by `estimator`."""
    return Pipeline([("preprocess", make_preprocessor(features)), (step_name, estimator)])


def classical_estimators(seed: int = 0) -> dict:
    """The bare classifiers (no preprocessing), by display name."""
    return {
        "Logistic regression": LogisticRegression(max_iter=2000),
        "Random forest": RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1),
        "Gradient boosting": GradientBoostingClassifier(
            n_estimators=100, max_depth=2, learning_rate=0.1, random_state=seed
        ),
        # Platt scaling fitted on internal cross-validated decision values
        # (what SVC(probability=True) did; that flag is deprecated in scikit-learn 1.9).
        "SVM": CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), method="sigmoid", ensemble=False),
        "k-nearest neighbours": KNeighborsClassifier(n_neighbors=15),
        "Naive Bayes": GaussianNB(),
        "Decision tree": DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seed),
    }


def classical_models(seed: int = 0, features: Sequence[str] = FEATURE_NAMES) -> dict[str, Pipeline]:
    """Unfitted pipelines (preprocessing + classifier) by display name, seeded; `features`: the ones they may
    learn from (e.g. a moment of care's)."""
    return {name: with_preprocessing(est, features=features) for name, est in classical_estimators(seed).items()}
