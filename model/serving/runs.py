"""A training run that can be watched while it learns: plain Python, no Streamlit.

`TrainingRun(frame, config).start()` trains in a background thread:
  1. a stratified train/validation split (config.validation_fraction, config.seed);
  2. preprocessing fitted on the training part only, then applied to both parts;
  3. ANNClassifier.fit with a recording Callback and a stop Event.
The recorder keeps every EpochEvent (thread-safe) and, every few epochs, a Snapshot of
the network: P(disease) over a 2-D PCA plane of the patients (the decision boundary) and
a sample of each layer's weights. Readers (a dashboard redrawing twice a second, a
notebook) call `events()` / `latest_snapshot` at whatever rate they like; the loop never
waits for them.

At the end (finished, stopped early, or cancelled with `stop()`) the run holds the fitted
Pipeline (preprocessing + network as it stands) and its metrics on the validation part.
With early stopping on, the loop holds out its own part of the training rows to decide when
to stop; the validation part is only monitored, so its metrics are never optimistic.
`start()` refuses (TrainingTooLargeError, a ValueError) a training whose rows × parameters
× epochs exceed limits.MAX_TRAINING_WORK. Each run holds one of the server's compute slots
(model.compute_slots, shared with the comparison page; limits.MAX_CONCURRENT_TRAININGS in
all) while it trains; `start()` raises ServerBusyError with a plain message when none
is free.
"""

from __future__ import annotations

import enum
import io
import logging
import math
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from model.data.preprocessing import output_feature_names
from model.data.projection import DEFAULT_RESOLUTION, BoundaryGrid, PatientProjection, boundary_grid, project_patients
from model.data.schema import FEATURE_NAMES, TARGET
from model.data.splits import PatientGroups, grouped_holdout, patient_groups
from model.evaluation.cross_validation import classification_metrics
from model.evaluation.pipelines import ANN_STEP, PREPROCESS_STEP, pipeline_from_config
from model.nn.config import ANNConfig
from model.nn.estimator import ANNClassifier
from model.nn.network import check_training_work, linear_layers
from model.nn.training import Callback, EpochEvent, History, TrainInfo
from model.runtime.device import describe_device, resolve_device
from model.serving.slot_threads import WatchedTraining

SNAPSHOT_EVERY = 5  # epochs between decision-boundary / weight snapshots
MAX_WEIGHTS_PER_LAYER = 4_000  # weight sample kept per layer for the histograms
MAX_PROJECTED_PATIENTS = 2_000  # points drawn on the boundary plot (a sample of big data sets)
MIN_PER_CLASS = 4  # patients of each outcome needed to split and still learn something

logger = logging.getLogger(__name__)


class TrainingDataError(ValueError):
    """The data set cannot be trained on; the message says why."""


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"  # running, but waiting at an epoch boundary (model.nn.control)
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.PENDING, RunStatus.PREPARING, RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class Snapshot:
    """The network as it stood after `epoch`."""

    epoch: int
    probability: np.ndarray  # P(disease) over the boundary grid, (len(ys), len(xs))
    weights: dict[str, np.ndarray]  # layer name -> sample of its weights (flattened)


def config_summary(config: ANNConfig) -> str:
    """One line: architecture, optimizer, batch, epochs (legend of overlaid runs)."""
    if config.is_perceptron:
        shape = "perceptron"
    else:
        shape = " → ".join(
            f"{layer.units} {layer.activation}" + (f" (drop {layer.dropout:g})" if layer.dropout else "")
            for layer in config.hidden_layers
        )
    batch = "full batch" if config.effective_batch_size is None else f"batch {config.effective_batch_size}"
    extras = []
    if config.weight_decay:
        extras.append(f"wd {config.weight_decay:g}")
    if config.early_stopping:
        extras.append(f"early stop {config.patience}")
    return ", ".join(
        [shape, f"{config.optimizer} lr {config.learning_rate:g}", batch, f"{config.epochs} epochs"] + extras
    )


def split_frame(frame: pd.DataFrame, validation_fraction: float, seed: int, keep_patients_together: bool = True):
    """(X_train, X_val, y_train, y_val): stratified on the outcome so both parts see both classes.

    Rows with identical features (one patient recorded more than once) stay on one side
    (model.data.splits.grouped_holdout); without such rows this is exactly train_test_split.
    """
    check_trainable(frame)
    X = frame[list(FEATURE_NAMES)]
    y = frame[TARGET.name].astype(int).to_numpy()
    patients = patient_groups(X, y)
    if not keep_patients_together or not patients.has_repeats:
        return train_test_split(X, y, test_size=validation_fraction, random_state=seed, stratify=y)
    train, validation = grouped_holdout(y, patients.ids, validation_fraction, seed)
    return X.iloc[train], X.iloc[validation], y[train], y[validation]


def repeats_note(patients: PatientGroups) -> str | None:
    """The Train page's sentence on repeated patients and the validation split (None without repeats)."""
    return patients.describe(
        "identical patients were kept on the same side of the training/validation split, "
        "so no validation patient was seen in training"
    )


def check_trainable(frame: pd.DataFrame) -> None:
    """Raise TrainingDataError (plain language) unless the frame can be split and trained on."""
    missing = [name for name in (*FEATURE_NAMES, TARGET.name) if name not in frame.columns]
    if missing:
        raise TrainingDataError(f"the data set lacks the column(s) {', '.join(missing)}")
    counts = frame[TARGET.name].value_counts()
    for outcome in (0, 1):
        if counts.get(outcome, 0) < MIN_PER_CLASS:
            raise TrainingDataError(
                f"the data set has {counts.get(outcome, 0)} patient(s) with outcome "
                f"'{TARGET.category_label(outcome)}'; training needs at least {MIN_PER_CLASS} of each outcome"
            )


class _Recorder(Callback):
    """Collects events for readers in other threads; snapshots the network every few epochs."""

    def __init__(self, run: TrainingRun):
        self.run = run

    def on_train_begin(self, info: TrainInfo) -> None:
        self.run._take_snapshot(0)  # the initial weights: what a paused or reset run shows first

    def on_epoch_end(self, event: EpochEvent) -> None:
        run = self.run
        run.record(event)
        # A paused epoch is looked at for a while: always drawn exactly.
        if event.epoch == 1 or event.epoch % run.snapshot_every == 0 or run.control.paused:
            run._take_snapshot(event.epoch)

    def on_train_end(self, history: History) -> None:
        if history.epochs:
            self.run._take_snapshot(history.epochs[-1].epoch)


class TrainingRun(WatchedTraining):
    """One training of one configuration on one data set, in a background thread."""

    thread_label = "training"

    def __init__(
        self,
        frame: pd.DataFrame,
        config: ANNConfig,
        name: str = "Run",
        dataset_name: str = "",
        snapshot_every: int = SNAPSHOT_EVERY,
        grid_resolution: int = DEFAULT_RESOLUTION,
        live: bool = True,
        paused: bool = False,
    ):
        self.config = config.validate()
        check_trainable(frame)
        self.frame = frame
        # Which rows are one patient: split_frame keeps them together; the page says how many there were.
        self.patients = patient_groups(frame[list(FEATURE_NAMES)], frame[TARGET.name])
        self.name = name
        self.dataset_name = dataset_name
        self.snapshot_every = max(1, int(snapshot_every))
        self.grid_resolution = grid_resolution
        self.live = live  # False: no recorder at all (headless baseline of the benchmark)
        self.device_label = describe_device(resolve_device(config.device))

        self.status = RunStatus.PENDING
        self.error: str | None = None
        self.stop_event = threading.Event()
        # Play, pause, one epoch at a time, a new learning rate while paused (model.nn.control).
        self._start_watching(paused)
        self.latest_snapshot: Snapshot | None = None
        self.projection: PatientProjection | None = None
        self.grid: BoundaryGrid | None = None
        self._grid_tensor: torch.Tensor | None = None
        self._classifier: ANNClassifier | None = None
        self.training_index: pd.Index | None = None  # rows of `frame` the model was fitted on
        self.validation_index: pd.Index | None = None  # held-out rows, in the order of validation_proba
        self._weight_samples: dict[str, np.ndarray] = {}
        # Results (set by the thread when training ends).
        self.pipeline: Pipeline | None = None
        self.history: History | None = None
        self.y_validation: np.ndarray | None = None
        self.validation_proba: np.ndarray | None = None
        self.metrics: dict[str, float] = {}

    # ---- control ------------------------------------------------------------------
    def _check_work(self) -> None:
        n_validation = math.ceil(self.config.validation_fraction * len(self.frame))  # as train_test_split
        check_training_work(self.config, len(self.frame) - n_validation, len(output_feature_names()))

    def stop(self) -> None:
        """Ask the loop to stop at the next batch boundary (or where it waits, paused); the partial model is kept."""
        self.stop_event.set()
        self.control.stop()

    # ---- reading (any thread) -----------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status.is_active

    def progress(self) -> tuple[float, float | None]:
        """(fraction of epochs done, estimated seconds remaining or None before the first epoch)."""
        events = self.events()
        if not events:
            return 0.0, None
        last = events[-1]
        fraction = last.epoch / last.epochs
        per_epoch = last.elapsed / last.epoch
        return fraction, per_epoch * (last.epochs - last.epoch)

    # ---- the thread ---------------------------------------------------------------
    def _work(self) -> None:
        try:
            self.status = RunStatus.PREPARING
            pipeline, (X_train, y_train, X_val, y_val) = self._prepare()
            if self.stop_event.is_set():
                self.status = RunStatus.STOPPED
                return
            self.status = RunStatus.RUNNING
            classifier = pipeline.named_steps[ANN_STEP]
            # The validation part is only monitored: with early stopping the loop holds out its own
            # part of the training rows to decide when to stop, so the metrics below stay honest.
            classifier.fit(X_train, y_train, monitor=(X_val, y_val), control=self.control)
            self.history = classifier.history_
            self.pipeline = pipeline
            self.y_validation = np.asarray(y_val)
            self.validation_proba = classifier.predict_proba(X_val)[:, 1]
            self.metrics = classification_metrics(self.y_validation, self.validation_proba)
            self.status = RunStatus.STOPPED if self.history.cancelled else RunStatus.FINISHED
        except Exception as error:  # the thread's last stop: any failure becomes the run's status
            logger.exception("training run %r on %r failed", self.name, self.dataset_name)
            self.error = f"{type(error).__name__}: {error}"
            self.status = RunStatus.FAILED

    def _prepare(self):
        """Split, fit preprocessing on the training part, set up the projection and the classifier."""
        X_train_raw, X_val_raw, y_train, y_val = split_frame(
            self.frame, self.config.validation_fraction, self.config.seed
        )
        self.training_index, self.validation_index = X_train_raw.index, X_val_raw.index
        callbacks = [_Recorder(self)] if self.live else []
        pipeline = pipeline_from_config(self.config, callbacks=callbacks, stop_event=self.stop_event)
        # Fitted here rather than by pipeline.fit: the network also needs the validation part,
        # transformed by the preprocessing learned from the training part only.
        preprocessor = pipeline.named_steps[PREPROCESS_STEP].fit(X_train_raw)
        X_train = preprocessor.transform(X_train_raw).astype(np.float32)
        X_val = preprocessor.transform(X_val_raw).astype(np.float32)
        if self.live:
            self._set_up_projection(X_train, y_train, X_val, y_val)
        self._classifier = pipeline.named_steps[ANN_STEP]
        return pipeline, (X_train, y_train, X_val, y_val)

    def _set_up_projection(self, X_train, y_train, X_val, y_val) -> None:
        rng = np.random.default_rng(self.config.seed)
        shown_train = _sample(rng, len(X_train), MAX_PROJECTED_PATIENTS * len(X_train) // (len(X_train) + len(X_val)))
        shown_val = _sample(rng, len(X_val), MAX_PROJECTED_PATIENTS - len(shown_train))
        # PCA is fitted on all training rows; only the drawn points are sampled.
        projection = project_patients(X_train, y_train, seed=self.config.seed)
        self.projection = PatientProjection(
            projection.pca,
            projection.pca.transform(np.vstack([X_train[shown_train], X_val[shown_val]])),
            np.concatenate([np.asarray(y_train)[shown_train], np.asarray(y_val)[shown_val]]).astype(int),
            np.concatenate([np.zeros(len(shown_train), bool), np.ones(len(shown_val), bool)]),
        )
        self.grid = boundary_grid(self.projection, self.grid_resolution)
        self._grid_tensor = torch.as_tensor(self.grid.features)

    def _take_snapshot(self, epoch: int) -> None:
        """Runs in the training thread between epochs, so the weights are consistent."""
        network = getattr(self._classifier, "network_", None)  # None until fit has built the network
        if network is None or self.grid is None or self._grid_tensor is None:
            return
        was_training = network.training
        network.eval()  # dropout off: the boundary the network would predict with
        with torch.no_grad():
            device = next(network.parameters()).device
            probability = network.predict_proba(self._grid_tensor.to(device)).cpu().numpy()
            weights = {}
            for name, layer in linear_layers(network).items():
                flat = layer.weight.detach().flatten()
                if name not in self._weight_samples:
                    rng = np.random.default_rng(epoch)
                    self._weight_samples[name] = _sample(rng, flat.numel(), MAX_WEIGHTS_PER_LAYER)
                weights[name] = flat[torch.as_tensor(self._weight_samples[name], device=flat.device)].cpu().numpy()
        network.train(was_training)
        self.latest_snapshot = Snapshot(epoch, self.grid.reshape(probability), weights)

    # ---- results ------------------------------------------------------------------
    def metadata(self) -> dict:
        """What travels with the model: where it came from and how well it did on validation."""
        return {
            "source": "training page",
            "run": self.name,
            "dataset": self.dataset_name,
            "status": self.status.value,
            "epochs_trained": self.epochs_done,
            "config": self.config.to_dict(),
            "validation_metrics": {k: float(v) for k, v in self.metrics.items()},
            "n_validation": int(len(self.y_validation)) if self.y_validation is not None else 0,
            "device": self.device_label,
        }

    @property
    def bundle_name(self) -> str:
        return "heart-ann-" + "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")

    def bundle_zip(self) -> bytes:
        """The fitted pipeline as a model bundle (model.bundle's directory format) inside one
        folder named `bundle_name`, zipped in memory: unzip it and load_bundle(folder)."""
        if self.pipeline is None:
            raise RuntimeError("this run has no trained model yet")
        from model.serving.bundle import save_bundle

        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / self.bundle_name
            save_bundle(
                self.pipeline, target, metadata=self.metadata(), training_data=self.frame.loc[self.training_index]
            )
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(target.rglob("*")):
                    if path.is_file():
                        archive.write(path, f"{self.bundle_name}/{path.relative_to(target).as_posix()}")
        return buffer.getvalue()


def _sample(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Sorted indices of min(n, k) items drawn without replacement (all of them when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max(k, 0), replace=False))
