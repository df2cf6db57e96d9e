"""Where the explored data comes from: an uploaded CSV, the four UCI sites, or the built-in file.

Each action validates first and only then replaces the session's dataset, so a rejected
file leaves the previous dataset in place. Outcomes are kept in session state (explicit
keys) so the message survives the rerun that follows an upload.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from dashboard import state
from model.data.schema import COLUMNS
from model.runtime.limits import MAX_ROWS, MAX_UPLOAD_MB

KEY_UPLOAD_OUTCOME = "explore.upload_outcome"  # UploadOutcome of the last CSV upload
KEY_UPLOAD_SEEN = "explore.upload_seen"  # file_id of the upload already processed
KEY_CODING_CHOICE = "explore.coding_choice"  # PendingCodingChoice: a file that waits for the user's coding
KEY_SITES_OUTCOME = "explore.sites_outcome"  # message after a UCI download / upload
KEY_SITES_SEEN = "explore.sites_seen"
WIDGET_CSV = "explore.csv_file"
WIDGET_CODING = "explore.coding."  # + coding: the button that reads the file in that coding
WIDGET_SITE_FILES = "explore.site_files"
WIDGET_DOWNLOAD_SITES = "explore.download_sites"
WIDGET_USE_SITES = "explore.use_sites"
WIDGET_USE_BUILTIN = "explore.use_builtin"

UCI_SITES_NAME = "UCI Heart Disease: four sites"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOutcome:
    file_name: str
    accepted: bool
    headline: str  # one plain sentence
    report_markdown: str  # the loader's report
    conversions: list[str] = field(default_factory=list)
    kept_dataset: str = ""  # the dataset still in use when the file was not used
    cleaned_csv: bytes | None = None
    needs_coding: bool = False  # the user must choose the coding (KEY_CODING_CHOICE holds the readings)


@dataclass(frozen=True)
class PendingCodingChoice:
    """A file whose values fit several codings, kept (bounded by the upload cap) until the user chooses."""

    file_name: str
    data: bytes
    readings: tuple  # model.data.coding_choice.CodingReading, one per candidate coding


def apply_csv_upload(file_name: str, data: bytes, coding: str | None = None) -> UploadOutcome:
    """Validate an uploaded CSV; use it as the session's dataset only if it is accepted and has a target.

    `coding`: None detects it; a file that fits several codings is kept with its readings
    (KEY_CODING_CHOICE) for ``render_coding_choice``, and nothing changes until the user chooses.
    """
    from model.data.coding_choice import read_candidates
    from model.data.csv_import import read_user_csv

    previous = state.current_dataset().name
    st.session_state.pop(KEY_CODING_CHOICE, None)
    try:
        result = read_user_csv(data, coding=coding)
    except Exception as error:  # the loader should not raise; never show a traceback
        logger.exception("reading the upload %s failed", file_name)
        outcome = UploadOutcome(file_name, False, f"{file_name} could not be read: {error}", "", [], previous)
    else:
        report = result.report
        markdown = report.as_markdown()
        if report.needs_coding:
            readings = tuple(read_candidates(data, report.candidate_codings))
            st.session_state[KEY_CODING_CHOICE] = PendingCodingChoice(file_name, data, readings)
            names = " or the ".join(r.name for r in readings)
            outcome = UploadOutcome(
                file_name,
                False,
                f"{file_name} can be read in the {names} coding: choose one below.",
                markdown,
                [],
                previous,
                needs_coding=True,
            )
        elif result.frame is None or not report.ok:
            outcome = UploadOutcome(
                file_name,
                False,
                f"{file_name} was not used: it has problems to fix.",
                markdown,
                list(report.conversions),
                previous,
            )
        elif not result.has_target:
            outcome = UploadOutcome(
                file_name,
                False,
                f"{file_name} has no outcome column ('target' or 'num'), so it cannot be explored by outcome. "
                "It can still be scored on the prediction page.",
                markdown,
                list(report.conversions),
                previous,
            )
        else:
            frame = result.frame
            state.set_dataset(f"Uploaded: {file_name}", frame, state.SOURCE_UPLOAD)
            chosen = report.coding_given
            read_as = f", read in the {_coding_name(chosen)} coding as you chose" if chosen else ""
            outcome = UploadOutcome(
                file_name,
                True,
                f"{file_name} is now the dataset for every page ({len(frame):,} patients{read_as}).",
                markdown,
                list(report.conversions),
                "",
                frame.to_csv(index=False).encode(),
            )
    st.session_state[KEY_UPLOAD_OUTCOME] = outcome
    return outcome


def _coding_name(coding: str) -> str:
    from model.data.import_report import CODING_NAMES

    return CODING_NAMES.get(coding, coding)


def choose_coding(coding: str) -> None:
    """Read the pending file in `coding` (button callback: runs before the page, so the sidebar sees the result)."""
    pending: PendingCodingChoice | None = st.session_state.get(KEY_CODING_CHOICE)
    if pending is None:  # a second click after the choice was made: nothing is pending any more
        return
    apply_csv_upload(pending.file_name, pending.data, coding=coding)


def render_coding_choice(pending: PendingCodingChoice) -> None:
    """The readings side by side: a few decoded rows and the prevalence of each, and a button to choose it."""
    st.warning(
        f"**{pending.file_name} fits two codings, and the file itself does not say which.** Every code in it is "
        "valid in both the UCI coding and the Kaggle coding of `heart.csv`, which number chest pain, resting ECG, "
        "ST slope and thallium differently and invert the target (in the Kaggle copies 1 = no disease). "
        "Compare the two readings and choose the one that matches where the file comes from: files named "
        "`heart.csv` from Kaggle use the Kaggle coding.",
        icon=":material/help:",
    )
    columns = st.columns(len(pending.readings))
    for column, reading in zip(columns, pending.readings, strict=True):
        with column, st.container(border=True):
            st.markdown(f"#### Read as {reading.name} coding")
            st.markdown(f"Prevalence: **{reading.prevalence_text()}**")
            if reading.usable:
                st.dataframe(reading.preview(), width="stretch")
            else:
                st.error(reading.result.report.as_markdown())
            st.button(
                f"Use the {reading.name} reading",
                key=WIDGET_CODING + reading.coding,
                type="primary",
                on_click=choose_coding,
                args=(reading.coding,),
                disabled=not reading.usable,
                icon=":material/check:",
            )


def show_upload_outcome() -> None:
    outcome: UploadOutcome | None = st.session_state.get(KEY_UPLOAD_OUTCOME)
    if outcome is None:
        return
    pending: PendingCodingChoice | None = st.session_state.get(KEY_CODING_CHOICE)
    if outcome.needs_coding and pending is not None:
        render_coding_choice(pending)
        st.info(f"Nothing changed until you choose: still using **{outcome.kept_dataset}**.")
        return
    if outcome.accepted:
        st.success(outcome.headline, icon=":material/check_circle:")
        if outcome.conversions:
            st.info(
                "**Codings were converted to the UCI coding:**\n\n" + "\n".join(f"- {c}" for c in outcome.conversions),
                icon=":material/swap_horiz:",
            )
        with st.expander("Full validation report"):
            st.markdown(outcome.report_markdown)
        stem = outcome.file_name.rsplit(".", 1)[0]
        st.download_button(
            "Download the cleaned data (UCI coding, CSV)",
            outcome.cleaned_csv,
            file_name=f"{stem}_cleaned.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
    else:
        st.error(f"**{outcome.headline}**\n\n{outcome.report_markdown}", icon=":material/error:")
        st.info(f"Nothing changed: still using **{outcome.kept_dataset}**.")


def process_upload(file_name: str, data: bytes, file_id: str) -> None:
    """Handle each upload once: the widget keeps returning the file on every rerun."""
    if st.session_state.get(KEY_UPLOAD_SEEN) == file_id:
        return
    st.session_state[KEY_UPLOAD_SEEN] = file_id
    if apply_csv_upload(file_name, data).accepted:
        st.rerun()  # the sidebar, drawn before this page, must show the new dataset


def render_csv_upload() -> None:
    st.markdown(
        "Your CSV needs the 13 columns of the codebook plus `target` (0/1) or UCI `num` (0–4). "
        "UCI, Kaggle `heart.csv` and TensorFlow-tutorial codings are recognised and converted; when the values "
        "fit two codings you choose. "
        f"Up to {MAX_UPLOAD_MB} MB and {MAX_ROWS:,} rows."
    )
    uploaded = st.file_uploader("Upload a CSV", type=["csv", "txt", "data"], key=WIDGET_CSV)
    if uploaded is not None:
        process_upload(uploaded.name, uploaded.getvalue(), uploaded.file_id)
    show_upload_outcome()


# --------------------------------------------------------------------------- UCI sites


def _use_sites(frame: pd.DataFrame, how: str) -> bool:
    state.set_uci_sites(frame)
    state.set_dataset(UCI_SITES_NAME, frame, state.SOURCE_UCI_SITES)
    sites = ", ".join(f"{site_label(site)}: {n}" for site, n in frame["site"].value_counts(sort=False).items())
    st.session_state[KEY_SITES_OUTCOME] = (
        "success",
        f"{how}: {len(frame):,} patients ({sites}). They are now the dataset for every page.",
    )
    return True


def download_sites() -> bool:
    """Download (or read from the on-disk cache) the four sites; True when they became the dataset."""
    from model.data.datasets import combine_sites, download_uci_sites

    with st.status("Fetching the four UCI files…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

        try:
            frame = combine_sites(download_uci_sites(progress=progress))
        except Exception as error:  # offline or server trouble: say so, keep the data
            logger.exception("downloading the UCI site files failed")
            status.update(label="Download failed", state="error")
            st.session_state[KEY_SITES_OUTCOME] = (
                "error",
                f"The UCI files could not be downloaded: {error}\n\n"
                f"Nothing changed: still using **{state.current_dataset().name}**.",
            )
            return False
        status.update(label="Fetched the four UCI sites", state="complete", expanded=False)
    return _use_sites(frame, "Downloaded")


def apply_site_files(files: list[tuple[str, bytes]]) -> bool:
    """Read uploaded processed.<site>.data files (any of the four sites); used only if every file is valid."""
    from model.data.datasets import combine_sites, load_uci_sites_from_files

    buffers = []
    for name, data in files:
        buffer = io.BytesIO(data)
        buffer.name = name  # the loader tells the site from the file name
        buffers.append(buffer)
    try:
        frames = load_uci_sites_from_files(buffers)
    except Exception as error:  # the loader's message names the file and the problem
        logger.exception("the uploaded UCI site files could not be read")
        st.session_state[KEY_SITES_OUTCOME] = (
            "error",
            f"These files were not used: {error}\n\nNothing changed: still using **{state.current_dataset().name}**.",
        )
        return False
    return _use_sites(combine_sites(frames), f"Read {len(frames)} site file{'s' if len(frames) != 1 else ''}")


def site_label(site: str) -> str:
    from model.data.datasets import SITE_LABELS

    return SITE_LABELS.get(site, site)


def render_uci_sites() -> None:
    st.markdown(
        "The UCI Heart Disease collection has four sites (Cleveland, Hungary, Switzerland, Long Beach VA) "
        "with very different disease rates and missing values. Download them from the UCI archive "
        "(kept in an on-disk cache) or upload the `processed.*.data` files."
    )
    changed = False
    left, right = st.columns(2)
    with left:
        if st.button("Download the four sites", key=WIDGET_DOWNLOAD_SITES, icon=":material/cloud_download:"):
            changed |= download_sites()
        if (
            state.uci_sites() is not None
            and state.current_dataset().source != state.SOURCE_UCI_SITES
            and st.button("Use the four sites again", key=WIDGET_USE_SITES)
        ):
            changed |= _use_sites(state.uci_sites(), "Back to")
    with right:
        files = st.file_uploader(
            "…or upload processed.*.data files",
            type=["data", "csv", "txt"],
            accept_multiple_files=True,
            key=WIDGET_SITE_FILES,
        )
        seen = tuple(sorted(f.file_id for f in files or []))
        if files and st.session_state.get(KEY_SITES_SEEN) != seen:
            st.session_state[KEY_SITES_SEEN] = seen
            changed |= apply_site_files([(f.name, f.getvalue()) for f in files])
    if changed:
        st.rerun()  # the sidebar, drawn before this page, must show the new dataset
    outcome = st.session_state.get(KEY_SITES_OUTCOME)
    if outcome is not None:
        kind, message = outcome
        (st.success if kind == "success" else st.error)(message)


def render_builtin() -> None:
    st.markdown(f"The 303 Cleveland Clinic patients shipped with the app (UCI coding). Columns: {', '.join(COLUMNS)}.")
    if state.current_dataset().source == state.SOURCE_BUILTIN:
        st.caption("In use now.")
    elif st.button("Use the built-in Cleveland data", key=WIDGET_USE_BUILTIN):
        state.reset_dataset()
        st.rerun()


def render_data_sources() -> None:
    upload, sites, builtin = st.tabs(["Upload a CSV", "Four UCI sites", "Built-in Cleveland"])
    with upload:
        render_csv_upload()
    with sites:
        render_uci_sites()
    with builtin:
        render_builtin()
