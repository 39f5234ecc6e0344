"""The whole pipeline on the smoke profile: mock data -> fitting -> four CNNs -> analysis -> report.

This is the slowest test of the suite (a few minutes on 2 cores). Its numbers mean nothing;
it proves that every notebook runs and writes what the next one and the reader need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Every figure of the paper that is a plot (Fig 5 is a diagram).
PAPER_FIGURES = ["fig01", "fig02", "fig03", "fig04", "fig06", "fig07", "fig08", "fig09",
                 "fig10", "fig11", "fig12", "fig13", "fig14", "fig15", "fig16"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    run_dir = root / "smoke-e2e-test"
    env = dict(os.environ)
    cmd = [sys.executable, str(REPO / "run_all.py"), "--profile", "smoke",
           "--data", str(root / "mock_smoke"), "--out", str(run_dir), "--figures", str(root / "figures")]
    generate = [sys.executable, "-m", "galmerge.mock", "--out", str(root / "mock_smoke"),
                "--n", "64", "--seed", "3"]
    subprocess.run(generate, check=True, env=env, cwd=REPO, timeout=900)
    result = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, f"run_all.py failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return run_dir, root / "figures"


@pytest.mark.slow
def test_every_notebook_executed_with_html(smoke_run):
    run_dir, _ = smoke_run
    executed = sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed[0] == "00_data" and "09_report" in executed
    for stem in executed:
        assert (run_dir / "notebooks" / f"{stem}.html").exists()


@pytest.mark.slow
def test_every_paper_figure_and_table_exists(smoke_run):
    run_dir, figures = smoke_run
    names = {p.name for p in figures.glob("*.png")}
    missing = [f for f in PAPER_FIGURES if not any(n.startswith(f) for n in names)]
    assert not missing, f"figures missing from {figures}: {missing}"
    assert (run_dir / "tables" / "table1.csv").exists()
    assert (run_dir / "tables" / "table2.csv").exists()
    assert (run_dir / "REPORT.md").exists()


@pytest.mark.slow
def test_summary_has_every_section(smoke_run):
    run_dir, _ = smoke_run
    summary = json.loads((run_dir / "summary.json").read_text())
    for section in ("data", "sersic", "train_raw", "train_model", "train_residual", "train_stack"):
        assert section in summary, f"summary.json lacks {section!r}"


@pytest.mark.slow
def test_summary_keeps_the_headline_keys_and_every_conclusion_has_a_verdict(smoke_run):
    run_dir, _ = smoke_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data"]["n_test"] > 0 and 0 <= summary["data"]["baseline_accuracy"] <= 1
    for kind in ("raw", "model", "residual"):
        assert 0 <= summary["evaluate"]["table1_percent"][kind]["accuracy"] <= 100
    for key in ("I", "II", "III"):
        assert summary["report"][key] in ("reproduced", "contradicted", "inconclusive")
        assert summary["report"]["reasons"][key]
    claims = (run_dir / "tables" / "conclusions.csv").read_text()
    assert "McNemar" not in claims and "mcnemar_p" in claims
    report = (run_dir / "REPORT.md").read_text()
    assert "## Dataset" in report and "Dataset:" not in report
    assert "merger sequences" in report  # the captions of the bootstrapped figures say what the bars are


@pytest.mark.slow
def test_tables_hold_numbers_in_range(smoke_run):
    import pandas as pd

    run_dir, _ = smoke_run
    table1 = pd.read_csv(run_dir / "tables" / "table1.csv", index_col="kind")
    assert set(table1.index) >= {"raw", "model", "residual"}
    for column in ("accuracy", "precision", "recall", "f1"):
        values = table1[column].dropna()
        assert len(values) and values.between(0, 100).all(), f"table1 {column}: {values.tolist()}"
    assert (table1["n"] > 0).all()
    thresholds = pd.read_csv(run_dir / "tables" / "thresholds.csv")
    assert thresholds["threshold"].between(0, 1).all()
    for kind in ("raw", "model", "residual", "stack"):
        scores = pd.read_csv(run_dir / "train" / kind / "scores_test.csv")
        assert len(scores) and scores["score"].between(0, 1).all() and scores["label"].isin((0, 1)).all()


@pytest.mark.slow
def test_figures_decode_and_the_report_shows_them_with_captions(smoke_run):
    import matplotlib.image as mpimg

    run_dir, figures = smoke_run
    for png in sorted(figures.glob("*.png")):
        pixels = mpimg.imread(png)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50 and pixels.std() > 0, png.name
    report = (run_dir / "REPORT.md").read_text()
    assert report.count("![fig") == len(list(figures.glob("fig*.png")))
    assert "(no caption recorded)" not in report


@pytest.mark.slow
def test_rendered_notebooks_hold_no_progress_flood_and_no_absolute_path(smoke_run):
    run_dir, _ = smoke_run
    for html in sorted((run_dir / "notebooks").glob("*.html")):
        text = html.read_text(encoding="utf-8")
        assert str(REPO) not in text, f"{html.name} shows the repository's absolute path"
        assert text.count("it/s]") + text.count("img/s]") + text.count("map/s]") <= 10, html.name
        assert "IProgress not found" not in text, html.name
