"""The sidebar every page shows: dataset, device and active model in use, and the comparison or search running.

While this session's comparison or search job runs, a fragment here redraws its progress every few seconds on
every page and sends the job a heartbeat with each redraw: the job's watchdog (model.jobs) cancels it
once the heartbeats stop, i.e. once the browser session is gone.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import state

logger = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def _device_description(requested: str) -> str:
    from model.runtime.device import describe_device, resolve_device

    return describe_device(resolve_device(requested))


def device_in_use() -> str:
    """The device training would use now (the session's config device, "auto" by default); when the
    configured one is not usable here, the automatic choice and why. Before any page has loaded torch,
    the setting only: asking torch would cost the landing page its cold start (dashboard.state)."""
    requested = str(state.ann_config().device or "auto")
    if not state.model_libraries_loaded():
        return f"{requested} (resolved when a page that trains or predicts opens)"
    from model.runtime.device import DeviceUnavailableError

    # DeviceUnavailableError: e.g. "cuda" asked for on a CPU-only host; RuntimeError: torch cannot query
    # the accelerator (e.g. a broken driver). Either is shown in the sidebar rather than breaking the page.
    try:
        return _device_description(requested)
    except (DeviceUnavailableError, RuntimeError) as error:
        logger.warning("device %r cannot be used here", requested, exc_info=True)
        problem = f"requested {requested}: {error}"
    if requested == "auto":
        return f"unknown ({problem})"
    try:
        return f"{_device_description('auto')} ({problem})"
    except (DeviceUnavailableError, RuntimeError) as error:
        logger.warning("the automatic device cannot be described either", exc_info=True)
        return f"unknown ({error}; {problem})"


HEARTBEAT_SECONDS = 2.0  # well inside model.runtime.jobs.HEARTBEAT_TIMEOUT_S


@st.fragment(run_every=HEARTBEAT_SECONDS)
def _job_heartbeat(job, label: str = "Comparison") -> None:
    """The running job's state in a line; each run (every HEARTBEAT_SECONDS while the page is open) is a heartbeat."""
    job.heartbeat()
    if not job.is_active:
        st.rerun(scope="app")  # it ended: a full run draws the final state and drops this timer
    st.markdown(f"**{label}:** {job.status.words}, {job.fraction:.0%}")
    st.caption(job.message)


# (label, the session's job, the page that shows it, the link's words and icon)
JOBS = (
    ("Comparison", state.compare_job, "app_pages/compare.py", "See the comparison", ":material/leaderboard:"),
    ("Search", state.search_job, "app_pages/configure.py", "See the search", ":material/travel_explore:"),
)


def render_jobs() -> None:
    """This session's comparison and search: live while they run (with the heartbeat), their end state afterwards."""
    for label, current_job, page, link, icon in JOBS:
        job = current_job()
        if job is None:
            continue
        if job.is_active:
            _job_heartbeat(job, label)
            st.page_link(page, label=link, icon=icon)
        else:
            st.markdown(f"**{label}:** {job.status.words}")


SHOWN_METRICS = {"roc_auc": "AUC", "accuracy": "accuracy"}


def _model_caption(model: state.ActiveModel | state.ModelSummary) -> str:
    """ "Cross-validated AUC 0.91, accuracy 0.84" from the shipped bundle's metadata (metric -> {mean, ...}),
    or "Validation ..." from a trained run's (metric -> value)."""
    metadata = model.metadata if isinstance(model.metadata, dict) else {}
    for key, prefix in (("metrics", "Cross-validated"), ("validation_metrics", "Validation")):
        metrics = metadata.get(key)
        if not isinstance(metrics, dict):
            continue
        parts = []
        for name, shown in SHOWN_METRICS.items():
            value = metrics.get(name)
            value = value.get("mean") if isinstance(value, dict) else value
            if isinstance(value, (int, float)):
                parts.append(f"{shown} {value:.2f}")
        if parts:
            return f"{prefix} " + ", ".join(parts)
    return ""


def render_sidebar(model: state.ActiveModel | state.ModelSummary) -> None:
    """`model`: the loaded active model on the pages that answer with it, else its summary (no torch needed)."""
    with st.sidebar:
        st.markdown("#### In use this session")
        try:
            dataset = state.current_dataset()
        except (OSError, ValueError, KeyError) as error:  # the built-in file unreadable: keep every page usable
            logger.exception("the built-in data could not be loaded")
            st.error(f"**Dataset:** the built-in data could not be loaded ({error}).")
        else:
            st.markdown(f"**Dataset:** {dataset.name}")
            st.caption(f"{dataset.n_rows:,} patients · {_source_text(dataset.source)}")

        st.markdown(f"**Device:** {device_in_use()}")

        if model.error is not None:
            st.markdown(f"**Model:** {model.name}")
            st.caption(model.error or "not available")
        else:
            st.markdown(f"**Model:** {model.display_name}")
            caption = _model_caption(model)
            if caption:
                st.caption(caption)
            if model.notice:
                st.warning(
                    "The shipped model files are damaged: a retrained copy of the default network is in "
                    "use. Details on **Start here**.",
                    icon=":material/build:",
                )
        render_jobs()
        st.caption("Research and education only — not a medical device.")


def _source_text(source: str) -> str:
    return {
        state.SOURCE_BUILTIN: "shipped with the app",
        state.SOURCE_UCI_SITES: "UCI sites (downloaded or uploaded)",
        state.SOURCE_UPLOAD: "your uploaded CSV",
    }.get(source, source)
