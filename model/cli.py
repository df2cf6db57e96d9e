"""Command line: train and save a network, or compare it with the classical models.

    python -m model train [--config FILE] --out DIR [--data cleveland|FILE.csv] [--cv] [--moment before-imaging]
    python -m model evaluate [--config FILE] [--data ...] [--folds 5] [--repeats 10] [--moment ...]
    python -m model search --trials N --out best.json [--data ...] [--objective roc_auc|brier] [--nested]
                           [--backend local|dask --scheduler tcp://host:8786] [--minutes M]

--moment chooses the features the models may use: "with-imaging" (all 13, the default) or
"before-imaging" (leaves out the fluoroscopy and thallium results, for a pre-test estimate).

Bad input (missing or invalid config file, unreadable CSV, impossible fold count, an
output path that is not a bundle) prints one clear message and exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from model.data.schema import MOMENTS_OF_CARE, TARGET, WITH_IMAGING, moment_of_care
from model.nn.config import ANNConfig, ConfigError

logger = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
ANN_NAME = "ANN"


class InputError(Exception):
    """Something the user gave cannot be used; the message says what and why."""


# ---------------------------------------------------------------- inputs
def read_config(path: str | None) -> ANNConfig:
    """The ANNConfig in a JSON file, or presets.RECOMMENDED when no file is given."""
    if path is None:
        from model.nn.presets import RECOMMENDED

        return RECOMMENDED
    file = Path(path)
    if not file.is_file():
        raise InputError(f"config file {file} not found")
    if file.stat().st_size > 1_000_000:
        raise InputError(f"config file {file} is larger than 1 MB; a network configuration is a short JSON file")
    try:
        return ANNConfig.from_json(file.read_bytes())
    except ConfigError as exc:
        raise InputError(f"config file {file}: {exc}") from None


def read_data(spec: str, coding: str | None = None) -> tuple[pd.DataFrame, str]:
    """(frame with the 13 features and the target, description) for a built-in name or a CSV path.

    `coding` ("uci", "kaggle", "tensorflow") reads a CSV whose values fit more than one coding."""
    from model.data.datasets import BUILT_IN, load_dataset

    if spec in BUILT_IN:
        return load_dataset(spec), f"built-in {spec}"
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"--data must be one of {', '.join(BUILT_IN)} or a CSV file; {spec!r} is neither")
    from model.data.csv_import import read_user_csv

    result = read_user_csv(path, coding=coding)
    if result.report.needs_coding:
        options = " or ".join(f"--coding {c}" for c in result.report.candidate_codings)
        raise InputError(
            f"{path} fits more than one coding and its values do not say which: run again with "
            f"{options}.\n{result.report.as_text()}"
        )
    if result.frame is None or not result.report.ok:
        raise InputError(f"{path} cannot be used:\n{result.report.as_text()}")
    if TARGET.name not in result.frame:
        raise InputError(f"{path} has no '{TARGET.name}' column: training needs the outcome of every patient")
    for warning in result.report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return result.frame, str(path)


# ---------------------------------------------------------------- progress
def epoch_progress_callback(epochs: int):
    """A training Callback that advances a tqdm bar once per epoch."""
    from tqdm.auto import tqdm

    from model.nn.training import Callback

    class EpochBar(Callback):
        def __init__(self):
            self.bar = tqdm(total=epochs, desc="training", unit="epoch")

        def on_epoch_end(self, event) -> None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.train_loss:.4f}")

        def on_train_end(self, history) -> None:
            self.bar.close()

    return EpochBar()


def cross_validate_with_bar(models: dict, X, y, folds: int, repeats: int, seed: int):
    """Cross-validation with a progress bar; rows of one patient (identical features) share a fold."""
    from tqdm.auto import tqdm

    from model.data.splits import patient_groups
    from model.evaluation.cross_validation import cross_validate_models, make_splits

    patients = patient_groups(X, y)
    # ValueError with a plain message on bad counts
    splits = make_splits(y, folds, repeats, seed, groups=patients.ids)
    with tqdm(total=len(models) * len(splits), desc="cross-validation", unit="fold") as bar:

        def progress(done: int, total: int, message: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(message)

        result = cross_validate_models(
            models, X, y, n_splits=folds, n_repeats=repeats, seed=seed, progress=progress, splits=splits
        )
    note = result.repeats_note()
    if note:
        print(note)
    return result


def cv_method(result) -> str:
    """How the folds were made, for the bundle's metadata."""
    if result.n_repeated_rows:
        return (
            f"repeated stratified group k-fold ({result.n_repeated_rows} repeated rows; "
            "identical patients kept in one fold)"
        )
    return "repeated stratified k-fold"


def describe(config: ANNConfig) -> str:
    from model.runtime.device import describe_device

    layers = "-".join(str(layer.units) for layer in config.hidden_layers) or "none (perceptron)"
    return (
        f"hidden layers {layers}, {config.optimizer}, {config.epochs} epochs, device {describe_device(config.device)}"
    )


# ---------------------------------------------------------------- commands
def read_inputs(args) -> tuple[ANNConfig, pd.DataFrame, str]:
    """(config with any --device override, data frame, description of the data) from the options."""
    config = read_config(args.config)
    if args.device:
        config = config.replace(device=args.device).validate()
    frame, source = read_data(args.data, args.coding)
    return config, frame, source


def train_command(args) -> int:
    config, frame, source = read_inputs(args)  # first: bad input is told before torch and scikit-learn load
    from model.data.preprocessing import features_and_target
    from model.evaluation.pipelines import pipeline_from_config
    from model.evaluation.validation_summary import SUMMARY_KEY, validation_summary
    from model.serving.bundle import save_bundle

    moment = moment_of_care(args.moment)
    X, y = features_and_target(frame)
    print(
        f"Training on {source}: {len(frame)} patients, {int(y.sum())} with disease; {describe(config)}; "
        f"{moment.label.lower()} ({len(moment.features)} features)"
    )

    metadata = {
        "name": args.name,
        "trained_on": f"{source}: {len(frame)} patients ({y.mean():.0%} with disease)",
        "data": {"name": source, "n_rows": int(len(frame)), "prevalence": float(y.mean())},
    }
    if args.cv:
        result = cross_validate_with_bar(
            {ANN_NAME: pipeline_from_config(config, moment.features)}, X, y, args.folds, args.repeats, args.seed
        )
        metadata["metrics"] = result.metric_summary(ANN_NAME)
        metadata["cv"] = {
            "method": cv_method(result),
            "n_splits": args.folds,
            "n_repeats": args.repeats,
            "seed": args.seed,
            "interval": "95% Nadeau-Bengio corrected t interval",
        }
        # The decision curve and subgroup figures of the model card, from the same out-of-fold predictions.
        metadata[SUMMARY_KEY] = validation_summary(result, ANN_NAME, frame)
        print(result.table().to_string())

    pipeline = pipeline_from_config(config, moment.features, callbacks=[epoch_progress_callback(config.epochs)])
    start = time.perf_counter()
    pipeline.fit(X, y)
    ann = pipeline[-1]
    ann.set_params(callbacks=None)  # the progress bar is not part of the model
    history = ann.history_
    metadata["training"] = {
        "seconds": round(time.perf_counter() - start, 3),
        "epochs_run": len(history),
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "device": str(ann.device_),
    }
    out = save_bundle(pipeline, args.out, metadata=metadata, training_data=frame)
    print(f"Saved the fitted model to {out}")
    return 0


def evaluate_command(args) -> int:
    config, frame, source = read_inputs(args)  # first: bad input is told before torch and scikit-learn load
    from model.data.preprocessing import features_and_target
    from model.evaluation.classical import classical_models
    from model.evaluation.pipelines import pipeline_from_config

    moment = moment_of_care(args.moment)
    X, y = features_and_target(frame)
    print(
        f"{args.folds}x{args.repeats} repeated stratified cross-validation on {source} "
        f"({len(frame)} patients; {moment.label.lower()}: {len(moment.features)} features); ANN: {describe(config)}"
    )
    models = {
        ANN_NAME: pipeline_from_config(config, moment.features),
        **classical_models(seed=args.seed, features=moment.features),
    }
    result = cross_validate_with_bar(models, X, y, args.folds, args.repeats, args.seed)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(result.table().to_string())
    print("Intervals: 95% corrected t (Nadeau-Bengio); 'vs best': corrected resampled t-test on ROC AUC.")
    return 0


def search_command(args) -> int:
    from tqdm.auto import tqdm

    from model.data.preprocessing import features_and_target
    from model.evaluation.search import OBJECTIVE_LABELS, search_ann
    from model.runtime.backends import backend_from_choice

    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"--out must be a file in an existing folder; {out} is not")
    config, frame, source = read_inputs(args)
    X, y = features_and_target(frame)
    with backend_from_choice(args.backend, args.scheduler) as backend:
        print(
            f"Searching {args.trials} configurations on {source} ({len(frame)} patients) by "
            f"{OBJECTIVE_LABELS[args.objective]}, {args.folds}-fold CV x {args.repeats}"
            + (f", nested over {args.outer_folds} outer folds" if args.nested else "")
            + f"; running on {backend.describe()}"
        )
        total = args.trials * (1 + (args.outer_folds if args.nested else 0))
        with tqdm(total=total, desc="search", unit="trial") as bar:

            def on_event(event) -> None:
                bar.update(event.trials_done - bar.n)
                if event.best_value is not None:
                    bar.set_postfix_str(f"{event.stage}, best {event.best_value:.4f}")

            result = search_ann(
                X,
                y,
                n_trials=args.trials,
                objective=args.objective,
                backend=backend,
                n_splits=args.folds,
                n_repeats=args.repeats,
                seed=args.seed,
                base_config=config,
                wave_size=args.wave,
                timeout_minutes=args.minutes,
                nested=args.nested,
                outer_folds=args.outer_folds,
                on_event=on_event,
            )
    out.write_text(result.best_config.to_json() + "\n")
    print(result.summary())
    if result.importances:
        print("Parameter importance (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in result.importances.items()))
    print(f"Wrote the best configuration to {out} (python -m model train --config {out} --out DIR)")
    return 0


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub):
        sub.add_argument("--config", help="ANN configuration JSON (default: the recommended network)")
        sub.add_argument(
            "--data", default="cleveland", help="built-in data set name or a CSV file (default: cleveland)"
        )
        sub.add_argument(
            "--coding",
            choices=["uci", "kaggle", "tensorflow"],
            help="coding of a --data CSV whose values fit more than one (default: detect)",
        )
        sub.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="override the config's device")
        sub.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
        sub.add_argument("--repeats", type=int, default=10, help="cross-validation repeats (default 10; search: 1)")
        sub.add_argument("--seed", type=int, default=0, help="seed of the cross-validation splits (default 0)")
        sub.add_argument(
            "--moment",
            choices=[m.name for m in MOMENTS_OF_CARE],
            default=WITH_IMAGING,
            help="moment of care: the features the models may use (default with-imaging: all 13)",
        )

    train = commands.add_parser("train", help="fit a network on all the data and save it as a bundle")
    common(train)
    train.add_argument("--out", required=True, help="bundle directory to write")
    train.add_argument("--cv", action="store_true", help="also cross-validate and store the metrics")
    train.add_argument("--name", default="Recommended ANN", help="model name stored in the metadata")
    train.set_defaults(run=train_command)

    evaluate = commands.add_parser("evaluate", help="cross-validate the ANN against every classical model")
    common(evaluate)
    evaluate.set_defaults(run=evaluate_command)

    search = commands.add_parser("search", help="search network settings (Optuna), locally or on a Dask cluster")
    common(search)
    search.set_defaults(run=search_command, repeats=1)
    search.add_argument("--trials", type=int, required=True, help="configurations to try")
    search.add_argument("--out", required=True, help="JSON file for the best configuration")
    search.add_argument("--objective", choices=["roc_auc", "brier"], default="roc_auc", help="default roc_auc")
    search.add_argument("--nested", action="store_true", help="also estimate the winner by nested CV")
    search.add_argument("--outer-folds", type=int, default=5, help="outer folds of --nested (default 5)")
    search.add_argument("--minutes", type=float, help="time budget; the search stops after it")
    search.add_argument("--wave", type=int, default=4, help="trials run together (default 4; see search.py)")
    search.add_argument("--backend", choices=["local", "dask"], default="local", help="where trials run")
    search.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    return parser


# Errors that mean "the input cannot be used", in modules imported only by the commands that need them (torch,
# scikit-learn): an exception of one of these types implies its module is loaded, so none is imported here.
LAZY_INPUT_ERRORS = (
    ("model.runtime.backends", "BackendError"),
    ("model.runtime.device", "DeviceUnavailableError"),
    ("model.serving.bundle", "BundleError"),
)


def is_bad_input(exc: Exception) -> bool:
    if isinstance(exc, InputError | ConfigError | ValueError):
        return True
    for module_name, error_name in LAZY_INPUT_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, error_name)):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as exc:
        if not is_bad_input(exc):
            raise
        # The message is the user's answer; the traceback goes to the log for whoever configures one.
        logger.info("command refused its input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
