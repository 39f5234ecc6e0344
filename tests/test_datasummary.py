"""galmerge.data.summary: counts and histograms behind notebook 00_data (Figs 1-2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from galmerge.data.catalog import DatasetWarning, load_catalog  # noqa: E402
from galmerge.data.summary import (  # noqa: E402
    count_table,
    merger_time_histogram,
    pick_examples,
    redshift_edges,
    redshift_histogram,
    summary_counts,
)
from galmerge.report import figures  # noqa: E402
from galmerge.report.captions import caption  # noqa: E402
from galmerge.vocab import REDSHIFT_EDGES  # noqa: E402


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
        redshift_histogram(pd.DataFrame({"redshift": [1.5, 0.5], "label": [0, 1]}), edges=REDSHIFT_EDGES)


def test_a_local_sample_gets_its_own_redshift_bins_and_none_falls_outside():
    """SDSS's z < 0.1 (issue 22) would fall almost wholly below the paper's first edge (0.09)."""
    z = np.r_[np.linspace(0.005, 0.1, 99), 0.0994]
    edges = redshift_edges(z)
    assert edges[0] == 0.0 and edges[-1] == pytest.approx(0.1) and np.allclose(np.diff(edges), 0.02)
    catalog = pd.DataFrame({"redshift": z, "label": np.arange(z.size) % 2})
    assert redshift_histogram(catalog)["total"].sum() == z.size
    np.testing.assert_array_equal(redshift_edges([0.1, 0.3, 0.95, 0.5]), REDSHIFT_EDGES)  # TNG-like: the paper's
    np.testing.assert_array_equal(redshift_edges([np.nan]), REDSHIFT_EDGES)
    assert redshift_edges([0.2, 1.5, 1.3])[-1] == pytest.approx(1.5)  # beyond the paper's range: 0.1 wide to the top


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
    drawn = [figures.fig01_redshift_distribution(redshift_histogram(catalog)),
             figures.fig02_merger_time_distribution(merger_time_histogram(catalog)),
             figures.stage_gallery(pick_examples(catalog, per_stage=2), per_stage=2)]
    assert len(drawn[2].axes) == 8
    assert all(len(fig.axes[0].patches) > 0 for fig in drawn[:2])
    # Fig 2's legend sits above the axes, not over the bars
    legend = drawn[1].axes[0].get_legend()
    drawn[1].canvas.draw()
    box = legend.get_window_extent()
    assert box.y0 >= drawn[1].axes[0].get_window_extent().y1 - 1
    for fig in drawn:
        plt.close(fig)


def test_every_saved_figure_has_a_caption():
    import re

    names = set()
    for source in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"):
        names |= set(re.findall(r'figures\.show\([^"]*"([a-z0-9_]+)"', source.read_text(), flags=re.S))
        names |= {f"{prefix}raw" for prefix in re.findall(r'figures_dir,\s*f"([a-z_]+_)\{', source.read_text())}
    assert names, "no figures.show call found in the notebooks"
    missing = sorted(n for n in names if caption(n).endswith("(no caption recorded)."))
    assert not missing, f"figures without a caption in galmerge.report.captions.CAPTIONS: {missing}"
