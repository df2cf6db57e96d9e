"""The dashboard shell and the Data Exploration page, run headless with Streamlit's AppTest.

File uploads cannot be simulated by AppTest, so the upload handlers are driven directly in
a small script (AppTest.from_function) with the bytes a user would upload; the browser
tests in tests/e2e/ upload real files.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from _apptest import page_text
from streamlit.testing.v1 import AppTest

from model.runtime.limits import MAX_ROWS, MAX_UPLOAD_MB

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120


def _sidebar_text(at: AppTest) -> str:
    return "\n".join(str(getattr(child, "value", "")) for child in at.sidebar.children.values())


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file("../app.py", default_timeout=TIMEOUT)


def test_config_bounds_uploads_like_the_model_package():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert config["server"]["headless"] is True
    assert config["theme"]["primaryColor"]


def test_config_turns_off_the_full_gc_after_every_rerun():
    # With it on, each live panel's one-second redraw runs a ~0.2 s gc.collect() holding the GIL:
    # four sessions watching made their trainings 4x slower (benchmarks/bench_concurrent_training.py).
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_landing_page_tells_a_first_time_user_where_to_start(app):
    app.run()
    assert not app.exception
    text = page_text(app)
    assert "not a medical device" in text
    for who in ("Analyst", "Clinician", "Demo"):
        assert who in text
    sidebar = _sidebar_text(app)
    for item in ("Dataset:", "Device:", "Model:"):
        assert item in sidebar
    assert "Cleveland (built-in)" in sidebar


def test_exploration_page_shows_every_view(app):
    app.run()
    app.switch_page("app_pages/explore.py").run()
    assert not app.exception
    labels = [tab.label for tab in app.tabs]
    for name in ("Overview", "Codebook", "Distributions", "Associations", "Correlations", "PCA", "Data quality"):
        assert name in labels
    assert len(app.get("plotly_chart")) >= 5
    assert "303 of 303 patients selected" in page_text(app)
    assert "Holm" in page_text(app)
    assert f"Up to {MAX_UPLOAD_MB} MB and {MAX_ROWS:,} rows." in page_text(app)  # both upload caps, from limits.py


def test_filters_update_every_view(app):
    app.run()
    app.switch_page("app_pages/explore.py").run()
    sex = next(w for w in app.multiselect if w.key.startswith("explore.sexes"))
    sex.set_value([0]).run()
    assert not app.exception
    women = int((app.session_state["heart.dataset"].frame["sex"] == 0).sum())
    assert f"{women} of 303 patients selected" in page_text(app)
    overview_rows = next(m for m in app.metric if m.label == "Patients (rows)")
    assert overview_rows.value == str(women)
    sex.set_value([]).run()
    assert not app.exception
    assert "No patient matches these filters" in page_text(app)


def test_each_feature_can_be_drawn(app):
    app.run()
    app.switch_page("app_pages/explore.py").run()
    for name in ("cp", "chol", "fbs"):
        app.selectbox(key="explore.feature").set_value(name).run()
        assert not app.exception
    app.selectbox(key="explore.feature").set_value("age").run()
    for kind in ("Box", "Violin"):
        app.segmented_control(key="explore.numeric_plot").set_value(kind).run()
        assert not app.exception
    app.segmented_control(key="explore.corr_method").set_value("pearson").run()
    assert not app.exception


def _upload_script(name: str, data: bytes):
    """Run the page's CSV handler as the file uploader would, then draw its message."""
    import streamlit as st

    from dashboard import state
    from dashboard.explore_sources import apply_csv_upload, show_upload_outcome

    apply_csv_upload(name, data)
    show_upload_outcome()
    st.markdown(f"DATASET IN USE: {state.current_dataset().name}")


def test_a_bad_upload_gives_its_message_and_keeps_the_previous_dataset():
    at = AppTest.from_function(_upload_script, default_timeout=TIMEOUT, args=("wrong.csv", b"foo,bar\n1,2\n")).run()
    assert not at.exception
    error = "\n".join(e.value for e in at.error)
    assert "wrong.csv was not used" in error
    assert "missing column(s)" in error
    assert "Nothing changed: still using Cleveland (built-in)" in "\n".join(i.value for i in at.info).replace("**", "")
    assert "DATASET IN USE: Cleveland (built-in)" in page_text(at)


def test_a_good_upload_becomes_the_dataset_and_its_conversions_are_reported():
    from model.data.codings import uci_to_kaggle
    from model.data.datasets import load_dataset

    kaggle = uci_to_kaggle(load_dataset("cleveland")).to_csv(index=False).encode()
    at = AppTest.from_function(_upload_script, default_timeout=TIMEOUT, args=("heart.csv", kaggle)).run()
    assert not at.exception
    assert "heart.csv is now the dataset for every page" in "\n".join(s.value for s in at.success)
    assert "Codings were converted" in "\n".join(i.value for i in at.info)
    assert "DATASET IN USE: Uploaded: heart.csv" in page_text(at)


def test_a_file_without_an_outcome_is_not_explored():
    from model.data.datasets import load_dataset

    features_only = load_dataset("cleveland").drop(columns="target").to_csv(index=False).encode()
    at = AppTest.from_function(_upload_script, default_timeout=TIMEOUT, args=("x.csv", features_only)).run()
    assert not at.exception
    assert "no outcome column" in "\n".join(e.value for e in at.error)
    assert "DATASET IN USE: Cleveland (built-in)" in page_text(at)


def _sites_script(files):
    import streamlit as st

    from dashboard import state
    from dashboard.explore_sources import KEY_SITES_OUTCOME, apply_site_files
    from dashboard.explore_views import render_views

    apply_site_files(files)
    kind, message = st.session_state[KEY_SITES_OUTCOME]
    (st.success if kind == "success" else st.error)(message)
    render_views(state.current_dataset().frame)


def test_uploaded_uci_site_files_are_explored_by_site(shared_data_dir):
    files = [(path.name, path.read_bytes()) for path in sorted(shared_data_dir.glob("processed.*.data"))]
    at = AppTest.from_function(_sites_script, default_timeout=TIMEOUT, args=(files,)).run()
    assert not at.exception
    assert "920 patients" in at.success[0].value
    assert "Sites" in [tab.label for tab in at.tabs]
    assert at.session_state["heart.dataset"].source == "uci_sites"
    assert at.session_state["heart.uci_sites"]["site"].nunique() == 4


def test_a_wrongly_named_site_file_changes_nothing():
    at = AppTest.from_function(_sites_script, default_timeout=TIMEOUT, args=([("notes.txt", b"1,2,3\n")],)).run()
    assert not at.exception
    assert "not used" in at.error[0].value
    assert at.session_state["heart.dataset"].name == "Cleveland (built-in)"


def test_the_dataset_chosen_on_one_page_is_used_on_every_page(app):
    # AppTest drops the sidebar on every run after the first when st.navigation is used, so the
    # sidebar is read on a first run; the browser tests check it across pages and reruns.
    from dashboard.state import KEY_DATASET, SOURCE_UPLOAD, DatasetChoice
    from model.data.datasets import load_dataset

    frame = load_dataset("cleveland").head(120)
    app.session_state[KEY_DATASET] = DatasetChoice("Uploaded: mine.csv", frame, SOURCE_UPLOAD)
    app.run()
    assert "Uploaded: mine.csv" in _sidebar_text(app)
    assert "120 patients" in _sidebar_text(app)
    app.switch_page("app_pages/explore.py").run()
    assert not app.exception
    assert "Exploring **Uploaded: mine.csv**" in page_text(app)
    assert "120 of 120 patients selected" in page_text(app)
    # A new browser session starts again from the built-in data.
    fresh = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert "Cleveland (built-in)" in _sidebar_text(fresh)


def test_sidebar_names_the_model_quality_from_either_kind_of_metadata():
    from dashboard.sidebar import _model_caption
    from dashboard.state import ActiveModel

    shipped = ActiveModel("Shipped", object(), {"metrics": {"roc_auc": {"mean": 0.912}, "accuracy": {"mean": 0.84}}})
    trained = ActiveModel("Run 1", object(), {"validation_metrics": {"roc_auc": 0.9, "accuracy": 0.8}})
    assert _model_caption(shipped) == "Cross-validated AUC 0.91, accuracy 0.84"
    assert _model_caption(trained) == "Validation AUC 0.90, accuracy 0.80"
    assert _model_caption(ActiveModel("bare", object(), {})) == ""
