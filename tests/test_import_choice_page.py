"""The Explore upload asks for the coding of a file that fits two, with a preview of both readings (AppTest)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

TIMEOUT = 120


def _ambiguous_kaggle_rows():
    """12 rows of the Kaggle copy whose every code is also a valid UCI code (too few for the target to decide)."""
    from model.data.codings import uci_to_kaggle
    from model.data.datasets import load_dataset

    cleveland = load_dataset("cleveland")
    kaggle = uci_to_kaggle(cleveland)
    fits_both = (kaggle["cp"] != 0) & (kaggle["slope"] != 0) & (kaggle["ca"] != 4) & ~kaggle["thal"].isin([0, 1, 2])
    # 4 patients with Kaggle target 0 (disease) and 8 with 1: the readings give 4 and 8 of 12 with disease
    chosen = (kaggle[fits_both & (kaggle["target"] == 0)].index[:4]).union(
        kaggle[fits_both & (kaggle["target"] == 1)].index[:8]
    )
    return kaggle.loc[chosen], cleveland.loc[chosen]


def _upload_script(name: str, data: bytes):
    """The page's upload handling as the file uploader drives it (one upload, then reruns)."""
    import streamlit as st

    from dashboard import state
    from dashboard.explore_sources import process_upload, show_upload_outcome

    process_upload(name, data, "upload-1")
    show_upload_outcome()
    st.markdown(f"DATASET IN USE: {state.current_dataset().name}")


def _texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_an_ambiguous_upload_offers_both_readings_and_reads_the_chosen_one():
    from dashboard import state

    kaggle_rows, uci_rows = _ambiguous_kaggle_rows()
    data = kaggle_rows.to_csv(index=False).encode()
    at = AppTest.from_function(_upload_script, default_timeout=TIMEOUT, args=("heart.csv", data)).run()
    assert not at.exception
    assert "heart.csv fits two codings" in "\n".join(w.value for w in at.warning)
    assert "#### Read as UCI coding" in _texts(at) and "#### Read as Kaggle coding" in _texts(at)
    n_one = int(kaggle_rows["target"].sum())
    assert f"Prevalence: **disease in {n_one} of 12 patients ({100 * n_one / 12:.1f} %)**" in _texts(at)
    assert f"Prevalence: **disease in {12 - n_one} of 12 patients ({100 * (12 - n_one) / 12:.1f} %)**" in _texts(at)
    uci_preview, kaggle_preview = (frame.value for frame in at.dataframe)
    assert set(uci_preview["Thallium stress test"]) == {"Normal"}
    assert set(kaggle_preview["Thallium stress test"]) == {"Reversible defect"}
    assert "DATASET IN USE: Cleveland (built-in)" in _texts(at)  # nothing changes before the choice

    at.button(key="explore.coding.kaggle").click().run()
    assert not at.exception
    assert (
        "heart.csv is now the dataset for every page (12 patients, read in the Kaggle coding as you chose)"
        in "\n".join(s.value for s in at.success)
    )
    assert "DATASET IN USE: Uploaded: heart.csv" in _texts(at)
    chosen = at.session_state[state.KEY_DATASET].frame
    assert chosen["target"].tolist() == uci_rows["target"].tolist()  # the Kaggle target, inverted on reading
    assert chosen["thal"].tolist() == uci_rows["thal"].tolist()


def test_a_file_whose_coding_is_clear_is_read_without_a_choice():
    from model.data.codings import uci_to_kaggle
    from model.data.datasets import load_dataset

    data = uci_to_kaggle(load_dataset("cleveland")).to_csv(index=False).encode()
    at = AppTest.from_function(_upload_script, default_timeout=TIMEOUT, args=("heart.csv", data)).run()
    assert not at.exception and not at.warning and not at.button
    assert "DATASET IN USE: Uploaded: heart.csv" in _texts(at)
