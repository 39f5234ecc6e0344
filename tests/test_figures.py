"""The figure registry (galmerge.report.figures.REGISTRY): one name per figure, shared by the
drawing function, its caption, its file and the notebook that draws it; and no figure drawn
anywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from galmerge.report import figures  # noqa: E402
from galmerge.report.captions import CAPTIONS, caption  # noqa: E402
from galmerge.vocab import MERGER_TIME_EDGES, STAGE_WINDOWS_GYR, network_label  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))
#: Figures of the paper (Chudy et al. 2025) that a run draws: all but Fig 5, the pipeline diagram.
PAPER_FIGURES = set(range(1, 17)) - {5}


def _shown_names() -> dict[str, str]:
    """Figure name -> notebook stem, for every figures.show("name", ...) call of the notebooks."""
    shown = {}
    for source in NOTEBOOKS:
        for name in re.findall(r'figures\.show\(\s*"([a-z0-9_]+)"', source.read_text()):
            assert name not in shown, f"figure {name!r} is drawn by both {shown[name]} and {source.stem}"
            shown[name] = source.stem
    return shown


def test_registry_captions_and_notebooks_name_the_same_figures():
    shown = _shown_names()
    assert set(figures.REGISTRY) == set(CAPTIONS), (
        f"only in the registry: {sorted(set(figures.REGISTRY) - set(CAPTIONS))}; "
        f"only in the captions: {sorted(set(CAPTIONS) - set(figures.REGISTRY))}")
    assert set(shown) == set(figures.REGISTRY), (
        f"shown but not registered: {sorted(set(shown) - set(figures.REGISTRY))}; "
        f"registered but never shown: {sorted(set(figures.REGISTRY) - set(shown))}")
    wrong = {name: (spec.notebook, shown[name]) for name, spec in figures.REGISTRY.items()
             if spec.notebook != shown[name]}
    assert not wrong, f"registry notebook differs from the notebook that draws the figure: {wrong}"


def test_notebooks_draw_only_through_show():
    """A notebook calls figures.show and nothing else of the figures module, and draws nothing itself."""
    for source in NOTEBOOKS:
        text = source.read_text()
        direct = sorted(set(re.findall(r"figures\.(\w+)\(", text)) - {"show"})
        assert not direct, f"{source.name} calls figures.{direct} directly; use figures.show(name, ...)"
        drawing = re.findall(r"\b(plt\.\w+|\.axvspan|\.axvline|\.imshow|\.subplots)\(", text)
        assert not drawing, f"{source.name} draws outside the registry: {drawing}"


def test_no_module_outside_the_figures_module_draws():
    figures_module = REPO / "lib" / "galmerge" / "report" / "figures.py"
    for module in sorted((REPO / "lib" / "galmerge").rglob("*.py")):
        if module == figures_module:
            continue
        drawing = re.findall(r"\b(plt\.subplots|plt\.figure|add_subplot|\.imshow)\(", module.read_text())
        assert not drawing, f"{module.relative_to(REPO)} draws a figure ({drawing}); move it to report/figures.py"


def test_every_paper_figure_is_registered_under_its_number():
    numbered = {spec.paper_figure: name for name, spec in figures.REGISTRY.items() if spec.paper_figure}
    assert set(numbered) == PAPER_FIGURES
    for name, spec in figures.REGISTRY.items():
        prefix = re.match(r"fig(\d\d)_", name)
        if spec.paper_figure is not None:
            assert prefix and int(prefix.group(1)) == spec.paper_figure, name
            assert f"Fig. {spec.paper_figure}" in CAPTIONS[name], f"{name}: caption does not cite the paper's figure"


def test_show_rejects_an_unknown_name_and_names_the_known_ones(tmp_path):
    with pytest.raises(figures.UnknownFigureError, match=r"'fig99_nothing'.*fig07_redshift"):
        figures.show("fig99_nothing", tmp_path)
    assert not list(tmp_path.iterdir())


def _scores(seed: int = 0, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    return pd.DataFrame({"ID": np.arange(n), "label": label, "score": np.clip(0.3 * label + rng.random(n) * 0.7, 0, 1)})


def test_show_saves_per_kind_files_and_pdf_only_for_paper_figures(tmp_path, capsys):
    scores = _scores()
    fig = figures.show("scores", tmp_path, scores, kind="model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores_model.png"]
    assert fig.axes[0].get_title() == network_label("model")  # the caption leaves the network to the title
    assert caption("scores") in capsys.readouterr().out  # printed under the figure outside IPython
    plt.close(fig)
    with pytest.raises(TypeError, match="kind"):
        figures.show("scores", tmp_path, scores)  # the file name needs the network
    plt.close("all")

    roc = pd.DataFrame({"kind": ["raw"] * 3, "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]})
    table1 = pd.DataFrame({"auc": [65.0]}, index=pd.Index(["raw"], name="kind"))
    plt.close(figures.show("fig12_roc", tmp_path, roc, table1, caption_values={"n_resamples": 5}, note="a note"))
    assert {p.name for p in tmp_path.iterdir()} >= {"fig12_roc.png", "fig12_roc.pdf"}
    assert "a note" in capsys.readouterr().out


def _merger_time_table() -> pd.DataFrame:
    """A binned_bootstrap-like table over the merger-time bins: one network, made-up fractions."""
    bins = pd.cut([], MERGER_TIME_EDGES).categories
    rows = [{"bin": b, "kind": "raw", "metric": "fraction_correct", "mean": 0.5 + 0.02 * i, "lower": 0.4,
             "upper": 0.7, "n": 10} for i, b in enumerate(bins)]
    frame = pd.DataFrame(rows)
    frame["bin"] = pd.Categorical(frame["bin"], categories=bins)
    return frame


def test_fig08_marks_the_stage_windows_of_the_vocabulary(tmp_path):
    table = _merger_time_table()
    mids = (MERGER_TIME_EDGES[:-1] + MERGER_TIME_EDGES[1:]) / 2
    fig = figures.show("fig08_merger_time", tmp_path, table, x=mids)
    ax = fig.axes[0]
    labels = {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_text() in STAGE_WINDOWS_GYR}
    assert set(labels) == set(STAGE_WINDOWS_GYR)
    for stage, (lo, hi) in STAGE_WINDOWS_GYR.items():
        assert labels[stage] == pytest.approx((lo + hi) / 2)
    shaded = [p.get_x() for p in ax.patches if p.get_width() > 0]
    assert shaded, "the ongoing window is not shaded"
    assert min(shaded) == pytest.approx(STAGE_WINDOWS_GYR["ongoing"][0])
    plt.close(fig)


def test_transfer_scores_draws_both_rows_and_says_which_network_is_missing():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 40)
    transfer = pd.DataFrame({"label": label, "score_raw": rng.random(40), "score_model": rng.random(40)})
    transfer.attrs["kinds"] = ["raw", "model"]
    own = pd.DataFrame({"label": label, "score_raw": rng.random(40)})  # no model network trained here
    fig = figures.transfer_scores(own, transfer, {"raw": 0.4, "model": 0.6}, {"raw": 0.5})
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_title() for ax in axes[:, 0]] == [f"{network_label('raw')}: trained here",
                                                     f"{network_label('raw')}: transfer"]
    assert not axes[0, 1].axison and "not trained here" in axes[0, 1].texts[0].get_text()
    thresholds = [line.get_xdata()[0] for line in axes[1, 1].lines]
    assert thresholds == [0.6]  # the source run's threshold on the transfer row
    plt.close(fig)


def test_sersic_fitters_vs_galsim_draws_a_row_per_set_and_the_median_error():
    rows = []
    for kind in ("isolated", "neighbours"):
        for fitter, error in (("lm", 0.1), ("statmorph", 0.2)):
            for true in (2.0, 4.0, 8.0):
                rows.append({"kind": kind, "fitter": fitter, "background": "flat", "failed": False, "cpu_s": 0.5,
                             "true_r_e": true, "fit_r_e": true * (1 + error), "dr_rel": error,
                             "true_n": 1.0, "fit_n": 1.0, "dn_rel": 0.0,
                             "true_ellip": 0.3, "fit_ellip": 0.3, "de": 0.0})
    fig = figures.sersic_fitters_vs_galsim(pd.DataFrame(rows))
    assert len(fig.axes) == 6
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["lm (flat): median |err| 0.100, 0.50 CPU s/image",
                      "statmorph (flat): median |err| 0.200, 0.50 CPU s/image"]
    assert fig.axes[3].get_title() == "neighbours: r_e (px)"
    plt.close(fig)
