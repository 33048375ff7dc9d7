"""Plots: short legends (``_plotlabel``), one scale per axis, and ``cerebro.plot()`` to a file on a
machine without a display (backtrader asks matplotlib for TkAgg; the README's recipe pins Agg)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.shared import require_shared

pytestmark = [pytest.mark.shared, pytest.mark.slow]  # one cerebro.plot() in a fresh interpreter: ~8 s

SCRIPT = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot  # pins Agg before backtrader asks for TkAgg
import backtrader as bt
from btedge.feeds import FrameData, load_csv
from btedge.indicators import Cointegration, HedgeRatio, LaguerreChannel, LaguerreFilter, LorentzianDistance

ko, pep, png = load_csv(sys.argv[1]), load_csv(sys.argv[2]), sys.argv[3]

class Pair(bt.Strategy):
    def __init__(self):
        LaguerreFilter(self.data0, gamma=0.6)
        LaguerreChannel(self.data0)
        LorentzianDistance(self.data0, period=50)
        HedgeRatio(self.data0, self.data1, period=60)
        Cointegration(self.data0, self.data1, period=120, retest=20)

cerebro = bt.Cerebro(stdstats=False)
cerebro.adddata(FrameData(dataname=ko, name="KO"))
cerebro.adddata(FrameData(dataname=pep, name="PEP"))
cerebro.addstrategy(Pair)
cerebro.run()
figure = cerebro.plot(iplot=False)[0][0]
figure.savefig(png, dpi=50)
axes = []
for ax in figure.axes:
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()] if legend else []
    axes.append({"labels": labels, "lines": len(ax.get_lines()), "ylim": list(ax.get_ylim())})
print(json.dumps({"backend": matplotlib.get_backend(), "axes": axes}))
"""


@pytest.fixture(scope="module")
def plotted(tmp_path_factory):
    png = tmp_path_factory.mktemp("plot") / "pair.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    args = [sys.executable, "-c", SCRIPT, str(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv")),
            str(require_shared("repos", "daily", "backtrader_PEP_1997-1998.csv")), str(png)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return png, json.loads(out.stdout.strip().splitlines()[-1])


def test_cerebro_plot_writes_a_png_without_a_display(plotted):
    png, info = plotted
    assert info["backend"].lower() == "agg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_legends_name_only_the_params_that_matter(plotted):
    labels = [label for ax in plotted[1]["axes"] for label in ax["labels"]]
    text = " | ".join(labels)
    for wanted in ("LaguerreFilter (0.6)", "LaguerreChannel (0.5, 20, 2.0)", "HedgeRatio (ols, 60)",
                   "Cointegration (120)", "LorentzianDistance (50, 3.0)"):
        assert any(label.startswith(wanted) for label in labels), f"{wanted!r} not in {text}"
    assert "True" not in text and "0.001" not in text and "aic" not in text


def test_lines_of_other_scales_are_not_drawn_on_one_axis(plotted):
    by_label = {ax["labels"][0].split(" ")[0]: ax for ax in plotted[1]["axes"] if ax["labels"]}
    hedge, coint = by_label["HedgeRatio"], by_label["Cointegration"]
    assert "beta" in hedge["labels"][0] and "alpha" not in " ".join(hedge["labels"])
    assert -5.0 < hedge["ylim"][0] and hedge["ylim"][1] < 5.0  # beta's scale: alpha (price units) not drawn
    assert "pvalue" in coint["labels"][0] and "tstat" not in " ".join(coint["labels"])
    assert -0.5 < coint["ylim"][0] and coint["ylim"][1] < 1.5  # p-values only: the t-statistic is not drawn
