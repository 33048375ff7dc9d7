"""``python -m btedge.dashboard.serve run app.py ...``: Streamlit's own command line, with the live
page's modules imported first.

Streamlit runs the page script in the server's process, so whatever the script imports is loaded
when the first browser connects: pandas and scipy (``btedge.kernels``) take seconds on a
busy machine. Importing them here, before the server starts, moves that wait to start-up (before
``btedge-dashboard``'s URL answers) instead of the first page load.
"""
from __future__ import annotations

import sys

import btedge.dashboard.charts  # noqa: F401  (preload: the page script's imports)
import btedge.dashboard.live  # noqa: F401
import btedge.dashboard.news  # noqa: F401
import btedge.dashboard.runs  # noqa: F401


def main() -> int:
    """Hand the command line to Streamlit (``streamlit run ...``)."""
    from streamlit.web.cli import main as streamlit_main

    return streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
