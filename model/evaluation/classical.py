"""Classical baselines, each behind the same preprocessing as the ANN.

Settings are sensible library defaults with light regularisation where the
default gives unusable probabilities (a full-depth tree predicts only 0 or 1;
5 neighbours give probabilities in steps of 0.2). They are fixed, not tuned on
the data, so comparing them with the ANN on the same folds is fair.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from model.data.preprocessing import make_preprocessor
from model.data.schema import FEATURE_NAMES

logger = logging.getLogger(__name__)

# An RBF-kernel SVM costs about n² in time and memory: ~4 s (calibration included) at 10,000 training rows on a
# 2-core machine, more than 6 minutes for one fit at 100,000. Beyond this many rows it learns from a stratified
# random sample of them, and the comparison says so. (A Nystroem kernel approximation with a linear SVM was
# measured slower than the exact kernel at 16,000 rows and below.)
SVM_MAX_TRAINING_ROWS = 10_000


class RBFSupportVectorMachine(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM with Platt-scaled probabilities, learning from at most `max_training_rows` rows.

    Platt scaling is fitted on internal cross-validated decision values (what SVC(probability=True) did; that
    flag is deprecated in scikit-learn 1.9). With more rows than `max_training_rows` it learns from a stratified
    random sample of that many (seeded by `random_state`); the fitted `rows_used_` and `rows_given_` say so, and
    a warning is logged.
    """

    def __init__(self, max_training_rows: int = SVM_MAX_TRAINING_ROWS, random_state: int | None = None):
        self.max_training_rows = max_training_rows
        self.random_state = random_state

    def fit(self, X, y):
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        self.rows_given_ = len(X)
        if len(X) > self.max_training_rows:
            X, _, y, _ = train_test_split(
                X, y, train_size=self.max_training_rows, stratify=y, random_state=self.random_state
            )
            logger.warning(
                "SVM: %d training rows are more than %d; it learns from a stratified random sample of %d",
                self.rows_given_,
                self.max_training_rows,
                len(X),
            )
        self.rows_used_ = len(X)
        svm = SVC(kernel="rbf", random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(svm, method="sigmoid", ensemble=False).fit(X, y)
        self.classes_ = self.calibrated_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.calibrated_.predict(X)

    @property
    def support_vectors_(self) -> np.ndarray:
        """The fitted SVC's support vectors (what a reader would have to inspect)."""
        return self.calibrated_.calibrated_classifiers_[0].estimator.support_vectors_


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
        "SVM": RBFSupportVectorMachine(SVM_MAX_TRAINING_ROWS, random_state=seed),
        "k-nearest neighbours": KNeighborsClassifier(n_neighbors=15),
        "Naive Bayes": GaussianNB(),
        "Decision tree": DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seed),
    }


def classical_models(seed: int = 0, features: Sequence[str] = FEATURE_NAMES) -> dict[str, Pipeline]:
    """Unfitted pipelines (preprocessing + classifier) by display name, seeded; `features`: the ones they may
    learn from (e.g. a moment of care's)."""
    return {name: with_preprocessing(est, features=features) for name, est in classical_estimators(seed).items()}
