"""Save a sweep: runs as parquet and CSV, a Sharpe heatmap PNG, and a markdown + HTML summary."""
from __future__ import annotations

import html
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from btedge.sweeps.analysis import SweepAnalysis, window_returns
from btedge.sweeps.runner import SweepResult

log = logging.getLogger(__name__)


def write_report(result: SweepResult, analysis: SweepAnalysis, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of a sweep into ``out_dir``; returns their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "runs_parquet": out / "runs.parquet",
        "runs_csv": out / "runs.csv",
        "ranking_csv": out / "ranking.csv",
        "returns_parquet": out / "base_window_returns.parquet",
        "heatmap": out / "sharpe_heatmap.png",
        "markdown": out / "summary.md",
        "html": out / "summary.html",
    }
    result.runs.to_parquet(paths["runs_parquet"])
    result.runs.to_csv(paths["runs_csv"])
    analysis.ranking.to_csv(paths["ranking_csv"])
    base = window_returns(result, 0)
    base.columns = [f"param_{c}" for c in base.columns]
    base.to_parquet(paths["returns_parquet"])
    if result.benchmark is not None:
        paths["benchmark_csv"] = out / "buy_and_hold.csv"
        result.benchmark.to_csv(paths["benchmark_csv"])
    plot_heatmap(result, paths["heatmap"])
    markdown = summary_markdown(result, analysis)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(summary_html(result, analysis), encoding="utf-8")
    log.info("sweep report written to %s", out)
    return paths


def heatmap_table(result: SweepResult) -> tuple[pd.DataFrame, str]:
    """Median annualised Sharpe over windows, pivoted on the first two grid params (max over the rest)."""
    runs = result.runs
    names = result.param_names
    median = runs.groupby("param_id").agg({**{n: "first" for n in names}, "sharpe": "median"})
    if not names:
        return pd.DataFrame({"sharpe": median["sharpe"]}).T, "no grid params"
    rows, cols = (names[0], names[1]) if len(names) > 1 else (names[0], None)
    if cols is None:
        return median.set_index(rows)[["sharpe"]].T, f"median Sharpe by {rows}"
    table = median.pivot_table(index=rows, columns=cols, values="sharpe", aggfunc="max")
    note = f"median Sharpe over windows by {rows} × {cols}"
    if len(names) > 2:
        note += f" (best over {', '.join(names[2:])})"
    return table, note


def plot_heatmap(result: SweepResult, path: str | Path) -> Path:
    """Heatmap PNG of :func:`heatmap_table`, each cell annotated."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    table, note = heatmap_table(result)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 + 0.9 * table.shape[1]), 2.0 + 0.6 * table.shape[0]))
    image = ax.imshow(table.to_numpy(dtype=float), cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(table.shape[1]), [_fmt(c) for c in table.columns], rotation=45)
    ax.set_yticks(range(table.shape[0]), [_fmt(r) for r in table.index])
    ax.set_xlabel(str(table.columns.name or ""))
    ax.set_ylabel(str(table.index.name or ""))
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(j, i, "" if math.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"{result.strategy}\n{note}", fontsize=9)
    fig.colorbar(image, ax=ax, label="annualised Sharpe")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def stat_lines(result: SweepResult, analysis: SweepAnalysis) -> list[str]:
    lines = [
        f"- configurations tried (N): **{analysis.n_configs}** parameter sets × {analysis.n_windows} windows "
        f"= {analysis.n_backtests} backtests",
        f"- best by mean rank (Sharpe, drawdown, turnover): `{analysis.best_params}`",
    ]
    if analysis.dsr is not None:
        d = analysis.dsr
        lines.append(
            f"- deflated Sharpe ratio (highest-Sharpe set, base window): **{d.dsr:.3f}**: per-bar SR {d.sr:.4f} "
            f"vs SR₀ {d.sr0:.4f} expected from {d.n_trials} noise trials (V[SR_n] {d.sr_variance:.3g}, "
            f"T {d.n_obs}, skew {d.skew:.2f}, kurtosis {d.kurtosis:.2f})"
        )
    if analysis.dsr is None:
        lines.append("- deflated Sharpe ratio: not computed (no configuration has a defined Sharpe: all flat?)")
    if analysis.pbo is not None:
        p = analysis.pbo
        finite = analysis.pbo_by_window.dropna()
        spread = f"; per window {finite.min():.2f}–{finite.max():.2f}" if len(finite) > 1 else ""
        lines.append(
            f"- probability of backtest overfitting (CSCV, {p.n_blocks} blocks, {p.n_combinations} halvings, "
            f"base window): **{p.pbo:.3f}**{spread}"
        )
    else:
        lines.append("- PBO: not computed (needs >= 2 parameter sets and >= 20 bars)")
    if result.benchmark is not None:
        bench = result.benchmark
        lines.append(
            f"- buy-and-hold of the same data: Sharpe {bench.at[0, 'sharpe']:.2f} on the base window, "
            f"median {bench['sharpe'].median():.2f} across windows; max drawdown {bench.at[0, 'max_drawdown']:.1%}"
        )
    b = analysis.bootstrap
    lines.append(
        f"- trade bootstrap of the best set ({b.n_trades} trades, {b.n_boot} resamples): mean trade "
        f"{b.mean:.4%}, 95% CI [{b.ci_low:.4%}, {b.ci_high:.4%}], P(mean ≤ 0) {b.prob_mean_le_zero:.3f}"
    )
    return lines


def summary_markdown(result: SweepResult, analysis: SweepAnalysis, top: int = 15) -> str:
    """Markdown summary: settings, DSR, PBO, bootstrap, and the top of the ranking table."""
    head = analysis.ranking.head(top).round(4)
    return "\n".join([
        f"# Robustness sweep: {result.strategy}",
        "",
        f"Seed {result.seed}; settings {result.settings}.",
        "",
        *stat_lines(result, analysis),
        "",
        f"## Ranking (top {min(top, len(analysis.ranking))} of {len(analysis.ranking)})",
        "",
        head.to_markdown() if _has_tabulate() else "```\n" + head.to_string() + "\n```",
        "",
        "Sharpe figures are annualised; `sharpe_base` is on the base window (window 0), the others across "
        "windows. DSR and PBO use per-bar returns of the base window.",
        "",
    ])


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def summary_html(result: SweepResult, analysis: SweepAnalysis) -> str:
    """A standalone HTML page with the same content (statistics list and ranking table)."""
    lines = stat_lines(result, analysis)
    items = "".join(f"<li>{html.escape(line[2:]).replace('**', '')}</li>" for line in lines)
    table = analysis.ranking.round(4).to_html(border=0, classes="ranking")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>btedge sweep: {html.escape(result.strategy)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table.ranking{border-collapse:collapse;font-size:12px}"
        "table.ranking td,table.ranking th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style>"
        f"</head><body><h1>Robustness sweep: {html.escape(result.strategy)}</h1>"
        f"<p>Seed {result.seed}; settings {html.escape(str(result.settings))}.</p><ul>{items}</ul>"
        "<img src='sharpe_heatmap.png' alt='Sharpe heatmap'><h2>Ranking</h2>"
        f"{table}</body></html>"
    )
