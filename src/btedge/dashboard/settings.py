"""The dashboard's settings: ``btedge-dashboard`` passes them to the Streamlit script in the
environment (``BTEDGE_DASHBOARD_*``), so the script and ``AppTest`` read them the same way."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from btedge.dashboard.news import YAHOO_RSS

PREFIX = "BTEDGE_DASHBOARD_"


@dataclass(frozen=True)
class Settings:
    """What the pages read. ``journal``: the live order journal; ``runs``: a folder of backtest
    runs; ``panel``: a close panel for the screener; ``news_url``: feed URL with ``{symbol}``
    (empty: no news); ``news_dir``: the headline cache; ``refresh``: seconds between live
    refreshes; ``news_every``: seconds between feed fetches; ``bars``: bars on the live chart;
    ``advice``: a co-pilot advice journal (JSONL) to list; ``watch``: seconds between checks for a
    changed journal or tape, which redraw the live page at once (0: only every ``refresh``)."""

    journal: str = ""
    runs: str = ""
    panel: str = ""
    news_url: str = YAHOO_RSS
    news_dir: str = ""
    refresh: float = 2.0
    news_every: float = 300.0
    bars: int = 300
    advice: str = ""
    watch: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = type(getattr(cls, f.name))(raw) if not isinstance(getattr(cls, f.name), str) else raw
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @property
    def news_folder(self) -> Path:
        if self.news_dir:
            return Path(self.news_dir)
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("btedge")) / "news"
