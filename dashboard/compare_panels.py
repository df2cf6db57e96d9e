"""Widgets of the comparison page: the settings form, cached runs, and the result tabs.

Computation is model.comparison; figures are dashboard.compare_views. Runs are cached with
st.cache_data on (data fingerprint, ANN config JSON, protocol, models), so a second visit,
or a second user with the same data and settings, gets the result at once; the session also
keeps its last result so leaving the page and returning shows it without any work.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import compare_views as views
from dashboard import state
from dashboard.charts import show
from model.comparison import (
    CLASSICAL_NAMES,
    DEFAULT_MODELS,
    MODEL_NAMES,
    PERCEPTRON_NAME,
    ComparisonReport,
    ExternalValidation,
    Protocol,
    external_validation,
    checked_features_and_target,
    protocol_problems,
    run_comparison,
    selection_problems,
    workload_problems,
)
from model.compute_slots import ServerBusyError
from model.config import ANNConfig
from model.exploration import frame_fingerprint
from model.limits import MAX_CV_FOLDS, MAX_CV_REPEATS
from model.runs import config_summary

KEY_LAST = "compare.last_run"          # LastRun of this session
KEY_FORM_MODELS = "compare.form.models"
KEY_FORM_FOLDS = "compare.form.folds"
KEY_FORM_REPEATS = "compare.form.repeats"
KEY_FORM_SEED = "compare.form.seed"
KEY_FORM_CURVES = "compare.form.curves"
KEY_FORM_IMPORTANCE = "compare.form.importance"
KEY_FORM_EXTERNAL = "compare.form.external"
KEY_IMPORTANCE_MODEL = "compare.importance_model"
KEY_RUN = "compare.run"


@dataclass(frozen=True)
class Settings:
    names: tuple[str, ...]
    protocol: Protocol
    learning_curve: bool
    importance: bool
    external: bool


@dataclass
class LastRun:
    settings: Settings
    data_key: str
    dataset_name: str
    config_json: str
    report: ComparisonReport
    external: ExternalValidation | None
    external_error: str | None = None


class _Bar:
    """st.progress updated only when the shown percentage changes (each update is a message)."""

    def __init__(self, text: str):
        self.bar, self.percent = st.progress(0, text=text), -1

    def __call__(self, fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if percent != self.percent:
            self.percent = percent
            self.bar.progress(percent, text=f"{message} ({percent}%)")

    def done(self) -> None:
        self.bar.empty()


@st.cache_data(show_spinner=False, max_entries=8)
def cached_comparison(data_key: str, config_json: str, protocol: tuple, names: tuple, extras: tuple,
                      _frame: pd.DataFrame) -> ComparisonReport:
    """Keyed on the data fingerprint, config, protocol and models; `_frame` is not hashed."""
    bar = _Bar("Starting the comparison…")
    report = run_comparison(_frame, list(names), ANNConfig.from_json(config_json), Protocol(*protocol), bar,
                            with_learning_curve=extras[0], with_importance=extras[1])
    bar.done()
    return report


@st.cache_data(show_spinner=False, max_entries=8)
def cached_external(sites_key: str, config_json: str, names: tuple, _sites: pd.DataFrame) -> ExternalValidation:
    bar = _Bar("External validation…")
    validation = external_validation(_sites, list(names), ANNConfig.from_json(config_json), progress=bar)
    bar.done()
    return validation


# ------------------------------------------------------------------ the form
def render_form(config: ANNConfig, sites_loaded: bool) -> Settings | None:
    """The settings form; returns Settings when submitted."""
    with st.form("compare.form", border=True):
        names = st.multiselect(
            "Models", MODEL_NAMES, default=list(DEFAULT_MODELS), key=KEY_FORM_MODELS,
            help=f"Seven classical models, the ANN as configured ({config_summary(config)}), and the "
                 f"single perceptron (no hidden layer).")
        cols = st.columns(3)
        folds = cols[0].number_input("Folds", 2, MAX_CV_FOLDS, 5, key=KEY_FORM_FOLDS,
                                     help=f"k of stratified k-fold cross-validation (2 to {MAX_CV_FOLDS}).")
        repeats = cols[1].number_input("Repeats", 1, MAX_CV_REPEATS, 10, key=KEY_FORM_REPEATS,
                                       help=f"How many times the k folds are reshuffled (1 to {MAX_CV_REPEATS}). "
                                            "More repeats: narrower intervals, longer run.")
        seed = cols[2].number_input("Seed", 0, 2**31 - 1, 0, key=KEY_FORM_SEED,
                                    help="Fixes the folds: every model sees exactly the same ones.")
        cols = st.columns(3)
        curves = cols[0].checkbox("Learning curves", True, key=KEY_FORM_CURVES,
                                  help="ANN and best classical model trained on 10% … 100% of each fold.")
        importance = cols[1].checkbox("Permutation importance", True, key=KEY_FORM_IMPORTANCE,
                                      help="Per model, on the held-out rows of the first repeat's folds.")
        external = cols[2].checkbox("External validation", sites_loaded, key=KEY_FORM_EXTERNAL,
                                    disabled=not sites_loaded,
                                    help="Train on Cleveland, test on Hungary, Switzerland and VA "
                                         + ("." if sites_loaded else "(load the four UCI sites first)."))
        submitted = st.form_submit_button("Run comparison", type="primary", icon=":material/play_arrow:", key=KEY_RUN)
    if not submitted:
        return None
    return Settings(tuple(n for n in MODEL_NAMES if n in names), Protocol(int(folds), int(repeats), int(seed)),
                    bool(curves), bool(importance), bool(external and sites_loaded))


def settings_problems(settings: Settings, frame: pd.DataFrame, config: ANNConfig) -> list[str]:
    """Everything that stops a run, in plain words."""
    problems = selection_problems(settings.names)
    try:
        _, y = checked_features_and_target(frame)
    except ValueError as error:
        return problems + [f"This dataset cannot be compared: {error}."]
    problems += protocol_problems(y, settings.protocol)
    problems += workload_problems(len(frame), settings.protocol)
    if any(n not in CLASSICAL_NAMES and n != PERCEPTRON_NAME for n in settings.names):
        problems += [f"The ANN configuration is not valid: {e}. Fix it on the configuration page."
                     for e in config.errors()]
    return problems


def run(settings: Settings, dataset: state.DatasetChoice, config: ANNConfig) -> LastRun:
    """The comparison (cached), then the external validation when asked; saved in the session."""
    data_key = frame_fingerprint(dataset.frame)
    config_json = config.to_json(indent=None)
    protocol = (settings.protocol.n_splits, settings.protocol.n_repeats, settings.protocol.seed)
    report = cached_comparison(data_key, config_json, protocol, settings.names,
                               (settings.learning_curve, settings.importance), dataset.frame)
    external, error = None, None
    sites = state.uci_sites()
    if settings.external and sites is not None:
        try:
            external = cached_external(frame_fingerprint(sites), config_json, settings.names, sites)
        except (ValueError, ServerBusyError) as problem:  # the comparison itself is kept and shown
            error = str(problem)
    last = LastRun(settings, data_key, dataset.name, config_json, report, external, error)
    st.session_state[KEY_LAST] = last
    return last


def last_run() -> LastRun | None:
    return st.session_state.get(KEY_LAST)


def stale_note(last: LastRun, dataset: state.DatasetChoice, config: ANNConfig) -> str | None:
    """Why the shown result may not match the current data or network (None when it does)."""
    changed = []
    if frame_fingerprint(dataset.frame) != last.data_key:
        changed.append(f"the dataset (these results are for {last.dataset_name})")
    if config.to_json(indent=None) != last.config_json and any(n not in CLASSICAL_NAMES for n in last.settings.names):
        changed.append("the ANN configuration")
    if not changed:
        return None
    return "Since this comparison ran, " + " and ".join(changed) + " changed. Press **Run comparison** to update."


# ------------------------------------------------------------------ the results
def render_results(last: LastRun) -> None:
    report = last.report
    st.caption(f"{report.protocol.describe()} on {report.n_rows:,} patients ({last.dataset_name}): "
               f"{report.protocol.n_fits} identical train/test splits for every model.")
    tabs = st.tabs(["Leaderboard", "ROC & calibration", "Learning curves", "Permutation importance",
                    "Classical ML vs deep learning", "External validation"])
    with tabs[0]:
        _leaderboard(report)
    with tabs[1]:
        cols = st.columns(2)
        with cols[0]:
            show(views.roc_figure(report), key="compare.roc")
        with cols[1]:
            show(views.calibration_figure(report), key="compare.calibration")
        st.caption("Each model's out-of-fold predictions from every repeat, pooled: each patient is predicted "
                   "by a model that never saw them, once per repeat.")
    with tabs[2]:
        _learning(report)
    with tabs[3]:
        _importance(report)
    with tabs[4]:
        _evidence(report)
    with tabs[5]:
        _external(last)


def _leaderboard(report: ComparisonReport) -> None:
    st.dataframe(views.leaderboard_styler(report), width="stretch")
    st.caption("Mean over all folds with its 95% interval (Nadeau–Bengio corrected t, which allows for the "
               "overlap between training sets). Green: best per column (lowest for Brier score and times). "
               "Times are per fold and leave out the preprocessing, which every model shares; the ANN's and "
               "perceptron's fold networks train together, so theirs is that batched time divided by the "
               "number of folds.")
    for sentence in views.significance_sentences(report):
        st.markdown(f"- {sentence}")
    st.download_button("Download the leaderboard (CSV)", report.leaderboard_csv(), file_name="leaderboard.csv",
                       mime="text/csv", icon=":material/download:", key="compare.download")
    with st.expander("Where the time went"):
        show(views.time_figure(report), key="compare.times")
        seconds = pd.Series(report.stage_seconds, name="seconds").round(2)
        st.dataframe(seconds.to_frame(), width="stretch")


def _learning(report: ComparisonReport) -> None:
    fig = views.learning_curve_figure(report)
    if fig is None:
        st.info("Learning curves need at least one classical model and the ANN or perceptron, with "
                "**Learning curves** ticked.")
        return
    show(fig, key="compare.learning")
    st.caption(f"{report.deep_model} and the best classical model ({report.best_classical}) trained on nested, "
               f"stratified subsets of each training fold of the first repeat and scored on the same held-out "
               f"fold.")


def _importance(report: ComparisonReport) -> None:
    fig = views.importance_heatmap(report)
    if fig is None:
        st.info("Tick **Permutation importance** and run again to see which features each model used.")
        return
    show(fig, key="compare.importance_heatmap")
    for note in report.notes:
        st.caption(note)
    models = list(report.result._ranked_models())
    model = st.selectbox("Features one model needed", models, key=KEY_IMPORTANCE_MODEL)
    show(views.importance_bars(report, model), key="compare.importance_bars")


def _evidence(report: ComparisonReport) -> None:
    st.markdown("The course contrasts classical machine learning and deep learning on four points. "
                "Here each is filled with what this run measured.")
    st.table(report.evidence().set_index("Aspect"))
    facts = report.model_facts.rename(columns={
        "model": "Model", "family": "Family", "size": "Size of the fitted model", "size_unit": "counted as",
        "input_columns": "Input columns", "fit_all_seconds": "One fit on all patients (s)",
        "predict_all_seconds": "Predict all patients (s)"})
    st.dataframe(facts.set_index("Model"), width="stretch")


def _external(last: LastRun) -> None:
    if last.external_error:
        st.error(f"External validation could not run: {last.external_error}")
        return
    validation = last.external
    if validation is None:
        if state.uci_sites() is None:
            st.info("Load the four UCI sites (Data exploration → *Change the data* → the four UCI sites), then "
                    "run again with **External validation** ticked: models trained on Cleveland are tested on "
                    "the Hungarian, Swiss and VA Long Beach patients.", icon=":material/public:")
            st.page_link("pages/explore.py", label="Go to Data exploration", icon=":material/query_stats:")
        else:
            st.info("Tick **External validation** and run again.")
        return
    for warning in validation.warnings:
        st.warning(warning, icon=":material/warning:")
    show(views.external_metrics_figure(validation), key="compare.external")
    show(views.external_calibration_figure(validation), key="compare.external_calibration")
    st.dataframe(views.external_table(validation), width="stretch", hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in
                                ("Prevalence (observed)", "Mean predicted risk", "ROC AUC", "Accuracy",
                                 "Brier score", "Calibration slope", "Calibration intercept")})
    st.caption("Missing values by site, and what replaced them (the training site's median for numbers, "
               "its most frequent value for categories):")
    st.dataframe(views.missing_table(validation), width="stretch")

