"""The Streamlit script behind ``btedge-dashboard`` (``streamlit run app.py``): three pages over
the plain functions of :mod:`btedge.dashboard`. Settings come from the environment
(:class:`~btedge.dashboard.settings.Settings`)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from btedge.dashboard import charts
from btedge.dashboard.live import (
    LiveState,
    chart_data,
    default_charts,
    file_version,
    journal_version,
    live_state,
    model_columns,
    restamp,
)
from btedge.dashboard.news import NewsCache
from btedge.dashboard.runs import equity_curves, list_runs, load_run
from btedge.dashboard.settings import Settings

PAGES = ("Live", "Backtest", "Screener")


@st.cache_resource
def _news_fetcher(folder: str, url: str) -> dict:
    """One background fetcher per process: the page never waits for a feed."""
    return {"cache": NewsCache(folder, url), "last": 0.0, "thread": None, "lock": threading.Lock()}


@st.cache_resource(max_entries=4)
def _chart_data(tape: str, version: tuple, last: int, n_symbols: int) -> tuple:
    return chart_data(Path(tape), last, n_symbols)


def _cached_chart_data(tape: Path, last: int, n_symbols: int) -> tuple:
    """:func:`chart_data`, recomputed only when the tape file changed."""
    return _chart_data(str(tape), file_version(tape), last, n_symbols)


@st.cache_resource(max_entries=2)
def _live_state(journal: str, bars: int, version: tuple) -> LiveState:
    return live_state(journal, bars, charts=_cached_chart_data)


def _current_state(settings: Settings) -> LiveState:
    """:func:`live_state`, recomputed only when the journal or its tape changed (a refresh in
    between only updates the ages); what the page waits for is never cached."""
    version = journal_version(settings.journal)
    state = _live_state(settings.journal, settings.bars, version)
    if state.waiting:
        _live_state.clear()
        return state
    return restamp(state)


def _news(settings: Settings, symbols: list[str]) -> None:
    if not settings.news_url or not symbols:
        return
    fetcher = _news_fetcher(str(settings.news_folder), settings.news_url)
    with fetcher["lock"]:
        busy = fetcher["thread"] is not None and fetcher["thread"].is_alive()
        if not busy and time.time() - fetcher["last"] >= settings.news_every:
            fetcher["last"] = time.time()
            fetcher["thread"] = threading.Thread(target=fetcher["cache"].refresh, args=(symbols,), daemon=True)
            fetcher["thread"].start()
    headlines = fetcher["cache"].headlines(symbols)
    st.subheader("News")
    if headlines.offline:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(headlines.fetched)) if headlines.fetched else "never"
        st.warning(f"offline: showing cached headlines (last fetched {when}): {headlines.offline}")
    if not headlines.items:
        st.caption("no headlines cached yet")
    for item in headlines.items[:15]:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(item["published"] or item["seen"]))
        st.markdown(f"- `{item['symbol']}` {stamp} [{item['title']}]({item['link']})")


def _chart(name: tuple, version: tuple, build) -> None:  # type: ignore[no-untyped-def]
    """Draw chart ``name``'s Vega-Lite spec, rebuilt only when ``version`` (what it shows) changed."""
    cache = st.session_state.setdefault("_specs", {})
    if cache.get(name, (None,))[0] != version:
        cache[name] = (version, build())
    st.vega_lite_chart(cache[name][1], width="stretch")


def _render_live(state: LiveState, settings: Settings) -> None:
    if state.waiting:
        st.info(state.waiting)
        return
    cols = st.columns(len(state.status))
    for col, (name, value) in zip(cols, state.status.items()):
        col.metric(name, value)
    st.markdown(f"**journal** `{state.view.path.name}` · {state.latest}")
    left, right = st.columns(2)
    left.markdown("**Positions**")
    left.dataframe(state.view.positions[["symbol", "size", "avg_price"]], hide_index=True)
    right.markdown("**Working orders**")
    working = state.view.working_orders
    right.dataframe(working[["symbol", "side", "size", "filled", "order_type", "limit_price", "stop_price", "state"]],
                    hide_index=True)
    if not state.bars:
        st.info("waiting for bars on the tape (btedge-live writes it beside the journal on each bar)")
    n_fills = len(state.fills)
    shown = state.symbols
    if len(state.symbols) > 1:
        shown = st.multiselect("charts", state.symbols, default=default_charts(state), key="live_charts")
    for symbol in shown:
        bars, lines = state.bars[symbol], state.lines[symbol]
        version = (bars.index[-1], float(bars["written"].iloc[-1]), n_fills, len(bars))
        fills = state.fills[state.fills["symbol"] == symbol] if n_fills else None
        _chart(("candles", symbol), version, lambda: charts.candles(bars, lines, fills, title=symbol))
        _chart(("anomaly", symbol), version, lambda: charts.series(lines, ["score", "threshold"], "anomaly"))
        model = model_columns(bars)
        if model:
            _chart(("model", symbol), version, lambda: charts.series(bars, model, "model"))
    if len(state.pnl):
        last = state.pnl.iloc[-1]
        st.caption(f"P&L marked to market {last['pnl']:,.2f} · drawdown {last['drawdown']:,.2f}")
        _chart(("pnl",), (state.pnl.index[-1], float(last["pnl"]), n_fills),
               lambda: charts.series(state.pnl, ["pnl", "drawdown"], "P&L"))
    _advice(settings)
    _news(settings, state.symbols)


def _advice(settings: Settings) -> None:
    if not settings.advice:
        return
    from btedge.dashboard.advice_view import recent_advice

    st.subheader("Co-pilot")
    table = recent_advice(settings.advice)
    if table.empty:
        st.caption(f"no advice in {settings.advice} yet")
    else:
        st.dataframe(table, hide_index=True, width="stretch")


def live_page(settings: Settings) -> None:
    st.header("Live")

    @st.fragment(run_every=settings.refresh)
    def refresh() -> None:
        st.session_state["_live_version"] = journal_version(settings.journal)  # before the read: never newer
        _render_live(_current_state(settings), settings)

    refresh()
    if settings.watch > 0:
        @st.fragment(run_every=settings.watch)
        def watch() -> None:
            """Redraw as soon as the journal or tape changes, not at the next refresh (a stat() of
            four files every ``settings.watch`` seconds; it draws nothing)."""
            seen = st.session_state.get("_live_version")
            if seen is not None and journal_version(settings.journal) != seen:
                st.rerun()

        watch()  # after refresh(): a full run records the version it drew before the watch compares


def backtest_page(settings: Settings) -> None:
    st.header("Backtest")
    runs = list_runs(settings.runs) if settings.runs else []
    if not runs:
        st.info(f"no backtest runs in {settings.runs or '(no --runs folder)'}: run btedge-backtest --json "
                "DIR/NAME.json (it writes NAME.returns.csv beside it), then start with --runs DIR")
        return
    chosen = st.selectbox("run", [p.stem for p in runs])
    run = load_run(next(p for p in runs if p.stem == chosen))
    curves = equity_curves(run.returns)
    st.vega_lite_chart(charts.series(curves, [c for c in ("strategy", "buy_and_hold") if c in curves], "equity"),
                       width="stretch")
    st.vega_lite_chart(charts.series(curves, [c for c in curves if c.endswith("_drawdown")], "drawdown"),
                       width="stretch")
    table = pd.DataFrame({k: run.metrics.get(k) or {} for k in ("strategy", "buy_and_hold")})
    st.dataframe(table.astype(str), width="stretch")
    if "close" in run.returns and run.trades is not None:
        bars = pd.DataFrame({c: run.returns["close"] for c in ("open", "high", "low", "close")})
        fills = run.trades.rename(columns={"time": "bar_time", "size": "shares"})
        st.vega_lite_chart(charts.candles(bars, None, fills, title="close"), width="stretch")
        st.caption(f"{len(run.trades)} fills")
    if run.tearsheet:
        st.markdown(f"tear sheet: [{run.tearsheet.name}]({Path(run.tearsheet).resolve().as_uri()}) "
                    f"(`{run.tearsheet}`)")


def screener_page(settings: Settings) -> None:
    st.header("Screener")
    if not settings.panel:
        st.info("no panel: start with --panel CLOSES.csv (a wide close file, one column per ticker)")
        return
    from btedge.dashboard.screener import scan
    from btedge.universe import load_closes

    closes = load_closes(settings.panel)
    lookback = st.number_input("lookback bars", 20, 5000, 252)
    clusters = st.number_input("clusters", 2, 20, 4)
    result = scan(closes, lookback=int(lookback), n_clusters=int(clusters))
    st.dataframe(result, width="stretch")


def main() -> None:
    st.set_page_config(page_title="btedge cockpit", layout="wide")
    settings = Settings.from_env()
    page = st.sidebar.radio("page", PAGES)
    {"Live": live_page, "Backtest": backtest_page, "Screener": screener_page}[page](settings)


main()
