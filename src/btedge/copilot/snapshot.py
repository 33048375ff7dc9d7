"""Chart snapshots: a candle chart PNG of the last N bars with the strategy's indicators
(support/resistance, the Laguerre filter, the Lorentzian anomaly score), drawn with a small
matplotlib renderer (object API and the Agg canvas: no pyplot, safe in a worker thread)."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from btedge.dashboard.overlays import OverlayParams, overlay_arrays

UP, DOWN = "#26a69a", "#ef5350"


@dataclass(frozen=True)
class Snapshot:
    """One chart: ``png`` bytes (empty when not drawn; ``path`` when saved), the ``symbol`` and
    ``bar_time`` of its last bar, the PNG's ``sha256`` (empty when not drawn), ``bars_sha256`` of
    the bars it shows, and the ``frame`` of bars and indicators."""

    symbol: str
    bar_time: pd.Timestamp
    png: bytes
    sha256: str
    bars_sha256: str
    frame: pd.DataFrame = field(repr=False)
    path: Path | None = None


def bars_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the bars' times and OHLC values."""
    data = frame[["open", "high", "low", "close"]].to_numpy(dtype="<f8").tobytes()
    times = frame.index.as_unit("ns").asi8.astype("<i8").tobytes() if isinstance(frame.index, pd.DatetimeIndex) else b""
    return hashlib.sha256(times + data).hexdigest()


def chart_frame(bars: pd.DataFrame, last: int, params: OverlayParams = OverlayParams()) -> pd.DataFrame:
    """The last ``last`` bars with their indicators (earlier bars only warm them up)."""
    if len(bars) < 2:
        raise ValueError(f"a snapshot needs at least 2 bars, got {len(bars)}")
    ohlc = {k: bars[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close")}
    columns = {**ohlc, **overlay_arrays(ohlc["high"], ohlc["low"], ohlc["close"], params)}
    return pd.DataFrame({k: v[-last:] for k, v in columns.items()}, index=bars.index[-last:])


def snapshot_name(symbol: str, bar_time: pd.Timestamp) -> str:
    """``SPY_20240102T143000Z.png``: named by the last bar's UTC time."""
    stamp = pd.Timestamp(bar_time)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in symbol)
    return f"{safe}_{stamp:%Y%m%dT%H%M%SZ}.png"


def _draw(frame: pd.DataFrame, symbol: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=80)
    FigureCanvasAgg(fig)
    price, score = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    x = np.arange(len(frame))
    up = (frame["close"] >= frame["open"]).to_numpy()
    colors = np.where(up, UP, DOWN)
    price.vlines(x, frame["low"], frame["high"], colors=colors, linewidth=0.8)
    body_low = np.minimum(frame["open"], frame["close"])
    body = np.maximum(np.abs(frame["close"] - frame["open"]).to_numpy(), 1e-12)
    price.bar(x, body, bottom=body_low, color=colors, width=0.7)
    for name, style in (("support", "--"), ("resistance", "--"), ("laguerre", "-")):
        price.plot(x, frame[name], style, linewidth=1.0, label=name)
    price.legend(loc="upper left", fontsize=7)
    price.set_title(f"{symbol} {frame.index[-1]:%Y-%m-%d %H:%M} UTC", fontsize=9)
    score.plot(x, frame["score"], linewidth=0.8, label="anomaly score")
    score.plot(x, frame["threshold"], "--", linewidth=0.8, label="threshold")
    score.legend(loc="upper left", fontsize=6)
    for axis in (price, score):
        axis.tick_params(labelsize=7)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def render(bars: pd.DataFrame, symbol: str, last: int = 60, folder: str | Path | None = None,
           params: OverlayParams = OverlayParams()) -> Snapshot:
    """Snapshot of the last ``last`` bars of ``bars`` (``open, high, low, close``, indexed by
    time; earlier bars only warm the indicators up). Saved as ``folder/<snapshot_name>`` when a
    folder is given. The PNG is a pure function of the bars: same bars, same bytes."""
    frame = chart_frame(bars, last, params)
    png = _draw(frame, symbol)
    path = None
    if folder is not None:
        path = Path(folder) / snapshot_name(symbol, frame.index[-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    return Snapshot(symbol, frame.index[-1], png, hashlib.sha256(png).hexdigest(), bars_hash(frame), frame, path)


def frame_snapshot(bars: pd.DataFrame, symbol: str, last: int = 60) -> Snapshot:
    """A snapshot without an image, for advisors that read the indicators (the rules advisor)."""
    frame = chart_frame(bars, last)
    return Snapshot(symbol, frame.index[-1], b"", "", bars_hash(frame), frame)
