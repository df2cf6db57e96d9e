"""AppTest of the configuration and training pages: validation next to the fields, presets, layers,
the configuration surviving page switches, and the session state a short training run leaves."""

import threading

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY_ACTIVE_MODEL, KEY_ANN_CONFIG, KEY_TRAINING_RUNS
from dashboard.train_panels import metric_delta
from model.nn.presets import PRESETS
from model.serving.runs import RunStatus

APP = "../app.py"


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _open(at, page):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_an_epoch_to_epoch_change_that_rounds_to_zero_gets_no_arrow():
    assert metric_delta(0.5, 0.4) == "+0.1000"
    assert metric_delta(0.4, 0.5) == "-0.1000"
    assert metric_delta(0.02400, 0.02401) is None  # not "+0.0000" with a red arrow
    assert metric_delta(None, 0.5) is None and metric_delta(0.5, None) is None


def _errors(at):
    return [element.value for element in at.error]


def test_a_bad_value_gets_its_message_and_the_train_page_refuses_it(app):
    at = _open(app, "app_pages/configure.py")
    at.number_input(key="configure.learning_rate").set_value(-1.0).run()
    assert "must be in (0, 10]; got -1.0" in _errors(at)
    assert any("1 setting(s) need attention" in w.value for w in at.warning)
    # The session holds what the form shows; the Train page names the problem and offers no Start button.
    assert at.session_state[KEY_ANN_CONFIG].learning_rate == -1.0
    _open(at, "app_pages/train.py")
    assert any("lr -1," in md.value for md in at.markdown)
    assert any(
        "cannot be trained" in e.value and "Learning rate η ∈ (0, 10]: must be in (0, 10]; got -1.0" in e.value
        for e in at.error
    )
    assert not [b for b in at.button if b.key == "train.start"]

    _open(at, "app_pages/configure.py")
    assert at.number_input(key="configure.learning_rate").value == -1.0  # the bad value is kept, not lost
    at.number_input(key="configure.learning_rate").set_value(0.05).run()
    assert _errors(at) == [] and not at.warning
    assert at.session_state[KEY_ANN_CONFIG].learning_rate == 0.05
    _open(at, "app_pages/train.py")
    assert not at.error and at.button(key="train.start")


def test_layer_limits_and_editing(app):
    at = _open(app, "app_pages/configure.py")
    at.button(key="configure.preset.perceptron").click().run()
    assert at.session_state[KEY_ANN_CONFIG].hidden_layers == ()
    assert any("single perceptron" in info.value for info in at.info)

    at.button(key="configure.add_layer").click().run()
    at.button(key="configure.add_layer").click().run()
    at.number_input(key="configure.layer1.units").set_value(1000).run()
    assert "Layer 2 units: must be a whole number from 1 to 512; got 1000" in _errors(at)
    at.number_input(key="configure.layer1.units").set_value(4).run()
    at.selectbox(key="configure.layer1.activation").set_value("tanh").run()
    at.number_input(key="configure.layer0.dropout").set_value(1.5).run()
    assert "Layer 1 dropout: must be in [0, 1); got 1.5" in _errors(at)
    at.number_input(key="configure.layer0.dropout").set_value(0.5).run()
    layers = at.session_state[KEY_ANN_CONFIG].hidden_layers
    assert [(layer.units, layer.activation, layer.dropout) for layer in layers] == [(16, "relu", 0.5), (4, "tanh", 0.0)]

    at.button(key="configure.remove0").click().run()
    layers = at.session_state[KEY_ANN_CONFIG].hidden_layers
    assert [(layer.units, layer.activation) for layer in layers] == [(4, "tanh")]


def test_optimizer_fields_follow_the_optimizer(app):
    at = _open(app, "app_pages/configure.py")
    labels = lambda: {n.key for n in at.number_input}  # noqa: E731
    at.selectbox(key="configure.optimizer").set_value("gd").run()
    assert "configure.momentum" not in labels() and "configure.batch_size" not in labels()
    at.selectbox(key="configure.optimizer").set_value("nesterov").run()
    assert {"configure.momentum", "configure.batch_size"} <= labels()
    at.number_input(key="configure.momentum").set_value(0.0).run()
    assert "Nesterov needs a momentum in (0, 1), got 0" in _errors(at)
    at.number_input(key="configure.momentum").set_value(0.8).run()
    at.selectbox(key="configure.optimizer").set_value("adam").run()
    assert {"configure.betas[0]", "configure.betas[1]", "configure.eps"} <= labels()
    at.number_input(key="configure.betas[1]").set_value(1.0).run()
    assert "must be in [0, 1); got 1.0" in _errors(at)


def test_the_configuration_survives_a_page_switch(app):
    at = _open(app, "app_pages/configure.py")
    at.button(key="configure.preset.deep_dropout").click().run()
    at.number_input(key="configure.epochs").set_value(77).run()
    _open(at, "app_pages/train.py")
    assert any("77 epochs" in md.value for md in at.markdown)
    _open(at, "app_pages/configure.py")
    assert at.number_input(key="configure.epochs").value == 77
    assert at.number_input(key="configure.layer2.units").value == 16
    assert at.session_state[KEY_ANN_CONFIG] == PRESETS["deep_dropout"].replace(epochs=77)


def test_a_device_this_machine_lacks_is_flagged_next_to_the_field(app):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    at = _open(app, "app_pages/configure.py")
    at.selectbox(key="configure.device").set_value("cuda").run()
    assert any("no CUDA GPU is available here" in message for message in _errors(at))
    _open(at, "app_pages/train.py")
    assert any("cannot be trained" in e.value and "Device:" in e.value for e in at.error)


def test_a_short_run_leaves_its_history_results_and_can_become_the_active_model(app):
    at = _open(app, "app_pages/configure.py")
    at.button(key="configure.preset.perceptron").click().run()
    at.number_input(key="configure.epochs").set_value(15).run()
    _open(at, "app_pages/train.py")
    at.button(key="train.start").click().run()
    assert not at.exception
    runs = at.session_state[KEY_TRAINING_RUNS]
    assert len(runs) == 1 and runs[0].name == "Run 1"
    runs[0].join()
    at.run()
    assert not at.exception
    run = runs[0]
    assert run.status is RunStatus.FINISHED and run.epochs_done == 15
    assert any("Run 1 finished all 15 epochs" in info.value for info in at.info)
    assert at.slider(key="train.threshold").value == 0.5
    assert at.dataframe[0].value["run"].tolist() == ["Run 1"]

    at.slider(key="train.threshold").set_value(0.2).run()
    assert not at.exception
    at.button(key="results.use").click().run()
    active = at.session_state[KEY_ACTIVE_MODEL]
    assert active.pipeline is run.pipeline and active.metadata["run"] == "Run 1"


def test_one_training_at_a_time_and_stop_keeps_the_partial_run(app):
    at = _open(app, "app_pages/configure.py")
    at.number_input(key="configure.epochs").set_value(5000).run()
    _open(at, "app_pages/train.py")
    at.button(key="train.start").click().run()
    run = at.session_state[KEY_TRAINING_RUNS][0]
    assert at.button(key="train.start").disabled and not at.button(key="train.stop").disabled
    while run.epochs_done < 2 and run.is_active:
        threading.Event().wait(0.05)
    at.button(key="train.stop").click().run()
    run.join()
    at.run()
    assert run.status is RunStatus.STOPPED and run.pipeline is not None
    assert any("was stopped after epoch" in info.value for info in at.info)
    assert not at.button(key="train.start").disabled


def test_with_early_stopping_the_results_say_what_decided_the_stop(app):
    at = _open(app, "app_pages/configure.py")
    at.button(key="configure.preset.perceptron").click().run()
    at.number_input(key="configure.epochs").set_value(300).run()
    at.checkbox(key="configure.early_stopping").check().run()
    at.number_input(key="configure.patience").set_value(3).run()
    assert not at.exception
    _open(at, "app_pages/train.py")
    at.button(key="train.start").click().run()
    run = at.session_state[KEY_TRAINING_RUNS][0]
    run.join()
    at.run()
    assert not at.exception and run.status is RunStatus.FINISHED, run.error
    holdout = run.history.inner_holdout
    assert holdout > 0
    captions = " ".join(caption.value for caption in at.caption)
    assert f"nor to decide when to stop: early stopping watched {holdout} of the training patients" in captions
    assert run.history.stopped_early  # seeded: patience 3 ends it well before 300 epochs
    assert any(f"({holdout} training patients set aside for it)" in info.value for info in at.info)
