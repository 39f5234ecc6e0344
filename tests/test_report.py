"""The reproduction report: verdicts on the paper's conclusions and the written files."""

import pandas as pd
import pytest

from galmerge.report import PAPER_TABLE1, PAPER_TABLE2, judge_conclusions, write_report


def _table2(pre, post, err=1.0):
    kinds = ["raw", "model", "residual"]
    return pd.DataFrame({"pre": pre, "pre_err": [err] * 3, "post": post, "post_err": [err] * 3},
                        index=pd.Index(kinds, name="kind"))


def test_paper_tables_judged_by_their_own_uncertainties():
    # The paper's own Table 2 separates CNN3 from CNN2 on post-mergers by 2.1 points with
    # 95 % half-widths of 1.4 and 1.6: within the combined uncertainty (2.13), so even the
    # paper's numbers make conclusion III inconclusive by this criterion.
    verdicts = judge_conclusions(PAPER_TABLE1, PAPER_TABLE2)
    assert [v.verdict for v in verdicts] == ["reproduced", "reproduced", "inconclusive"]


def test_reversed_post_merger_ranking_is_not_reproduced():
    table1 = PAPER_TABLE1.copy()
    verdicts = judge_conclusions(table1, _table2(pre=[80, 78, 70], post=[60, 60, 50]))
    assert verdicts[1].verdict == "reproduced"
    assert verdicts[2].verdict == "not reproduced"


def test_difference_within_uncertainty_is_inconclusive():
    verdicts = judge_conclusions(PAPER_TABLE1, _table2(pre=[75, 74.5, 74], post=[55, 54, 54.5], err=2.0))
    assert verdicts[1].verdict == "inconclusive" and verdicts[2].verdict == "inconclusive"


def test_missing_network_is_not_testable():
    verdicts = judge_conclusions(PAPER_TABLE1.drop(index="model"), PAPER_TABLE2)
    assert all(v.verdict == "not testable" for v in verdicts)


def test_write_report_writes_markdown_and_html(tmp_path):
    figures = tmp_path / "figs"
    figures.mkdir()
    (figures / "fig12_roc.png").write_bytes(b"\x89PNG")
    paths = write_report(tmp_path, figures, PAPER_TABLE1, PAPER_TABLE2)
    text = paths["markdown"].read_text()
    assert "Table 1" in text and "CNN3 (residual)" in text and "fig12_roc" in text
    assert "accuracy (paper)" in text and "sigmoid" in text
    assert "<table>" in paths["html"].read_text()


def test_too_few_galaxies_in_a_stage_is_not_testable():
    table2 = _table2(pre=[90, 90, 10], post=[60, 40, 70]).assign(n_pre=5, n_post=50)
    verdicts = judge_conclusions(PAPER_TABLE1, table2)
    assert verdicts[1].verdict == "not testable" and "5 galaxies" in verdicts[1].evidence
    assert verdicts[2].verdict == "reproduced"


def test_accuracy_differences_on_a_small_test_set_are_inconclusive():
    table1 = PAPER_TABLE1.assign(n=30)  # 74 vs 70 % on 30 galaxies: well within the binomial noise
    assert judge_conclusions(table1, PAPER_TABLE2)[0].verdict == "inconclusive"
    table1 = PAPER_TABLE1.assign(n=20000)
    assert judge_conclusions(table1, PAPER_TABLE2)[0].verdict == "reproduced"


def test_load_tables_keeps_the_counts_that_set_the_uncertainties(tmp_path):
    from galmerge.report import load_tables
    from galmerge.runs import RunPaths

    paths = RunPaths(tmp_path)
    paths.table("table1").parent.mkdir(parents=True, exist_ok=True)
    # As the evaluation writes them: 60 test galaxies, 19 pre-mergers, 4 post-mergers.
    PAPER_TABLE1.assign(n=60, auc=75.0, network="x", threshold=0.5).to_csv(paths.table("table1"))
    (_table2(pre=[60, 42, 58], post=[75, 50, 25], err=21.0)
     .assign(n_pre=19, ongoing=100.0, ongoing_err=0.0, n_ongoing=1, n_post=4)
     .to_csv(paths.table("table2")))
    table1, table2 = load_tables(tmp_path)
    assert table1["n"].eq(60).all() and table2["n_post"].eq(4).all()
    verdicts = judge_conclusions(table1, table2)
    # 74 vs 70 % on 60 galaxies is within the binomial noise (about +-11 points each)
    assert verdicts[0].verdict == "inconclusive" and "±11." in verdicts[0].evidence
    assert verdicts[1].verdict == "not testable" and verdicts[2].verdict == "not testable"


def test_load_tables_names_a_missing_table(tmp_path):
    from galmerge.report import load_tables

    with pytest.raises(FileNotFoundError, match="table1"):
        load_tables(tmp_path)


def test_chance_level_networks_are_named():
    from galmerge.report import networks_at_chance

    table1 = PAPER_TABLE1.assign(n=60)
    table1.loc["model", "accuracy"] = 55.0  # 55 % of 60 galaxies: within +-12.7 points of a coin
    assert networks_at_chance(table1) == ["model"]
    assert networks_at_chance(PAPER_TABLE1) == []  # no test-set size: no claim either way
