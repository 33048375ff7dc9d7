"""Headlines: RSS and Atom fixtures, dedup, the on-disk cache, fetch over loopback, offline."""
from __future__ import annotations

import calendar
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from btedge.dashboard.news import NewsCache, merge, parse_feed

FIXTURES = Path(__file__).with_name("fixtures")


def test_rss_entries_with_times():
    items = parse_feed((FIXTURES / "spy_rss.xml").read_bytes(), "SPY", seen=1.0)
    assert [i["title"] for i in items] == ["Stocks edge higher as traders weigh rate path",
                                           "S&P 500 ETF sees record inflows"]  # blank title dropped
    assert items[0]["id"] == "spy-0001" and items[0]["link"].endswith("stocks-edge-higher")
    assert items[0]["published"] == calendar.timegm((2024, 1, 2, 14, 35, 0))
    assert items[0]["seen"] == 1.0 and items[0]["source"] == "Yahoo! Finance: SPY News"


def test_atom_entries_and_a_missing_date():
    items = parse_feed((FIXTURES / "btc_atom.xml").read_bytes(), "BTC-USD", seen=2.0)
    assert items[0]["published"] == calendar.timegm((2024, 1, 3, 8, 30, 0))
    assert items[1]["published"] is None and items[1]["link"] == "https://crypto.example/a/2"


def test_merge_dedups_and_keeps_first_seen():
    first = parse_feed((FIXTURES / "spy_rss.xml").read_bytes(), "SPY", seen=1.0)
    again = parse_feed((FIXTURES / "spy_rss.xml").read_bytes(), "SPY", seen=9.0)
    merged = merge(first, again)
    assert len(merged) == 2 and {i["seen"] for i in merged} == {1.0}
    assert merged[0]["title"].startswith("S&P 500"), "newest first"


class _Feeds(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        time.sleep(self.delay)
        name = {"SPY": "spy_rss.xml", "BTC": "btc_atom.xml"}.get(self.path.rsplit("=", 1)[-1])
        if name is None:
            self.send_error(404)
            return
        body = (FIXTURES / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed?s={{symbol}}"
    server.shutdown()
    server.server_close()


def test_fetch_caches_on_disk_and_dedups(tmp_path, feed_server):
    cache = NewsCache(tmp_path, feed_server, timeout=2.0)
    got = cache.refresh(["SPY", "BTC"])
    assert got.offline is None and got.fetched is not None and len(got.items) == 4
    assert (tmp_path / "news.json").exists()
    again = NewsCache(tmp_path, feed_server).refresh(["SPY", "BTC"])
    assert len(again.items) == 4, "a second fetch adds no duplicates"
    assert [i["symbol"] for i in NewsCache(tmp_path).headlines(["SPY"]).items] == ["SPY", "SPY"]


def test_offline_shows_the_cache_and_says_so(tmp_path, feed_server):
    NewsCache(tmp_path, feed_server).refresh(["SPY"])
    dead = "http://127.0.0.1:9/feed?s={symbol}"  # discard port: connection refused
    got = NewsCache(tmp_path, dead, timeout=1.0).refresh(["SPY"])
    assert got.offline and "SPY" in got.offline
    assert len(got.items) == 2, "the cached headlines stay"
    assert got.fetched is not None, "the time of the last good fetch is kept"


def test_slow_feed_times_out(tmp_path, feed_server, monkeypatch):
    monkeypatch.setattr(_Feeds, "delay", 1.5)
    start = time.monotonic()
    got = NewsCache(tmp_path, feed_server, timeout=0.3).refresh(["SPY"])
    assert time.monotonic() - start < 1.4
    assert got.offline and "timed out" in got.offline and got.items == []


def test_http_error_is_offline(tmp_path, feed_server):
    got = NewsCache(tmp_path, feed_server).refresh(["NOPE"])
    assert got.offline and "NOPE" in got.offline
