"""The reproduction report: the written files, the dataset table, the verdicts and the captions.

The verdicts themselves are tested in test_conclusions.py."""

import json

import pandas as pd
import pytest

from galmerge.analysis.conclusions import Verdict
from galmerge.report import captions
from galmerge.report.markdown import PAPER_TABLE1, PAPER_TABLE2, audit_lines, dataset_tables, write_report
from galmerge.runs import Run


def _table2(pre, post, err=1.0):
    kinds = ["raw", "model", "residual"]
    return pd.DataFrame({"pre": pre, "pre_err": [err] * 3, "post": post, "post_err": [err] * 3},
                        index=pd.Index(kinds, name="kind"))


VERDICTS = [Verdict("I", "CNN1 beats CNN2 and CNN3", "reproduced", "CNN1 > CNN2 ...", "every claim's interval"),
            Verdict("II", "pre-mergers", "contradicted", "CNN1 > CNN3 ...", "below 0"),
            Verdict("III", "post-mergers", "inconclusive", "CNN3 > CNN2 ...", "only 8 post-mergers")]
CLAIMS = pd.DataFrame({"conclusion": ["I", "III"], "claim": ["CNN1 > CNN2 (accuracy, test galaxies)",
                                                             "CNN3 > CNN2 (fraction correct, post-mergers)"],
                       "n": [400, 8], "n_sequences": [300, 3], "value_better": [0.74, 0.5],
                       "value_worse": [0.70, 0.4], "difference": [0.04, 0.1], "lower": [0.01, -0.2],
                       "upper": [0.07, 0.4], "detectable": [0.085, 0.52], "paper_difference": [0.04, 0.021],
                       "mcnemar_p": [0.03, 1.0], "outcome": ["supported", "unresolved"]})


def test_write_report_writes_markdown_and_html_with_captions_and_claims(tmp_path):
    figures = tmp_path / "figs"
    figures.mkdir()
    for name in ("fig12_roc", "fig07_redshift"):
        (figures / f"{name}.png").write_bytes(b"\x89PNG")
    paths = write_report(tmp_path, figures, PAPER_TABLE1, PAPER_TABLE2, VERDICTS, CLAIMS)
    text = paths["markdown"].read_text()
    assert "Table 1" in text and "CNN3 (residual)" in text and "fig12_roc" in text
    assert "accuracy (paper)" in text and "sigmoid" in text
    assert "**II. pre-mergers**: **contradicted**. below 0." in text
    assert ("| III | CNN3 > CNN2 (fraction correct, post-mergers) | 8 | 3 | 50.0 | 40.0 | 10.0 | -20.0 | 40.0 "
            "| 52.0 | 2.1 |") in text
    assert "detectable (points) | paper (points)" in text and "minimum detectable difference" in text
    assert captions.caption("fig07_redshift") in text and "merger sequences" in captions.caption("fig07_redshift")
    assert "<table>" in paths["html"].read_text()


def test_dataset_section_is_a_table(tmp_path):
    summary = {"data": {"n_objects": 4000, "n_mergers": 1500, "n_nonmergers": 2500, "n_train": 3000,
                        "n_validation": 600, "n_test": 400, "baseline_accuracy": 0.62, "baseline_n_test": 400,
                        "split_seed": 3, "nested": {"a": 1}, "audit_leaks_outside_tolerance": 5},
               "evaluate": {"n_test": 398, "n_test_mergers": 150, "dropped": 2}}
    counts = pd.DataFrame({"pre": [10, 2], "post": [5, 1], "total": [100, 20]}, index=pd.Index(["train", "test"],
                                                                                               name="split"))
    text = "\n".join(dataset_tables(summary, counts))
    assert "Dataset:" not in text and "## Dataset" in text
    assert "| train / validation / test objects | 3000 / 600 / 400 |" in text
    assert "| test galaxies scored by every network | 398 (150 mergers; 2 left out for lack of a score) |" in text
    assert "baseline" not in text  # in Table 1, beside the networks, at their operating rule
    assert "| split seed | 3 |" in text and "nested" not in text
    assert "audit" not in text  # the audit has its own paragraph, naming the statistics
    assert "| test | 2 | 1 | 20 |" in text
    # the report reads tables/counts.csv when 00_data wrote it
    Run(tmp_path).write_table("counts", counts)
    Run(tmp_path).summary_path.write_text(json.dumps(summary))
    (tmp_path / "figs").mkdir()
    written = write_report(tmp_path, tmp_path / "figs", PAPER_TABLE1, PAPER_TABLE2, VERDICTS)
    assert "| test | 2 | 1 | 20 |" in written["markdown"].read_text()


def test_every_paper_figure_has_a_caption_and_the_bootstrapped_ones_name_their_error_bars():
    for name in ("fig07_redshift", "fig08_merger_time", "fig10_ellipticity_metrics", "fig11_ellipticity_balanced"):
        text = captions.caption(name, n_resamples=200)
        assert "200 bootstrap resamples" in text and "merger sequences" in text and "95 %" in text
    assert "20 draws" in captions.caption("fig11_ellipticity_balanced")
    for number in (1, 2, 3, 4, 6, 9, 12, 13, 14, 15, 16):
        assert any(name.startswith(f"fig{number:02d}_") for name in captions.CAPTIONS), number
    assert "kept epoch" in captions.caption("learning_curves")
    assert "no caption" in captions.caption("something_else")


def test_load_tables_keeps_the_counts(tmp_path):
    from galmerge.report.markdown import load_tables

    run = Run(tmp_path)
    run.write_table("table1", PAPER_TABLE1.assign(n=60, auc=75.0, network="x", threshold=0.5))
    run.write_table("table2", _table2(pre=[60, 42, 58], post=[75, 50, 25], err=21.0)
                    .assign(n_pre=19, ongoing=100.0, ongoing_err=0.0, n_ongoing=1, n_post=4))
    table1, table2 = load_tables(tmp_path)
    assert table1["n"].eq(60).all() and table2["n_post"].eq(4).all()


def test_load_tables_names_a_missing_table(tmp_path):
    from galmerge.report.markdown import load_tables

    with pytest.raises(FileNotFoundError, match="table1"):
        load_tables(tmp_path)


def test_chance_level_networks_are_named():
    from galmerge.report.markdown import networks_at_chance

    table1 = PAPER_TABLE1.assign(n=60)
    table1.loc["model", "accuracy"] = 55.0  # 55 % of 60 galaxies: within +-12.7 points of a coin
    assert networks_at_chance(table1) == ["model"]
    assert networks_at_chance(PAPER_TABLE1) == []  # no test-set size: no claim either way


def test_cnn1_is_put_beside_the_baseline_on_the_same_galaxies():
    from galmerge.report.markdown import baseline_comparison

    table1 = PAPER_TABLE1.assign(n=400)
    same = {"data": {"baseline_accuracy": 0.62, "baseline_n_test": 400}, "evaluate": {"n_test": 400, "dropped": 0}}
    text = " ".join(baseline_comparison(table1, same))
    assert "74.0 %, is above the non-CNN baseline's (62.0 %" in text and "same 400 test galaxies" in text
    other = {"data": {"baseline_accuracy": 0.80, "baseline_n_test": 400}, "evaluate": {"n_test": 390, "dropped": 10}}
    text = " ".join(baseline_comparison(table1, other))
    assert "below" in text and "on 390 (CNN1) and 400 (baseline)" in text
    assert baseline_comparison(table1, {}) == []


def test_report_written_from_the_runs_own_notebooks_folder(tmp_path, monkeypatch):
    """run_all.py executes the notebooks inside runs/<run>/notebooks/ with run_dir='..': the report
    still names the run and links each figure relative to the run folder."""
    import os

    run_dir, figures = tmp_path / "runs" / "quick-mock_quick", tmp_path / "figures" / "quick-mock_quick"
    (run_dir / "notebooks").mkdir(parents=True)
    figures.mkdir(parents=True)
    (figures / "fig12_roc.png").write_bytes(b"\x89PNG")
    monkeypatch.chdir(run_dir / "notebooks")
    paths = write_report("..", os.path.relpath(figures), PAPER_TABLE1, PAPER_TABLE2, VERDICTS)
    text = (run_dir / "REPORT.md").read_text()
    assert paths["markdown"].resolve() == (run_dir / "REPORT.md").resolve()
    assert text.startswith("# Reproduction report: quick-mock_quick\n")
    link = text.split("![fig12_roc](")[1].split(")")[0]
    assert (run_dir / link).resolve() == (figures / "fig12_roc.png").resolve()


# --------------------------------------------------------------------------- a report that speaks to its dataset
SDSS_SUMMARY = {"data": {"n_objects": 9491, "n_mergers": 2391, "n_nonmergers": 7100, "n_train": 7000,
                         "n_validation": 1500, "n_test": 950, "n_non": 7100, "n_unknown": 609,
                         "labelled_dataset": True, "available": {"stage": False, "redshift": True},
                         "audit_leaks_outside_tolerance": 2},
                "evaluate": {"n_test": 950, "n_test_mergers": 240, "dropped": 0},
                "merger_time": {"stages_available": False}}


def _table1_with_baseline():
    table1 = PAPER_TABLE1.assign(n=950, auc=90.0, specificity=93.0, balanced_accuracy=84.5,
                                 balanced_accuracy_low=82.0, balanced_accuracy_high=87.0,
                                 balanced_subsample_accuracy=84.5, balanced_subsample_accuracy_low=81.0,
                                 balanced_subsample_accuracy_high=88.0, accuracy_low=70.0, accuracy_high=78.0,
                                 seeds=1)
    base = table1.loc[["raw"]].rename(index={"raw": "baseline"}).assign(accuracy=83.3, balanced_accuracy=70.0)
    return pd.concat([table1, base])


def _sdss_report(tmp_path, audit=None, shortcut=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    run = Run(tmp_path)
    run.summary_path.write_text(json.dumps(SDSS_SUMMARY))
    run.write_table("counts", pd.DataFrame({"non": [5000, 950], "unknown": [609, 0], "total": [5609, 950]},
                                           index=pd.Index(["train", "test"], name="split")))
    if audit is not None:
        run.write_table("audit_leaks", audit)
    if shortcut is not None:
        run.write_table("shortcut_check", shortcut, index=False)
    (tmp_path / "figs").mkdir(exist_ok=True)
    table2 = _table2([70, 72, 60], [30, 35, 40]).assign(n_pre=0, n_post=0)
    verdicts = [VERDICTS[0], Verdict("II", "pre", "not available for this dataset", "", "no stages"),
                Verdict("III", "post", "not available for this dataset", "", "no stages")]
    return write_report(tmp_path, tmp_path / "figs", _table1_with_baseline(), table2, verdicts, CLAIMS)[
        "markdown"].read_text()


def test_a_labelled_dataset_report_has_no_paper_columns_no_empty_table_and_no_internal_words(tmp_path):
    text = _sdss_report(tmp_path)
    assert "(paper)" not in text and "not comparable" in text
    assert "## Table 2" in text and "gives no merger stages, so Table 2" in text
    assert "| pre |" not in text and "n_pre" not in text  # Table 2 is said once, not printed empty
    assert "n unknown" not in text and "| unknown" not in text
    assert "issue" not in text.lower() and "McNemar" not in text
    assert "labelled dataset ingested from survey cutouts" in text and "embedded mock" not in text
    # Table 1: balanced metrics with intervals beside accuracy, the baseline in the last row
    assert "balanced accuracy" in text and "84.5 [82.0, 87.0]" in text and "[81.0, 88.0]" in text
    assert "| non-CNN baseline |" in text and "83.3" in text
    assert "74.0 %, is below the non-CNN baseline's (83.3 %" in text and "balanced accuracy 84.5 against 70.0" in text
    assert "same test galaxies, both called at their validation precision = recall threshold" in text


def test_a_mock_report_keeps_the_paper_columns(tmp_path):
    run = Run(tmp_path)
    run.summary_path.write_text(json.dumps({"data": {"n_objects": 10}}))
    (tmp_path / "figs").mkdir()
    text = write_report(tmp_path, tmp_path / "figs", _table1_with_baseline(),
                        _table2([70, 72, 60], [30, 35, 40]), VERDICTS, CLAIMS)["markdown"].read_text()
    assert "accuracy (paper)" in text and "pre (paper)" in text


def test_every_flagged_audit_statistic_is_named_with_its_auc(tmp_path):
    audit = pd.DataFrame({"auc": [0.56, 0.50, 0.45, 0.70], "not_in_tng": [True, True, True, False],
                          "ok": [False, True, False, True], "description": ["a", "b", "c", "d"]},
                         index=pd.Index(["sky_rms", "header_size", "file_order", "asymmetry"], name="statistic"))
    text = _sdss_report(tmp_path, audit=audit)
    assert "sky_rms (AUC 0.56)." in text and "bookkeeping" in text and "file_order (AUC 0.45)" in text
    assert "header_size" not in text
    # without the audit table, the count from summary.json
    other = _sdss_report(tmp_path / "b")
    assert "2 statistics that a TNG-like dataset would not carry" in other


def test_the_shortcut_check_is_reported_with_a_warning_above_0_60(tmp_path):
    from galmerge.report.markdown import shortcut_section

    shortcut = pd.DataFrame({"probe": ["level", "noise", "all corner statistics"], "auc": [0.52, 0.66, 0.61],
                             "auc_low": [0.48, 0.62, 0.57], "auc_high": [0.56, 0.70, 0.65], "n": [950] * 3,
                             "warning": [False, True, True]})
    text = _sdss_report(tmp_path, shortcut=shortcut)
    assert "## Shortcut check" in text and "- level: AUC 0.52 [0.48, 0.56] on 950 images" in text
    assert "**Warning:** the far-sky probe 'noise' separates the classes with AUC 0.66" in text
    assert "'all corner statistics' separates the classes with AUC 0.61" in text and "'level' separates" not in text
    quiet = shortcut.assign(auc=[0.50, 0.55, 0.53], warning=False)
    Run(tmp_path).write_table("shortcut_check", quiet, index=False)
    lines = shortcut_section(Run(tmp_path))
    assert "No probe reaches 0.60." in lines and not any("Warning" in line for line in lines)
    assert shortcut_section(Run(tmp_path / "none")) == []  # no table: no section


def test_results_page_is_rendered_from_the_summary(tmp_path):
    from galmerge.report.markdown import results_markdown

    summary = {"data": {"shortcut_auc": 0.53, "shortcut_auc_max": 0.61, "shortcut_warning": True},
               "evaluate": {"n_test": 950, "n_test_mergers": 240,
                            "table1_percent": {"raw": {"accuracy": 88.7, "auc": 89.7, "balanced_accuracy": 84.5,
                                                       "balanced_accuracy_low": 82.0, "balanced_accuracy_high": 86.9},
                                               "baseline": {"accuracy": 83.3, "auc": 87.9}}},
               "report": {"I": "inconclusive", "reasons": {"I": "the interval includes 0"}}}
    text = results_markdown(summary, "sdss-sdss_darg2010")
    assert "950 galaxies, 240 of them mergers (25 %; calling every galaxy a non-merger scores 74.7 %)" in text
    assert "| CNN1 (raw) | 88.7 | 84.5 [82.0, 86.9] | 89.7 |" in text and "| non-CNN baseline | 83.3 | – |" in text
    assert "AUC 0.53, largest probe 0.61 **above 0.60" in text
    assert "**I** (" in text and "**inconclusive**. the interval includes 0." in text
    Run(tmp_path).summary_path.write_text(json.dumps(summary))
    (tmp_path / "figs").mkdir()
    written = write_report(tmp_path, tmp_path / "figs", PAPER_TABLE1, PAPER_TABLE2, VERDICTS)
    assert written["results"].name == "results.md" and "**II** (" in written["results"].read_text()


def test_the_matched_selection_table_is_reported_with_intervals():
    from galmerge.report.markdown import selection_section

    table = pd.DataFrame({"network": ["CNN1 (raw)", "CNN1 (raw)"], "sample": ["all test galaxies", "matched pairs"],
                          "n": [950, 448], "n_mergers": [240, 224], "accuracy": [88.7, 84.8], "recall": [75.8, 75.4],
                          "specificity": [93.1, 94.2], "auc": [89.7, 89.5], "accuracy_low": [86.0, 81.0],
                          "accuracy_high": [91.0, 88.0], "recall_low": [70.0, 69.0], "recall_high": [81.0, 81.0],
                          "specificity_low": [91.0, 91.0], "specificity_high": [95.0, 97.0]})
    text = "\n".join(selection_section(table, {"redshift": {"selection": {"n_pairs": 224}}}))
    assert "224 pairs" in text and "| CNN1 (raw) | matched pairs | 448 | 224 | 84.8 [81.0, 88.0] |" in text
    assert "94.2 [91.0, 97.0]" in text and selection_section(table.iloc[:0], {}) == []


def test_audit_names_flagged_statistics_and_says_absent_ones_apart():
    audit = pd.DataFrame({"auc": [0.58, float("nan"), 0.50], "ok": [False, False, True],
                          "not_in_tng": [True, True, True]}, index=["sky_level", "header_skyrms", "sky_rms"])
    text = "\n".join(audit_lines({}, audit))
    assert "sky_level (AUC 0.58)" in text
    assert "header_skyrms" in text and "AUC nan" not in text
    assert "Not measurable on this dataset (absent): header_skyrms" in text
    assert "sky_rms" not in text


def test_audit_says_bookkeeping_apart_from_what_the_networks_see():
    """A class-ordered sequence_ID (the sdss converter's) is no shortcut for networks that see pixels only."""
    audit = pd.DataFrame({"auc": [0.56, 0.0], "ok": [False, False], "not_in_tng": [True, True]},
                         index=["sky_rms", "sequence_ID"])
    pixels, bookkeeping = (block for block in "\n".join(audit_lines({}, audit)).split("\n\n") if block)
    assert "sky_rms (AUC 0.56)" in pixels and "sequence_ID" not in pixels and "could use them" in pixels
    assert "sequence_ID (AUC 0.00)" in bookkeeping and "no shortcut" in bookkeeping
    only_bookkeeping = "\n".join(audit_lines({}, audit.drop(index="sky_rms")))
    assert "could use them" not in only_bookkeeping and "sequence_ID" in only_bookkeeping
