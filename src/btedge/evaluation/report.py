"""Markdown for docs/ml_evaluation.md and docs/claims.md, written between result markers.

Text outside ``<!-- results:start -->`` / ``<!-- results:end -->`` is kept, so the reading of
the numbers (written by a person) survives a regeneration of the numbers.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from btedge.evaluation.bootstrap import Interval
from btedge.evaluation.claims import ClaimRow
from btedge.evaluation.runner import ENSEMBLE, DatasetResult, Settings

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _f(x: Any, digits: int = 3, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, Interval):
        return x.fmt(digits)
    return f"{100 * x:.1f}%" if pct else f"{x:.{digits}f}"


def _sd(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f" ±{x:.3f}"


def dataset_section(r: DatasetResult) -> str:
    ds = r.ds
    runs = 2 * r.configs[0].n_seeds  # real and label-shuffled, per seed
    head = (f"### {ds.name}\n\n`{ds.describe()}`: {r.bars} bars, walk-forward {ds.train_bars} train / "
            f"{ds.retrain_every} step (sliding), horizon {ds.horizon}, {r.folds} folds; **{r.scored_bars} scored "
            f"OOS bars** ({r.oos_bars} traded); run {r.wall_s:.0f} s, of which the indicator runs (training, or "
            f"loading cached folds on a re-run) {r.train_wall_s:.0f} s = {r.train_wall_s / max(runs * r.folds, 1):.1f} s "
            f"per fold of all members.\n\n")
    cols = ("| configuration | seeds | balanced acc. [95% CI] ±sd | log-loss gain vs prior | gain, class-weight "
            "corrected | AUC long / short | IC [95% CI] ±sd | Brier | ECE | net Sharpe [95% CI] ±sd | bps/trade "
            "[95% CI] | trades/seed |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for c in r.configs:
        iv, pt, sd = c.intervals, c.points, c.spread
        rows.append(
            f"| {c.name} | {c.n_seeds} | {_f(iv.get('balanced_accuracy'))}{_sd(sd.get('balanced_accuracy'))} | "
            f"{_f(iv.get('ll_gain'))} | {_f(iv.get('ll_gain_corrected'))} | "
            f"{_f(pt.get('auc_long'))} / {_f(pt.get('auc_short'))} | {_f(iv.get('ic'))}{_sd(sd.get('ic'))} | "
            f"{_f(pt.get('brier'))} | {_f(pt.get('ece'))} | {_f(iv.get('sharpe'), 2)}{_sd(sd.get('sharpe'))} | "
            f"{_f(iv.get('bps_per_trade'), 1)} | {pt.get('trades', 0):.0f} |")
    bh = r.buy_and_hold
    rows.append(f"| buy and hold | - | - | - | - | - | - | - | - | {_f(bh['sharpe'], 2)} | - | 1 |")
    diffs = "\n\nPaired differences (same bars, same bootstrap replicates; 95% CI):\n\n| pair | Δ balanced acc. | Δ IC | Δ log-loss gain | Δ net Sharpe |\n|---|---|---|---|---|\n"
    diffs += "\n".join(
        f"| {pair} | {_f(d.get('balanced_accuracy'))} | {_f(d.get('ic'))} | {_f(d.get('ll_gain'))} | "
        f"{_f(d.get('sharpe'), 2)} |" for pair, d in r.differences.items())
    quint = r.config(ENSEMBLE).quintiles
    q = ""
    if quint:
        q = ("\n\nEnsemble calls by confidence quintile (mean over seeds; signed return from the next open over the "
             "horizon):\n\n| quintile | confidence | calls | mean signed return (bps) | hit rate |\n|---|---|---|---|---|\n")
        q += "\n".join(f"| {i + 1} | {g['confidence_low']:.3f}-{g['confidence_high']:.3f} | {g['n']:.0f} | "
                       f"{1e4 * g['mean_signed_return']:.2f} | {g['hit_rate']:.1%} |" for i, g in enumerate(quint))
    over = f"\n\nOverfitting over the {r.n_configs_tried} model configurations x seeds tried on this set: "
    over += (f"deflated Sharpe of the best {r.dsr.dsr:.3f} (per-bar SR {r.dsr.sr:.4f} against the expected "
             f"maximum {r.dsr.sr0:.4f})" if r.dsr else "deflated Sharpe undefined")
    over += f", PBO {r.pbo.pbo:.2f} ({r.pbo.n_combinations} CSCV splits)." if r.pbo else ", PBO undefined."
    return head + cols + "\n".join(rows) + diffs + q + over + "\n"


def settings_text(s: Settings, quick: bool) -> str:
    return (f"Settings{' (--quick)' if quick else ''}: members `{s.members}`, seeds {s.seed_values()}, seq_len "
            f"{s.seq_len}, hidden {s.hidden}, max epochs {s.epochs}, max_samples {s.max_samples}, min_samples "
            f"{s.min_samples}, band {s.band}, block bootstrap {s.n_boot} replicates; costs 5 bps commission + 1 bp "
            "slippage per side, next-open fills, entries at top probability >= 0.45.\n")


def evaluation_markdown(results: list[DatasetResult], s: Settings, quick: bool, wall_s: float,
                        not_run: list[str]) -> str:
    body = settings_text(s, quick) + f"\nTotal run time: {wall_s / 60:.1f} min.\n"
    if not_run:
        body += "\nNot run in this regeneration: " + ", ".join(not_run) + ".\n"
    return body + "\n" + "\n".join(dataset_section(r) for r in results)


def claims_markdown(rows: list[ClaimRow]) -> str:
    out = "| claim | what we ran | our figure (95% CI) | verdict | why |\n|---|---|---|---|---|\n"
    clean = [tuple(str(x).replace("|", "/").replace("\n", " ") for x in
                   (r.claim, r.ran, r.figure, f"**{r.verdict}**", r.why)) for r in rows]
    return out + "\n".join("| " + " | ".join(c) + " |" for c in clean) + "\n"


def write_between_markers(path: Path, text: str, title: str) -> None:
    old = path.read_text() if path.exists() else f"# {title}\n\n{START}\n{END}\n"
    if START not in old:
        old += f"\n{START}\n{END}\n"
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{text}{END}", old, flags=re.S)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
