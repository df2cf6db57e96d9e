"""Playground trainings on two-input data that can be watched, paused and stepped: plain Python, no Streamlit.

`PlaneRun(data, config).start()` fits an ANNClassifier on a model.data.plane_data.PlaneData in a
background thread, steered by a model.nn.control.TrainingControl (play, pause, one epoch at a time,
a new learning rate while paused, stop). While it learns it keeps every EpochEvent and a
`PlaneSnapshot`: the network evaluated over its whole input plane (model.nn.plane.decision_plane:
the exact decision boundary and every hidden unit's output) with its weights, taken

  * before the first epoch (the initial weights: what "reset" shows again, as the seed fixes them),
  * after any epoch that ends with the training paused or finished, so a step always shows its epoch,
  * otherwise at most every `snapshot_seconds`, so that watching costs little next to training.

`RaceRun(data, contestants).start()` trains several optimizer settings together on one stacked
engine (model.nn.race) from the same initial weights, recording each one's curves.

Both hold one of the server's compute slots (model.runtime.compute_slots) while they run; a paused
run keeps it, which is why TrainingControl ends a pause that lasts too long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from model.data.plane_data import PlaneData
from model.evaluation.cross_validation import classification_metrics
from model.nn.config import ANNConfig
from model.nn.control import TrainingControl
from model.nn.diagnostics import Finding, diagnose
from model.nn.estimator import ANNClassifier
from model.nn.network import MLP, check_training_work
from model.nn.plane import DecisionPlane, decision_plane
from model.nn.race import race_optimizers
from model.nn.training import Callback, EpochEvent, History, TrainInfo
from model.serving.runs import RunStatus
from model.serving.slot_threads import SlotThread, WatchedTraining

logger = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 0.2  # between live snapshots: several per page redraw, a few ms each
PLANE_RESOLUTION = 100  # grid points per axis of the live plane


@dataclass(frozen=True)
class PlaneSnapshot:
    """The network after `epoch` (0: its initial weights) over its input plane."""

    epoch: int
    plane: DecisionPlane
    network: MLP  # a copy of the network as it was then (the live one keeps learning)

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """Each linear layer's (out, in) weights, input side first."""
        return tuple(linear.weight.detach().cpu().numpy() for linear in self.network.linears)


def _frozen_copy(network: MLP, config: ANNConfig) -> MLP:
    copy = MLP(config, 2)
    copy.load_state_dict({name: value.detach().cpu() for name, value in network.state_dict().items()})
    return copy.eval()


class _Watcher(Callback):
    """Keeps events for readers in other threads and takes the snapshots (in the training thread)."""

    def __init__(self, run: PlaneRun):
        self.run = run
        self.last_snapshot = -float("inf")

    def on_train_begin(self, info: TrainInfo) -> None:
        self.run._snapshot(0)
        self.last_snapshot = time.perf_counter()

    def on_epoch_end(self, event: EpochEvent) -> None:
        run = self.run
        run.record(event)
        now = time.perf_counter()
        # A paused or last epoch is what the user will look at for a while: always drawn exactly.
        if run.control.paused or event.epoch == event.epochs or now - self.last_snapshot >= run.snapshot_seconds:
            run._snapshot(event.epoch)
            self.last_snapshot = time.perf_counter()


class PlaneRun(WatchedTraining):
    """One training of one configuration on two-input data, in a background thread."""

    thread_label = "playground run"

    def __init__(
        self,
        data: PlaneData,
        config: ANNConfig,
        name: str = "Run",
        paused: bool = False,
        snapshot_seconds: float = SNAPSHOT_SECONDS,
        resolution: int = PLANE_RESOLUTION,
        live: bool = True,
    ):
        self.config = config.validate()
        self.data = data
        self.name = name
        self.snapshot_seconds = snapshot_seconds
        self.resolution = resolution
        self.live = live  # False: no watcher at all (the headless baseline of the benchmark)
        self._start_watching(paused)
        self.estimator = ANNClassifier.from_config(config)
        self.status = RunStatus.PENDING
        self.error: str | None = None
        self.history: History | None = None
        self.metrics: dict[str, float] = {}
        self.findings: list[Finding] = []
        self.latest_snapshot: PlaneSnapshot | None = None
        # The plane covers training and validation points alike, fixed for the whole run.
        self._plane_points = np.vstack([data.X_train, data.X_val])

    # ---- control (any thread) ---------------------------------------------------------
    def _check_work(self) -> None:
        check_training_work(self.config, len(self.data.y_train), 2)

    def stop(self) -> None:
        self.control.stop()

    # ---- reading (any thread) ---------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.current_status().is_active

    def current_status(self) -> RunStatus:
        """RUNNING, or PAUSED while the loop waits at an epoch boundary."""
        return RunStatus.PAUSED if self.is_paused else self.status

    @property
    def dataset_name(self) -> str:
        return self.data.name

    @property
    def diverged(self) -> bool:
        return any(finding.kind == "divergence" for finding in self.findings)

    # ---- the thread -------------------------------------------------------------------
    def _work(self) -> None:
        data = self.data
        try:
            self.status = RunStatus.RUNNING
            self.estimator.set_params(callbacks=[_Watcher(self)] if self.live else None)
            self.estimator.fit(data.X_train, data.y_train, monitor=(data.X_val, data.y_val), control=self.control)
            history = self.estimator.history_
            if history is None:  # fit always records one; a rebuilt classifier has none
                raise RuntimeError("the training left no history")
            self.history = history
            proba = self.estimator.predict_proba(data.X_val)[:, 1]
            self.metrics = classification_metrics(np.asarray(data.y_val), proba)
            self.findings = diagnose(self.estimator, data.X_train, data.y_train)
            self.status = RunStatus.STOPPED if history.cancelled else RunStatus.FINISHED
        except Exception as error:  # the thread's last stop: any failure becomes the run's status
            logger.exception("playground run %r on %r failed", self.name, data.name)
            self.error = f"{type(error).__name__}: {error}"
            self.status = RunStatus.FAILED

    def _snapshot(self, epoch: int) -> None:
        network = self.estimator.network_
        plane = decision_plane(self.estimator, self._plane_points, resolution=self.resolution)
        self.latest_snapshot = PlaneSnapshot(epoch, plane, _frozen_copy(network, self.config))


def initial_snapshot(data: PlaneData, config: ANNConfig, resolution: int = PLANE_RESOLUTION) -> PlaneSnapshot:
    """The network a run of `config` on `data` starts from (its seed fixes the weights), over the input
    plane, without training: what the playground shows before Play, and again after Reset."""
    config = config.validate()
    network = MLP(config, 2)
    estimator = ANNClassifier.from_state(config.to_dict(), network.state_dict(), n_features_in=2)
    plane = decision_plane(estimator, np.vstack([data.X_train, data.X_val]), resolution=resolution)
    return PlaneSnapshot(0, plane, estimator.network_)


@dataclass(frozen=True)
class RaceEpoch:
    """Every contestant's EpochEvent after one epoch of a race."""

    epoch: int
    events: Mapping[str, EpochEvent]


class RaceRun(SlotThread):
    """Optimizer settings trained together (model.nn.race) on two-input data, in a background thread."""

    thread_label = "race"

    def __init__(self, data: PlaneData, contestants: Mapping[str, ANNConfig], name: str = "Race"):
        self.data = data
        self.contestants = {label: config.validate() for label, config in contestants.items()}
        self.name = name
        self.control = TrainingControl()
        self.status = RunStatus.PENDING
        self.error: str | None = None
        self.histories: dict[str, History] = {}
        self._epochs: list[RaceEpoch] = []
        self._lock = threading.Lock()

    def _check_work(self) -> None:
        for config in self.contestants.values():
            check_training_work(config, len(self.data.y_train), 2)

    def stop(self) -> None:
        self.control.stop()

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    def epochs(self) -> list[RaceEpoch]:
        with self._lock:
            return list(self._epochs)

    def _record(self, epoch: int, events: Mapping[str, EpochEvent]) -> None:
        with self._lock:
            self._epochs.append(RaceEpoch(epoch, dict(events)))

    def _work(self) -> None:
        data = self.data
        try:
            self.status = RunStatus.RUNNING
            result = race_optimizers(
                data.X_train,
                data.y_train,
                self.contestants,
                X_val=data.X_val,
                y_val=data.y_val,
                on_epoch_end=self._record,
                control=self.control,
            )
            self.histories = dict(result.histories)
            cancelled = any(history.cancelled for history in self.histories.values())
            self.status = RunStatus.STOPPED if cancelled else RunStatus.FINISHED
        except Exception as error:  # the thread's last stop: any failure becomes the race's status
            logger.exception("optimizer race %r on %r failed", self.name, data.name)
            self.error = f"{type(error).__name__}: {error}"
            self.status = RunStatus.FAILED
