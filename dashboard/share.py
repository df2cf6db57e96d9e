"""The playground's setup in the page URL: open a shared link and get the same data, network and seed.

The codec (model.serving.share_link) is plain Python and never raises; here the page applies a
link's setup once per session, on its first visit, says what in the link could not be used, and
keeps the URL in step with the settings so that the address bar is always a link to what is shown.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from dashboard import configure_form, state
from dashboard.playground_settings import set_data_choice
from model.data.schema import short_repr
from model.nn.config import ANNConfig
from model.serving.share_link import DataChoice, PlaygroundSetup, decode, encode

logger = logging.getLogger(__name__)

KEY_LINK_APPLIED = "playground.link_applied"  # the link of this session's first visit was read
KEY_LINK_MESSAGE = "playground.link_message"  # (kind, text) about the link that was applied
PAGE_PATH = "train"  # the Train page's url_path in app.py


def apply_link_once() -> None:
    """On the session's first visit to the page, take the setup a shared link carries (if any)."""
    ss = st.session_state
    if ss.get(KEY_LINK_APPLIED):
        return
    ss[KEY_LINK_APPLIED] = True
    result = decode(st.query_params.to_dict())
    if result.setup is None:
        return
    state.set_ann_config(result.setup.config)
    set_data_choice(result.setup.data)
    ss[configure_form.KEY_RELOAD] = True
    if result.problems:
        logger.info("shared link with %d problem(s): %s", len(result.problems), short_repr(result.problems, 200))
        listed = "\n".join(f"- {problem}" for problem in result.problems)
        ss[KEY_LINK_MESSAGE] = (
            "warning",
            f"The link was opened, but part of it could not be used; defaults were taken instead:\n\n{listed}",
        )
    else:
        ss[KEY_LINK_MESSAGE] = ("success", "Setup restored from the shared link: same data, network and seed.")


def show_link_message() -> None:
    message = st.session_state.pop(KEY_LINK_MESSAGE, None)
    if message:
        (st.warning if message[0] == "warning" else st.success)(message[1], icon=":material/link:")


def share_url(params: dict[str, str]) -> str:
    scheme, netloc, *_ = urlsplit(st.context.url or "http://localhost:8501")
    return urlunsplit((scheme, netloc, f"/{PAGE_PATH}", urlencode(params), ""))


def render_link(config: ANNConfig, choice: DataChoice) -> None:
    """Keep the address bar in step with the setup, and show the link with a copy button."""
    st.markdown("**Share this setup**")
    if config.errors():
        st.caption("A link is offered once the configuration can be trained.")
        return
    params = encode(PlaygroundSetup(config=config, data=choice))
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    st.code(share_url(params), language=None, wrap_lines=True)
    st.caption("Copy the link with the button at its right: it opens this data, network and seed in any browser.")
