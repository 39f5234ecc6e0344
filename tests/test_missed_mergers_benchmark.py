"""benchmarks/missed_mergers.py: the fraction of mergers found per merger time and redshift folder, pooled
over train seeds, against a frame whose fractions are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def missed_mergers():
    return load_script("benchmarks/missed_mergers.py", "missed_mergers_benchmark")


def _calls(found_near: float, found_far: float, false_positive: float, n: int = 40) -> pd.DataFrame:
    """Two seeds' calls: mergers 0.15 Gyr after coalescence in the nearest folder (snapnum 85) found at
    ``found_near``, in the farthest (snapnum 52) at ``found_far``; non-mergers in both called mergers at
    ``false_positive``; pre-mergers (-0.6 Gyr) in the nearest folder always found."""
    rows = []
    for seed in (1, 2):
        for snapnum, rate in ((85, found_near), (52, found_far)):
            k = round(rate * n)
            rows += [{"seed": seed, "snapnum": snapnum, "label": 1, "merger_time": 0.15, "found": i < k}
                     for i in range(n)]
            k = round(false_positive * n)
            rows += [{"seed": seed, "snapnum": snapnum, "label": 0, "merger_time": np.nan, "found": i < k}
                     for i in range(n)]
        rows += [{"seed": seed, "snapnum": 85, "label": 1, "merger_time": -0.6, "found": True} for _ in range(n)]
    return pd.DataFrame(rows)


def test_found_fractions_per_time_and_redshift_folder(missed_mergers):
    table = missed_mergers.found_by_time_and_redshift(_calls(found_near=0.6, found_far=0.25, false_positive=0.3))
    near, far = "z 0.10-0.30", "z 0.76-1.00"
    assert list(table.columns) == [near, far, "all folders"]  # only the folders present, nearest first
    assert table.loc["(0.1, 0.2]", near] == pytest.approx(0.6)
    assert table.loc["(0.1, 0.2]", far] == pytest.approx(0.25)
    assert table.loc["(0.1, 0.2]", "all folders"] == pytest.approx((0.6 + 0.25) / 2)
    assert table.loc["(-0.8, -0.5]", near] == pytest.approx(1.0)
    assert np.isnan(table.loc["(-0.8, -0.5]", far])  # no pre-merger in the far folder
    # the last row: non-mergers called mergers, the rate of a merger the network cannot tell apart
    assert table.index[-1] == "non-mergers called mergers"
    assert table.loc["non-mergers called mergers", [near, far, "all folders"]].tolist() == pytest.approx([0.3] * 3)


def test_counts_per_cell_count_each_galaxy_once(missed_mergers):
    calls = _calls(found_near=0.6, found_far=0.25, false_positive=0.3, n=40)
    calls["ID"] = calls.groupby("seed").cumcount()  # the same galaxies for both seeds
    counts = missed_mergers.found_by_time_and_redshift(calls, count=True)
    assert counts.loc["(0.1, 0.2]", "z 0.10-0.30"] == 40  # not 80: two seeds, one galaxy each
    assert counts.loc["(0.1, 0.2]", "all folders"] == 80
    assert counts.loc["non-mergers", "all folders"] == 80
