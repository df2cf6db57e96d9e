"""AppTest of the playground (the Train page): knobs shared with the Configure page, play / pause /
one epoch / reset on two-input data, a learning rate changed while paused, lessons, diagnostics
and the shared link (good and hostile)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.playground_settings import (
    KEY_DATA,
    KEY_DATA_KIND,
    KEY_EPOCHS,
    KEY_LEARNING_RATE,
    KEY_UNITS,
    widget_key,
)
from dashboard.state import KEY_ANN_CONFIG, KEY_TRAINING_RUNS
from model.nn.config import ANNConfig, LayerConfig
from model.serving.plane_runs import PlaneRun
from model.serving.runs import RunStatus
from model.serving.share_link import DataChoice, PlaygroundSetup, encode

APP = "../app.py"
TRAIN = "app_pages/train.py"
WAIT_SECONDS = 60


def _open(at: AppTest, page: str = TRAIN) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _run(at: AppTest) -> PlaneRun:
    run = at.session_state[KEY_TRAINING_RUNS][-1]
    assert isinstance(run, PlaneRun)
    return run


def _texts(at: AppTest) -> str:
    shown = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "success", "warning", "error")
        for e in getattr(at, kind)
    ]
    return "\n".join(shown + [bar.proto.text for bar in at.get("progress")])


def _small_xor(at: AppTest) -> AppTest:
    """The XOR set and a small network of 40 epochs, chosen with the page's own knobs."""
    at.selectbox(key=widget_key(KEY_DATA_KIND, at.session_state)).set_value("xor").run()
    at.text_input(key=widget_key(KEY_UNITS, at.session_state)).set_value("4").run()
    at.number_input(key=widget_key(KEY_EPOCHS, at.session_state)).set_value(40).run()
    assert not at.exception
    return at


def test_the_knobs_and_the_configure_page_edit_one_configuration(app):
    at = _open(app)
    at.text_input(key=widget_key(KEY_UNITS, at.session_state)).set_value("8, 8, 8").run()
    config = at.session_state[KEY_ANN_CONFIG]
    assert [layer.units for layer in config.hidden_layers] == [8, 8, 8]
    _open(at, "app_pages/configure.py")
    assert at.number_input(key="configure.layer2.units").value == 8
    at.number_input(key="configure.learning_rate").set_value(0.25).run()
    _open(at)
    assert at.number_input(key=widget_key(KEY_LEARNING_RATE, at.session_state)).value == 0.25
    assert (
        at.text_input(key=widget_key(KEY_UNITS, at.session_state)).value == "8, 8, 8"
    )  # shown again after the page switch
    at.text_input(key=widget_key(KEY_UNITS, at.session_state)).set_value("8, lots").run()
    assert any("'lots' is not a number of units" in e.value for e in at.error)
    assert [layer.units for layer in at.session_state[KEY_ANN_CONFIG].hidden_layers] == [8, 8, 8]  # kept


def test_one_epoch_pause_continue_and_reset_on_two_input_data(app):
    at = _small_xor(_open(app))
    at.button(key="train.step").click().run()
    run = _run(at)
    _wait(lambda: run.epochs_done == 1 and run.current_status() is RunStatus.PAUSED, "one epoch")
    at.run()
    assert "paused after epoch 1 of 40" in _texts(at)
    assert at.button(key="train.start").label == "Continue" and at.button(key="train.pause").disabled
    assert len(at.get("image")) == 1  # the neuron view

    at.button(key="train.step").click().run()
    _wait(lambda: run.epochs_done == 2 and run.current_status() is RunStatus.PAUSED, "a second epoch")
    assert run.latest_snapshot is not None and run.latest_snapshot.epoch == 2

    at.button(key="train.reset").click().run()
    fresh = _run(at)
    assert fresh is not run and run.join(5) and run.status is RunStatus.STOPPED
    _wait(lambda: fresh.latest_snapshot is not None and fresh.current_status() is RunStatus.PAUSED, "reset")
    assert fresh.epochs_done == 0 and fresh.latest_snapshot.epoch == 0
    # The same seed: the reset run starts from the weights the first run started from.
    first = PlaneRun(run.data, run.config, paused=True).start()
    try:
        _wait(lambda: first.latest_snapshot is not None, "a reference run")
        for mine, reference in zip(fresh.latest_snapshot.weights, first.latest_snapshot.weights, strict=True):
            np.testing.assert_array_equal(mine, reference)
    finally:
        first.stop()
        assert first.join(10)

    at.run()
    at.button(key="train.start").click().run()  # Continue
    assert fresh.join(WAIT_SECONDS)
    at.run()
    assert fresh.status is RunStatus.FINISHED and fresh.epochs_done == 40
    assert "finished 40 epochs" in _texts(at)
    assert any(m.label == "Validation accuracy" for m in at.metric)


def test_a_learning_rate_changed_while_paused_applies_from_the_next_epoch(app):
    at = _small_xor(_open(app))
    at.button(key="train.step").click().run()
    run = _run(at)
    _wait(lambda: run.current_status() is RunStatus.PAUSED and run.epochs_done == 1, "one epoch")
    at.run()
    at.number_input(key=widget_key(KEY_LEARNING_RATE, at.session_state)).set_value(0.5).run()
    assert any("continues with learning rate 0.5" in i.value for i in at.info)
    at.button(key="train.step").click().run()
    _wait(lambda: run.epochs_done == 2, "the next epoch")
    events = run.events()
    assert events[0].lr == pytest.approx(0.01) and events[1].lr == pytest.approx(0.5)
    run.stop()
    assert run.join(10)


def test_a_lesson_sets_data_and_network_trains_and_says_what_went_wrong(app):
    at = _open(app)
    at.button(key="playground.lesson.learning_rate_too_high").click().run()
    assert at.session_state[KEY_DATA] == DataChoice.toy("moons", 200, 0.1, 0)
    assert at.session_state[KEY_ANN_CONFIG].learning_rate == 10.0
    assert any("A learning rate too high" in i.value for i in at.info)
    run = _run(at)
    assert run.join(WAIT_SECONDS)
    at.run()
    assert any("training diverged" in e.value.lower() for e in at.error)
    assert (
        at.selectbox(key=widget_key(KEY_DATA_KIND, at.session_state)).value == "moons"
    )  # the knobs show the lesson's setup


def test_values_the_browser_sends_for_the_knobs_as_they_were_before_a_lesson_cannot_undo_it(app):
    """The race seen in CI: a rerun the browser asked for before it drew the lesson's values carries the knobs'
    old values. They belong to the old widget keys, which the page no longer reads."""
    at = _open(app)
    old_keys = {name: widget_key(name, at.session_state) for name in (KEY_DATA_KIND, KEY_UNITS, KEY_EPOCHS)}
    before = {name: at.session_state[key] for name, key in old_keys.items()}
    at.button(key="playground.lesson.learning_rate_too_high").click().run()
    lesson_config = at.session_state[KEY_ANN_CONFIG]
    assert all(widget_key(name, at.session_state) != key for name, key in old_keys.items())
    for name, key in old_keys.items():  # what a stale rerun request writes
        at.session_state[key] = before[name]
    at.run()
    assert at.session_state[KEY_DATA].kind == "moons"
    assert at.session_state[KEY_ANN_CONFIG] == lesson_config
    assert at.selectbox(key=widget_key(KEY_DATA_KIND, at.session_state)).value == "moons"
    run = _run(at)
    run.stop()
    assert run.join(WAIT_SECONDS)


def test_a_shared_link_restores_the_setup_in_a_new_session():
    setup = PlaygroundSetup(
        config=ANNConfig(hidden_layers=(LayerConfig(6, "tanh", 0.0),) * 2, learning_rate=0.03, seed=7),
        data=DataChoice.toy("spiral", 300, 0.2, 3),
    )
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in encode(setup).items():
        at.query_params[key] = value
    at.run()
    _open(at)
    assert at.session_state[KEY_ANN_CONFIG] == setup.config
    assert at.session_state[KEY_DATA] == setup.data
    assert any("restored from the shared link" in s.value for s in at.success)
    assert at.text_input(key=widget_key(KEY_UNITS, at.session_state)).value == "6, 6"


def test_a_hostile_link_gets_a_clear_message_and_the_defaults():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["data"] = "moons"
    at.query_params["lr"] = "<script>alert(1)</script>"
    at.query_params["layers"] = "9" * 5000
    at.run()
    _open(at)
    assert not at.exception
    warning = "\n".join(w.value for w in at.warning)
    assert "could not be used" in warning and "<script>" not in warning
    assert at.session_state[KEY_ANN_CONFIG].learning_rate == ANNConfig().learning_rate
    assert at.session_state[KEY_DATA].kind == "moons"
