"""Time one ANNClassifier fit against scikit-learn's MLPClassifier, side by side.

Same layers (32-16, ReLU), epochs (300, all of them: sklearn's early convergence check is
switched off), batch size (64), optimizer (Adam, lr 0.01), on the 303-row Cleveland data
preprocessed as the product does it (~20-25 columns), or a synthetic matrix of the same
shape when the data package is not there. The two fits alternate and each is repeated; the
median is reported, because this machine's two cores are shared.

Second part: 50 fits of the default ANN (5×10 repeated stratified CV) — goal ≤ 15 s.

    python benchmarks/bench_fit_vs_sklearn.py [--repeats 7] [--skip-cv] [--skip-plain]

Where the time went (a plain loop is the last row): torch.optim's per-step bookkeeping
(→ update rules on one flat parameter vector, model/nn/optimizers.py), the autograd engine
(→ one hand-written backprop, model.nn.engine.StackedMLP, tested equal to autograd), multi-threaded kernels on
tiny matrices (→ one thread for small problems), DataLoader (→ permute on the device, slice
views), sklearn AUC + .item() per metric (→ AUC in torch, one host transfer per epoch),
train()/eval() toggling each epoch (→ MLP.evaluate).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from model.nn.estimator import ANNClassifier

HIDDEN, EPOCHS, BATCH, LR = (32, 16), 300, 64, 0.01


def heart_matrix() -> tuple[np.ndarray, np.ndarray, str]:
    """The built-in data, preprocessed; else a synthetic stand-in of the same shape."""
    try:
        from model.data.datasets import load_dataset
        from model.data.preprocessing import make_preprocessor

        frame = load_dataset("cleveland")
        X = make_preprocessor().fit_transform(frame.drop(columns="target"))
        return np.asarray(X, dtype=np.float64), frame["target"].to_numpy(), "Cleveland, preprocessed"
    except ImportError:
        from sklearn.datasets import make_classification

        X, y = make_classification(303, 22, n_informative=8, random_state=0)
        return X, y, "synthetic 303x22 (model.datasets/preprocessing not available)"


def time_fit(make, X, y) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): the second is less disturbed by neighbours."""
    wall, cpu = time.perf_counter(), time.process_time()
    make().fit(X, y)
    return time.perf_counter() - wall, time.process_time() - cpu


class PlainTorchLoop:
    """Reference only: the textbook PyTorch loop (DataLoader, nn.Sequential, torch.optim.Adam,
    autograd, per-epoch sklearn AUC), the ~1.7x-slower starting point. Given one thread:
    with torch's default two threads on this shared machine it is 50-100x slower still."""

    def fit(self, X, y):
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(X, y)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, X, y):
        import torch
        from sklearn.metrics import roc_auc_score
        from torch.utils.data import DataLoader, TensorDataset

        torch.manual_seed(0)
        X_t = torch.tensor(X, dtype=torch.float32)
        y_t = torch.tensor(y, dtype=torch.float32)
        net = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], HIDDEN[0]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[1], 1),
        )
        optimizer = torch.optim.Adam(net.parameters(), lr=LR)
        loader = DataLoader(TensorDataset(X_t, y_t), batch_size=BATCH, shuffle=True)
        for _ in range(EPOCHS):
            net.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb).squeeze(1), yb)
                loss.backward()
                optimizer.step()
            net.eval()
            with torch.no_grad():
                roc_auc_score(y, net(X_t).squeeze(1).numpy())
        return self


def ours():
    return ANNClassifier(
        hidden_units=HIDDEN,
        activation="relu",
        optimizer="adam",
        learning_rate=LR,
        batch_size=BATCH,
        epochs=EPOCHS,
        device="cpu",
        seed=0,
    )


def sklearns():
    return MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        learning_rate_init=LR,
        batch_size=BATCH,
        max_iter=EPOCHS,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=EPOCHS + 1,
        random_state=0,
    )


def one_fit_table(X, y, repeats: int, with_plain: bool) -> None:
    contenders = {"ANNClassifier (ours)": ours, "MLPClassifier (sklearn)": sklearns}
    if with_plain:
        contenders["plain torch loop (ref.)"] = PlainTorchLoop
    for make in contenders.values():  # warm-up: first calls pay one-off initialisation
        time_fit(make, X, y)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, make in contenders.items():
            times[name].append(time_fit(make, X, y))
    print(f"One fit: hidden {HIDDEN}, {EPOCHS} epochs, batch {BATCH}, Adam lr {LR}; {repeats} repeats, interleaved")
    print(f"{'model':<26}{'median wall s':>14}{'min':>8}{'max':>8}{'median CPU s':>14}")
    medians = {}
    for name, pairs in times.items():
        wall, cpu = [p[0] for p in pairs], [p[1] for p in pairs]
        medians[name] = statistics.median(wall), statistics.median(cpu)
        print(f"{name:<26}{medians[name][0]:>14.3f}{min(wall):>8.3f}{max(wall):>8.3f}{medians[name][1]:>14.3f}")
    ours_t, sk_t = medians["ANNClassifier (ours)"], medians["MLPClassifier (sklearn)"]
    ratio = ours_t[0] / sk_t[0]
    print(
        f"ratio ours / sklearn = {ratio:.2f} wall, {ours_t[1] / sk_t[1]:.2f} CPU  "
        f"({'OK' if ratio <= 1.0 else 'SLOWER than sklearn'})"
    )
    if with_plain:
        plain = medians["plain torch loop (ref.)"]
        print(f"ratio plain torch loop / sklearn = {plain[0] / sk_t[0]:.2f} wall, {plain[1] / sk_t[1]:.2f} CPU")


def cv_time(X, y) -> None:
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate

    try:
        from model.nn.presets import RECOMMENDED

        model, label = ANNClassifier.from_config(RECOMMENDED.replace(device="cpu")), "model.nn.presets.RECOMMENDED"
    except ImportError:
        model, label = ANNClassifier(device="cpu"), "ANNClassifier() defaults"
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=0)
    start = time.perf_counter()
    result = cross_validate(model, X, y, cv=cv, scoring="roc_auc")
    seconds = time.perf_counter() - start
    print(
        f"\n5x10 CV of the default ANN ({label}): 50 fits in {seconds:.2f} s "
        f"({'OK' if seconds <= 15 else 'over'} the 15 s goal); mean fit {np.mean(result['fit_time']):.3f} s; "
        f"AUC {np.mean(result['test_score']):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="leave out the plain PyTorch reference loop")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y, source = heart_matrix()
    print(f"data: {source}, X {X.shape}")
    one_fit_table(X, y, args.repeats, with_plain=not args.skip_plain)
    if not args.skip_cv:
        cv_time(X, y)


if __name__ == "__main__":
    main()
