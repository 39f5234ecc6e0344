"""galmerge.datasummary: counts and histograms behind notebook 00_data (Figs 1-2)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from galmerge.data import DatasetWarning, load_catalog  # noqa: E402
from galmerge.datasummary import (  # noqa: E402
    count_table,
    merger_time_histogram,
    pick_examples,
    plot_merger_time_distribution,
    plot_redshift_distribution,
    plot_stage_gallery,
    redshift_histogram,
    summary_counts,
)


@pytest.fixture
def catalog(make_fake_dataset):
    return load_catalog(make_fake_dataset(n=80, seed=4, image_size=16))


def test_count_table_adds_up(catalog):
    table = count_table(catalog)
    assert list(table.index) == ["train", "validation", "test", "all"]
    assert table.loc["all", "total"] == len(catalog)
    assert (table.loc[["train", "validation", "test"]].sum() == table.loc["all"]).all()
    for split, rows in catalog.groupby("split"):
        assert table.loc[split, "mergers"] == rows["label"].sum()
        assert table.loc[split, "pre"] == (rows["stage"] == "pre").sum()
    counts = summary_counts(catalog)
    assert counts["n_objects"] == len(catalog) and counts["n_mergers"] == catalog["label"].sum()
    assert counts["n_train"] + counts["n_validation"] + counts["n_test"] == len(catalog)


def test_redshift_histogram_counts_every_snapshot_including_91():
    catalog = pd.DataFrame({"redshift": [0.0994, 0.25, 0.25, 0.95], "label": [1, 0, 1, 0]})
    hist = redshift_histogram(catalog)
    assert hist["total"].sum() == 4
    assert hist.loc[0, "mergers"] == 1 and hist.loc[hist["z_lo"] == 0.2, "total"].item() == 2
    with pytest.warns(DatasetWarning, match="1 objects have a redshift outside"):
        redshift_histogram(pd.DataFrame({"redshift": [1.5], "label": [0]}))


def test_merger_time_histogram_fractions_and_signs(catalog):
    hist = merger_time_histogram(catalog)
    assert hist["fraction"].sum() == pytest.approx(1.0)
    assert hist["count"].sum() == catalog["label"].sum()
    assert hist.loc[hist["t_lo"] >= 0, "pre"].sum() == 0
    assert hist.loc[hist["t_hi"] <= 0, "post"].sum() == 0
    assert hist.loc[(hist["t_hi"] <= -0.1) | (hist["t_lo"] >= 0.1), "ongoing"].sum() == 0


def test_pick_examples_per_stage_deterministic(catalog):
    examples = pick_examples(catalog, per_stage=3, seed=1)
    assert examples["stage"].value_counts().max() <= 3
    assert set(examples["stage"]) == set(catalog["stage"])
    assert examples["ID"].tolist() == pick_examples(catalog, per_stage=3, seed=1)["ID"].tolist()


def test_figures_draw(catalog):
    figures = [plot_redshift_distribution(redshift_histogram(catalog)),
               plot_merger_time_distribution(merger_time_histogram(catalog)),
               plot_stage_gallery(pick_examples(catalog, per_stage=2), per_stage=2)]
    assert len(figures[2].axes) == 8
    assert all(len(fig.axes[0].patches) > 0 for fig in figures[:2])
    for fig in figures:
        plt.close(fig)
