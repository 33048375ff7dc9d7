"""The trading cockpit: a Streamlit dashboard over the live order journal, backtest runs, a
screener and news (``btedge-dashboard``).

The logic lives in plain modules (no Streamlit import): :mod:`.journal_view` reads the journal
read-only, :mod:`.tape` records and reads the bars a live run saw, :mod:`.overlays` computes the
chart's indicators, :mod:`.runs` reads backtest run folders, :mod:`.news` fetches and caches
headlines, :mod:`.screener` scans a panel. :mod:`.app` is the thin Streamlit page and
:mod:`.cli` starts it. Needs the ``dashboard`` extra (streamlit, feedparser).
"""
