"""The Explore page's "remove the repeats" button: it deduplicates the session's dataset and can be undone."""

from __future__ import annotations

import pandas as pd
from _apptest import page_text
from _kaggle_copy import kaggle_1025_frame
from streamlit.testing.v1 import AppTest

from dashboard.explore_views import BUTTON_DEDUPLICATE, BUTTON_RESTORE, WIDGET_CONFLICT_POLICY
from dashboard.state import KEY_DATASET, SOURCE_UPLOAD, DatasetChoice
from model.data import exploration as ex

TIMEOUT = 180


def _explore(frame: pd.DataFrame, name: str = "Uploaded: heart.csv") -> AppTest:
    app = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    app.session_state[KEY_DATASET] = DatasetChoice(name, frame, SOURCE_UPLOAD)
    app.run()
    app.switch_page("app_pages/explore.py").run()
    assert not app.exception
    return app


def _dataset(app: AppTest) -> DatasetChoice:
    return app.session_state[KEY_DATASET]


def test_the_button_removes_the_repeats_of_the_public_copy_and_restore_brings_them_back():
    frame = kaggle_1025_frame()
    app = _explore(frame)
    assert "723 rows repeat an earlier patient" in page_text(app)
    button = app.button(key=BUTTON_DEDUPLICATE)
    assert button.label == "Remove 723 repeated rows" and not button.disabled
    button.click().run()
    assert not app.exception
    deduplicated = _dataset(app)
    assert deduplicated.n_rows == 302 and deduplicated.name == "Uploaded: heart.csv (repeats removed)"
    assert not deduplicated.frame.duplicated(subset=list(ex.feature_columns(frame))).any()
    text = page_text(app)
    assert "Removed 723 rows that repeated an earlier patient" in text and "302 patients remain" in text
    assert "302 of 302 patients selected" in text
    restore = app.button(key=BUTTON_RESTORE)
    assert restore.label == "Restore the 723 removed rows"
    restore.click().run()
    assert not app.exception
    restored = _dataset(app)
    assert restored.n_rows == 1025 and restored.name == "Uploaded: heart.csv"
    pd.testing.assert_frame_equal(restored.frame, frame)  # nothing the user uploaded was lost
    assert "1,025 of 1,025 patients selected" in page_text(app)


def test_patients_recorded_with_both_outcomes_need_a_choice_first():
    frame = kaggle_1025_frame()
    flipped = frame.iloc[[0]].assign(target=1 - frame["target"].iloc[0])
    frame = pd.concat([frame, flipped], ignore_index=True)
    app = _explore(frame)
    assert "recorded with **both outcomes**" in page_text(app)
    assert app.button(key=BUTTON_DEDUPLICATE).disabled  # no silent choice
    app.radio(key=WIDGET_CONFLICT_POLICY).set_value(ex.DROP_ALL).run()
    button = app.button(key=BUTTON_DEDUPLICATE)
    assert not button.disabled and button.label == "Remove 725 repeated rows"
    button.click().run()
    assert not app.exception
    assert _dataset(app).n_rows == 301  # that patient is gone altogether
    assert "every copy of the 1 patient recorded with both outcomes" in page_text(app)


def test_choosing_another_dataset_forgets_the_undo():
    from dashboard import state

    frame = kaggle_1025_frame()
    app = _explore(frame)
    app.button(key=BUTTON_DEDUPLICATE).click().run()
    assert app.session_state[state.KEY_DEDUPLICATION] is not None
    app.session_state[KEY_DATASET] = DatasetChoice("Uploaded: other.csv", frame.head(200), SOURCE_UPLOAD)
    app.run()
    assert not app.exception
    assert not [b for b in app.button if b.key == BUTTON_RESTORE]


def test_clean_data_gets_no_button():
    clean = ex.deduplicate(kaggle_1025_frame()).kept
    app = _explore(clean, "Clean")
    assert not [b for b in app.button if b.key == BUTTON_DEDUPLICATE]
    assert "repeat an earlier patient" not in page_text(app)
