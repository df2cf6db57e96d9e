"""Write the decision-curve reference that tests/test_decision_curves.py checks our net benefit against.

dcurves (the Python port of the reference implementation of decision-curve analysis, Vickers et al.)
is not a dependency: it pins pandas < 3 through lifelines. So its answer on one fixed input is kept
here as data, and this script says how it was made:

    pip install --no-deps --target /tmp/dcpkgs dcurves==1.1.5 lifelines==0.30.3 autograd autograd-gamma
    PYTHONPATH=/tmp/dcpkgs:. python tests/data/make_dcurves_reference.py

Input: the built-in Cleveland patients with 5-fold cross-validated logistic-regression risks (the
outcome and the risks are stored, so the check does not depend on scikit-learn's version).
Output: dcurves_reference.csv with, per threshold 0.01 … 0.99, dcurves' net benefit of the model,
of treating all and of treating none, and the inputs in dcurves_input.csv.
"""

from __future__ import annotations

from pathlib import Path

import dcurves
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES

HERE = Path(__file__).resolve().parent
THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def main() -> None:
    frame = load_dataset()
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(model, frame[list(FEATURE_NAMES)], frame["target"], cv=folds, method="predict_proba")
    inputs = pd.DataFrame({"target": frame["target"].to_numpy(), "logistic": proba[:, 1].round(12)})
    inputs.to_csv(HERE / "dcurves_input.csv", index=False)
    result = dcurves.dca(data=inputs, outcome="target", modelnames=["logistic"], thresholds=THRESHOLDS)
    table = result.pivot(index="threshold", columns="model", values="net_benefit").reset_index()
    table = table.rename(columns={"all": "treat_all", "none": "treat_none"})
    table[["threshold", "logistic", "treat_all", "treat_none"]].to_csv(HERE / "dcurves_reference.csv", index=False)
    print(f"dcurves {dcurves.__version__ if hasattr(dcurves, '__version__') else '1.1.5'}: {len(table)} thresholds")


if __name__ == "__main__":
    main()
