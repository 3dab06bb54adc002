"""dalib.plots: the curve plot draws rates within [0, 1] and unbounded quantities (a Lipschitz
estimate) in full, with non-negative error bars from per-seed t intervals."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from dalib import plots  # noqa: E402
from dalib.analysis import seed_summary  # noqa: E402


def _series(values_by_x):
    rows = [{"budget": x, "asr": v, "seed": s} for x, vs in values_by_x.items() for s, v in enumerate(vs)]
    per = pd.DataFrame(rows)
    return {"DiffViT": (seed_summary(per, ["budget"]), per)}


def test_unbounded_quantity_is_drawn_in_full():
    series = _series({1: [3.1, 4.0], 2: [5.0, 5.6], 4: [7.5, 6.9]})  # Lipschitz-like values, 2 seeds
    fig = plots.asr_curves(series, "depth D", logx=True, ylabel="L", bounds=None)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 7.5
    # the t interval of 2 seeds reaches below and above the mean: both error bars are drawn (not clipped)
    (line, caps, (bars,)) = ax.containers[0].lines
    seg = bars.get_segments()
    assert all(a[1] < b[1] for a, b in seg) and max(b[1] for a, b in seg) > 7.5


def test_rates_are_clipped_to_0_1():
    series = _series({1: [0.95, 0.99], 2: [0.01, 0.2]})
    ax = plots.asr_curves(series, "ε").axes[0]
    assert ax.get_ylim() == (0.0, 1.02)
    seg = ax.containers[0].lines[2][0].get_segments()
    assert all(0.0 <= a[1] <= b[1] <= 1.0 for a, b in seg)
