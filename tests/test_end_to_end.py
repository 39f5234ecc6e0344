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
           "--data", str(root / "mock_smoke"), "--out", str(run_dir)]
    generate = [sys.executable, "-m", "galmerge.mock", "--out", str(root / "mock_smoke"),
                "--n", "64", "--seed", "3"]
    subprocess.run(generate, check=True, env=env, cwd=REPO, timeout=900)
    result = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, f"run_all.py failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return run_dir, REPO / "figures" / run_dir.name


@pytest.mark.slow
def test_every_notebook_executed_with_html(smoke_run):
    run_dir, _ = smoke_run
    executed = sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed[0] == "00_data" and "08_report" in executed
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
