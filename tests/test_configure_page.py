"""AppTest of the Configure page: fields hidden and shown again come back with their values, the
number the browser shows is the one the session trains, and the preset the form equals is named.

Streamlit drops the state of a widget a run does not draw, and the browser forgets it too: a
widget drawn again shows the value the server sends with it (`set_value`) or, without one, the
widget's built-in default (0 for a number input), which the browser then sends back on the next
edit. `ShownNumbers` models that, so these tests see what a user sees (AppTest alone reads the
server's value and would miss a 0 on screen).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.configure_form import PREFIX, drawn_keys, widget_values
from dashboard.state import KEY_ANN_CONFIG
from model.nn.config import ANNConfig
from model.nn.presets import PRESETS, RECOMMENDED, matching_preset

APP = "../app.py"


class ShownNumbers:
    """The numbers the browser shows in the number inputs, run after run."""

    def __init__(self, at: AppTest):
        self.at = at
        self.shown: dict[str, float] = {}

    def run(self) -> ShownNumbers:
        self.at.run()
        assert not self.at.exception, self.at.exception
        self.observe()
        return self

    def observe(self) -> None:
        shown = {}
        for widget in self.at.number_input:
            proto = widget.proto
            if proto.set_value:
                shown[widget.key] = proto.value
            elif widget.key in self.shown:
                shown[widget.key] = self.shown[widget.key]
            else:  # newly drawn, no value sent: the widget's own default
                shown[widget.key] = proto.default if proto.HasField("default") else None
        self.shown = shown

    def type(self, key: str, value) -> ShownNumbers:
        """The user types `value` and presses Enter."""
        self.at.number_input(key=key).set_value(value)
        self.shown[key] = value
        return self.run()

    def choose(self, key: str, value) -> ShownNumbers:
        self.at.selectbox(key=key).set_value(value)
        return self.run()

    def tick(self, key: str, value: bool) -> ShownNumbers:
        self.at.checkbox(key=key).set_value(value)
        return self.run()

    def click(self, key: str) -> ShownNumbers:
        self.at.button(key=key).click()
        return self.run()

    def open(self, page: str) -> ShownNumbers:
        self.at.switch_page(page)
        return self.run()

    @property
    def config(self) -> ANNConfig:
        return self.at.session_state[KEY_ANN_CONFIG]

    def errors(self) -> list[str]:
        return [element.value for element in self.at.error]

    def assert_shows_config(self) -> None:
        """Every number on screen is the session's configuration (the one Train and Compare use)."""
        config = self.config
        expected = widget_values(config)
        # The form's own fields (the page's search section has number inputs of its own)
        numbers = {widget.key for widget in self.at.number_input if widget.key.startswith(PREFIX)}
        assert numbers == {key for key in drawn_keys(config) if key in expected and key in self.shown}
        for key in numbers:
            assert self.shown[key] == expected[key], (
                f"{key}: the browser shows {self.shown[key]}, the session holds {expected[key]}"
            )


@pytest.fixture
def form():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    browser = ShownNumbers(at)
    browser.open("app_pages/configure.py")
    return browser


def test_sgd_then_momentum_then_adam_shows_adams_own_defaults(form):
    """The issue's sequence: β₁, β₂ and ε showed 0 and the next edit was refused."""
    for optimizer in ("sgd", "momentum", "adam"):
        form.choose("configure.optimizer", optimizer)
        form.assert_shows_config()
    assert form.shown["configure.betas[0]"] == 0.9
    assert form.shown["configure.betas[1]"] == 0.999
    assert form.shown["configure.eps"] == 1e-8
    form.tick("configure.full_batch", False)
    form.type("configure.batch_size", 16)
    form.type("configure.epochs", 3000)
    assert form.errors() == []
    form.assert_shows_config()
    assert (form.config.optimizer, form.config.batch_size, form.config.epochs, form.config.betas, form.config.eps) == (
        "adam",
        16,
        3000,
        (0.9, 0.999),
        1e-8,
    )

    form.open("app_pages/train.py")
    assert any("adam lr 0.01, batch 16, 3000 epochs" in md.value for md in form.at.markdown)
    form.open("app_pages/configure.py")  # and back: the form is as it was left
    form.assert_shows_config()
    assert form.shown["configure.batch_size"] == 16 and form.shown["configure.epochs"] == 3000
    assert form.at.selectbox(key="configure.optimizer").value == "adam"


def test_every_conditional_field_comes_back_with_the_users_last_value(form):
    form.choose("configure.optimizer", "momentum")
    form.type("configure.momentum", 0.7)
    form.choose("configure.optimizer", "rmsprop")
    form.type("configure.alpha", 0.95)
    form.type("configure.eps", 1e-6)
    form.choose("configure.optimizer", "adam")
    form.type("configure.betas[0]", 0.8)
    form.choose("configure.optimizer", "gd")  # hides every optimizer field and the batch size
    form.assert_shows_config()
    form.choose("configure.optimizer", "rmsprop")
    form.assert_shows_config()
    assert (form.shown["configure.momentum"], form.shown["configure.alpha"], form.shown["configure.eps"]) == (
        0.7,
        0.95,
        1e-6,
    )
    form.choose("configure.optimizer", "adam")
    assert form.shown["configure.betas[0]"] == 0.8 and form.shown["configure.betas[1]"] == 0.999

    form.tick("configure.early_stopping", True)
    form.type("configure.patience", 7)
    form.tick("configure.early_stopping", False)
    form.tick("configure.early_stopping", True)
    assert form.shown["configure.patience"] == 7

    form.type("configure.init_sigma", 0.3)
    form.choose("configure.init", "xavier")
    form.choose("configure.init", "normal")
    assert form.shown["configure.init_sigma"] == 0.3

    form.tick("configure.full_batch", False)
    form.type("configure.batch_size", 24)
    form.tick("configure.full_batch", True)  # the size stays on screen (disabled) and comes back
    assert form.config.batch_size is None and form.shown["configure.batch_size"] == 24
    form.tick("configure.full_batch", False)
    assert form.config.batch_size == 24
    form.assert_shows_config()
    assert form.errors() == []


def test_layers_removed_and_added_show_their_own_values(form):
    form.click("configure.preset.deep_dropout")
    form.type("configure.layer1.units", 20)
    form.click("configure.remove0")
    form.assert_shows_config()
    assert [(layer.units, layer.dropout) for layer in form.config.hidden_layers] == [(20, 0.5), (16, 0.5)]
    form.click("configure.remove1")
    form.click("configure.remove0")
    assert form.config.hidden_layers == ()
    form.click("configure.add_layer")
    form.click("configure.add_layer")
    form.assert_shows_config()
    assert [(layer.units, layer.activation, layer.dropout) for layer in form.config.hidden_layers] == [
        (16, "relu", 0.0),
        (16, "relu", 0.0),
    ]
    assert form.errors() == []


def test_a_bad_value_is_what_the_train_page_shows_and_refuses(form):
    form.choose("configure.optimizer", "adam")
    form.type("configure.eps", 0.0)
    assert "must be in (0, 1]; got 0.0" in form.errors()
    form.type("configure.epochs", 300)  # later edits are taken, not silently ignored
    assert form.config.epochs == 300 and form.config.eps == 0.0
    form.open("app_pages/train.py")
    assert any("300 epochs" in md.value for md in form.at.markdown)
    assert any("cannot be trained" in error for error in form.errors())
    assert not [button for button in form.at.button if button.key == "train.start"]


def _primary_presets(at) -> list[str]:
    return [
        button.key.rsplit(".", 1)[1]
        for button in at.button
        if button.key and button.key.startswith("configure.preset.") and button.proto.type == "primary"
    ]


def test_the_form_names_the_preset_it_still_equals(form):
    at = form.at
    assert _primary_presets(at) == ["recommended"]
    assert any("equals the **Recommended** preset" in md.value for md in at.markdown)
    form.type("configure.epochs", 81)
    assert _primary_presets(at) == []
    assert any("equals none of the presets" in md.value for md in at.markdown)
    form.type("configure.epochs", 80)
    assert _primary_presets(at) == ["recommended"]
    form.type("configure.learning_rate", -1.0)  # an invalid edit is an edit too
    assert _primary_presets(at) == []
    form.type("configure.learning_rate", 0.01)
    form.choose("configure.optimizer", "momentum")  # momentum is not the preset's optimizer
    form.type("configure.momentum", 0.5)
    assert _primary_presets(at) == []
    form.choose("configure.optimizer", "adam")  # Adam ignores the momentum: trains like the preset
    assert _primary_presets(at) == ["recommended"]
    form.click("configure.preset.one_hidden")
    assert _primary_presets(at) == ["one_hidden"]
    form.assert_shows_config()


def test_matching_preset_ignores_only_what_training_ignores():
    recommended = RECOMMENDED
    assert matching_preset(recommended) == "recommended"
    assert matching_preset(recommended.replace(momentum=0.1, alpha=0.5)) == "recommended"  # Adam reads neither
    assert matching_preset(recommended.replace(patience=3)) == "recommended"  # no early stopping
    assert matching_preset(recommended.replace(betas=(0.8, 0.999))) is None
    assert matching_preset(recommended.replace(epochs=81)) is None
    assert matching_preset(recommended.replace(optimizer="sgd")) is None
    assert matching_preset(recommended.replace(seed=1)) is None
    for name, preset in PRESETS.items():
        assert matching_preset(preset) == name
    assert matching_preset(ANNConfig(optimizer="nonsense")) is None


def test_the_form_field_table_covers_every_numeric_setting():
    """Every widget key the form draws has a value to be drawn with (nothing falls back to a widget default)."""
    for preset in PRESETS.values():
        for optimizer in ("gd", "sgd", "momentum", "nesterov", "adam", "adagrad", "rmsprop"):
            config = preset.replace(optimizer=optimizer, early_stopping=True)
            assert set(drawn_keys(config)) <= set(widget_values(config))
