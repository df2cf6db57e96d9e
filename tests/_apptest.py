"""Helpers shared by the AppTest page tests: open a page through the router, read what it says."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

TEXT_ELEMENTS = ("markdown", "caption", "warning", "error", "info", "success", "title")


def page_text(at: AppTest) -> str:
    """Every text element the last run showed, one per line."""
    return "\n".join(str(element.value) for kind in TEXT_ELEMENTS for element in getattr(at, kind))


def open_page(page: str, session_state: dict | None = None, timeout: float = 240) -> AppTest:
    """Run app.py (the router) with `session_state` seeded, then switch to `page` (e.g. "app_pages/compare.py")."""
    at = AppTest.from_file("../app.py", default_timeout=timeout)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    return at
