"""Headlines for the traded symbols from RSS/Atom feeds, parsed with ``feedparser``.

The design's source is Yahoo Finance's per-ticker headline feed (:data:`YAHOO_RSS`). Feeds are
fetched with a timeout, by the dashboard (never inside a trading loop), and merged into an on-disk
JSON cache, deduplicated by the entry's id (its link, else its title), each stored with its
published time and the time it was first seen. When a fetch fails the cache is shown and
:class:`Headlines` says the page is offline and since when.
"""
from __future__ import annotations

import calendar
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

YAHOO_RSS = "https://feeds.finance.yahoo.com/rss/2.0/headline?s={symbol}&region=US&lang=en-US"
USER_AGENT = "btedge-dashboard (feedparser)"


@dataclass(frozen=True)
class Headlines:
    """Cached headlines, newest first; ``offline`` holds the fetch error when the last fetch failed."""

    items: list[dict[str, Any]]
    offline: str | None = None
    fetched: float | None = None


def parse_feed(data: bytes | str, symbol: str, seen: float | None = None) -> list[dict[str, Any]]:
    """Entries of one RSS/Atom document as dicts: ``id``, ``symbol``, ``title``, ``link``,
    ``published`` (epoch seconds, None when the feed gives none), ``seen``, ``source``."""
    import feedparser

    parsed = feedparser.parse(data)
    seen = time.time() if seen is None else seen
    items = []
    for entry in parsed.entries:
        title = (entry.get("title") or "").strip()
        link = (entry.get("link") or "").strip()
        if not title:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append({
            "id": entry.get("id") or link or title,
            "symbol": symbol,
            "title": title,
            "link": link,
            "published": float(calendar.timegm(stamp)) if stamp else None,
            "seen": seen,
            "source": parsed.feed.get("title", ""),
        })
    return items


def fetch(url: str, timeout: float = 5.0) -> bytes:
    """The body at ``url`` (GET, ``timeout`` seconds for the connection and each read)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) feed URL)
        return response.read()


def merge(cached: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union by ``(symbol, id)``; an entry already cached keeps its first ``seen``. Newest first."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for item in [*cached, *new]:
        out.setdefault((item["symbol"], item["id"]), item)
    return sorted(out.values(), key=lambda i: (i["published"] or i["seen"]), reverse=True)


class NewsCache:
    """Headlines of some symbols cached in ``<folder>/news.json``.

    Params:
      - ``folder``: the cache folder (created on the first write)
      - ``url`` (default: :data:`YAHOO_RSS`): feed URL with ``{symbol}``
      - ``timeout`` (default: ``5.0``): seconds per fetch
      - ``keep`` (default: ``200``): headlines kept per symbol
    """

    def __init__(self, folder: str | Path, url: str = YAHOO_RSS, timeout: float = 5.0, keep: int = 200) -> None:
        self.path = Path(folder) / "news.json"
        self.url, self.timeout, self.keep = url, timeout, keep

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"items": [], "fetched": None, "offline": None}

    def headlines(self, symbols: Iterable[str]) -> Headlines:
        """The cache for ``symbols``, without fetching."""
        state = self.load()
        wanted = set(symbols)
        return Headlines([i for i in state["items"] if i["symbol"] in wanted], state.get("offline"), state.get("fetched"))

    def refresh(self, symbols: Iterable[str]) -> Headlines:
        """Fetch each symbol's feed, merge into the cache and save it; a failed fetch leaves the
        cache as it was and marks it offline with the error."""
        symbols = list(symbols)
        state = self.load()
        new: list[dict[str, Any]] = []
        errors = []
        for symbol in symbols:
            url = self.url.format(symbol=symbol)
            try:
                new.extend(parse_feed(fetch(url, self.timeout), symbol))
            except (OSError, urllib.error.URLError, ValueError) as exc:
                errors.append(f"{symbol}: {getattr(exc, 'reason', exc)}")
        items = merge(state["items"], new)
        kept = _newest_per_symbol(items, self.keep)
        state = {"items": kept, "fetched": time.time() if not errors else state.get("fetched"),
                 "offline": "; ".join(errors) or None}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)
        if errors:
            log.info("news offline: %s", state["offline"])
        return self.headlines(symbols)


def _newest_per_symbol(items: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """The first ``keep`` items of each symbol (items newest first)."""
    counts: dict[str, int] = {}
    kept = []
    for item in items:
        counts[item["symbol"]] = counts.get(item["symbol"], 0) + 1
        if counts[item["symbol"]] <= keep:
            kept.append(item)
    return kept
