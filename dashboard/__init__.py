"""Streamlit presentation helpers shared by the pages: session state, sidebar, chart look.

Computation lives in `model/`; these modules only hold per-session state and draw.
"""
