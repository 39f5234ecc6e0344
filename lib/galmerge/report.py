"""The reproduction report: this run's Tables 1 and 2 beside the paper's, the deviations from the
paper, and which of the paper's three conclusions the run reproduces.

:func:`write_report` turns a finished run folder into ``REPORT.md`` and ``report.html``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge import evaluation
from galmerge.runs import RunPaths

#: The paper's Tables 1 and 2 (per cent), indexed by network kind; the numbers live in
#: galmerge.evaluation, which puts them beside every run's tables.
PAPER_TABLE1 = pd.DataFrame.from_dict(evaluation.PAPER_TABLE1, orient="index").rename_axis("kind")
PAPER_TABLE2 = pd.DataFrame.from_dict(evaluation.PAPER_TABLE2, orient="index").rename_axis("kind")

NETWORK_NAMES = {"raw": "CNN1 (raw)", "model": "CNN2 (model)", "residual": "CNN3 (residual)",
                 "stack": "CNN4 (stack)"}

#: Where this repository departs from the paper, and why. Shown verbatim in the report.
DEVIATIONS = [
    ("Output activation",
     "The paper ends in one neuron 'activated by a softmax'. A softmax over one unit is identically 1, "
     "so the network could not learn; we use a sigmoid, which is what a one-neuron binary classifier "
     "with binary cross-entropy needs."),
    ("Parameter count",
     "The paper quotes 8,186,113 trainable parameters; no reading of its layer list gives that number "
     "('valid' padding gives 7,594,241). The training notebook prints the count of the network we build "
     "and explains the padding choice (galmerge.cnn)."),
    ("Number of convolutional layers",
     "The text says 'three convolutional layers' and later 'after the four convolutional layers'; we "
     "follow the explicit layer list: three."),
    ("From the full field to 128 x 128",
     "The paper subtracts the model on the full-size image and then 'crops' or 'resizes' to 128 x 128 "
     "(both words are used). Both are implemented (profile key cutout_mode); the default is stated and "
     "justified in 01_sersic_fitting."),
    ("Decision threshold",
     "The paper does not say on which split precision = recall is found. We choose it on the validation "
     "split and apply it to the test split, so the test numbers are not tuned on the test set."),
    ("Data",
     "The default run uses the embedded mock dataset (galmerge.mock), not IllustrisTNG; its numbers test "
     "the pipeline and the method, not the paper's science. Point --data at the merger-challenge data to "
     "compare with the paper on equal terms."),
    ("Sérsic fitter and background",
     "The paper fits with statmorph after SEP's background (box 64 px); the paper profile does the same "
     "(fitter=statmorph, background=sep). The quick and smoke profiles use the batched Levenberg-Marquardt "
     "fitter of galmerge.sersic_lm (fitter=lm, about ten times faster) after a flat sky level measured far "
     "from every source (background=flat): on 128 px cutouts SEP's 64 px boxes follow a large galaxy's "
     "wings and remove part of its light, after which every fitter underestimates r_e and n. Both fitters "
     "are compared against GalSim truth in 01_sersic_fitting and benchmarks/bench_fitter_accuracy.py."),
    ("Network width and epochs",
     "The smoke and quick profiles train a narrower network for fewer epochs so that they run on a CPU; "
     "only the paper profile uses the paper's widths and 50 epochs."),
]


@dataclass
class Verdict:
    """Whether one of the paper's conclusions holds in this run."""

    conclusion: str
    verdict: str  # 'reproduced', 'not reproduced', 'not testable'
    evidence: str


#: Fewer galaxies than this in a stage make a Table 2 comparison "not testable".
MIN_GALAXIES = 20
CONCLUSIONS = ("I. Position/shape and residual information are both needed (CNN1 beats CNN2 and CNN3)",
               "II. Position and shape drive pre-merger classification (CNN1 and CNN2 beat CNN3 on pre-mergers)",
               "III. Residual features drive post-merger classification (CNN3 beats CNN2 on post-mergers)")


def _difference_verdict(a: float, a_err: float, b: float, b_err: float) -> str:
    """'reproduced' when a > b beyond the combined uncertainty, 'inconclusive' within it, else 'not reproduced'."""
    if any(np.isnan(v) for v in (a, b)):
        return "not testable"
    margin = float(np.hypot(np.nan_to_num(a_err), np.nan_to_num(b_err)))
    if a - b > margin:
        return "reproduced"
    if a - b >= -margin:
        return "inconclusive"
    return "not reproduced"


def _both(first: str, second: str) -> str:
    """Verdict of a conclusion that makes two claims."""
    for verdict in ("not testable", "not reproduced", "inconclusive"):
        if verdict in (first, second):
            return verdict
    return "reproduced"


def _accuracy_half_width(accuracy_percent: float, n: float) -> float:
    """95 % half-width (per cent) of an accuracy measured on ``n`` galaxies (normal binomial approximation)."""
    if not np.isfinite(n) or n <= 0:
        return 0.0
    p = accuracy_percent / 100
    return 100 * 1.96 * float(np.sqrt(p * (1 - p) / n))


def _stage_values(table2: pd.DataFrame, kind: str, stage: str) -> tuple[float, float]:
    """(mean, error) of one stage, NaN when fewer than MIN_GALAXIES galaxies were in it."""
    n = table2.at[kind, f"n_{stage}"] if f"n_{stage}" in table2.columns else np.inf
    if not n >= MIN_GALAXIES:
        return np.nan, np.nan
    return float(table2.at[kind, stage]), float(table2.at[kind, f"{stage}_err"])


def networks_at_chance(table1: pd.DataFrame) -> list[str]:
    """Networks whose test accuracy is within its binomial 95 % uncertainty of 50 % (a coin).

    Needs the ``n`` column (test galaxies); without it no network is called chance-level.
    """
    if "n" not in table1.columns:
        return []
    return [kind for kind, row in table1.iterrows()
            if abs(row["accuracy"] - 50.0) <= _accuracy_half_width(50.0, row["n"])]


def judge_conclusions(table1: pd.DataFrame, table2: pd.DataFrame) -> list[Verdict]:
    """Test the paper's three conclusions on this run's tables.

    Parameters
    ----------
    table1 : DataFrame
        Indexed by kind (raw, model, residual, ...), with an ``accuracy`` column in per cent and,
        optionally, ``n`` (test galaxies), which gives accuracies a binomial 95 % uncertainty.
    table2 : DataFrame
        Indexed by kind, with ``pre``, ``pre_err``, ``post``, ``post_err`` in per cent
        (bootstrap mean and upper bound minus mean) and, optionally, ``n_pre``, ``n_post``:
        a stage with fewer than :data:`MIN_GALAXIES` galaxies is not testable.
    """
    needed = {"raw", "model", "residual"}
    missing = sorted(needed - set(table1.index) | needed - set(table2.index))
    if missing:
        return [Verdict(c, "not testable", f"networks missing: {missing}") for c in CONCLUSIONS]
    acc = table1["accuracy"]
    n = table1["n"] if "n" in table1.columns else pd.Series(np.nan, index=table1.index)
    err = {k: _accuracy_half_width(acc[k], n[k]) for k in needed}
    first = _both(_difference_verdict(acc["raw"], err["raw"], acc["model"], err["model"]),
                  _difference_verdict(acc["raw"], err["raw"], acc["residual"], err["residual"]))
    evidence = ", ".join(f"{NETWORK_NAMES[k].split()[0]} {acc[k]:.1f}±{err[k]:.1f} %"
                         for k in ("raw", "model", "residual"))
    verdicts = [Verdict(CONCLUSIONS[0], first, f"accuracy {evidence} (paper: 74, 70, 68)")]

    def stage_claim(stage: str, better: str, worse: str) -> str:
        return _difference_verdict(*_stage_values(table2, better, stage), *_stage_values(table2, worse, stage))

    def stage_evidence(stage: str, paper: str) -> str:
        values = [(k, table2.at[k, stage], table2.at[k, f"{stage}_err"]) for k in ("raw", "model", "residual")]
        shown = ", ".join(f"{NETWORK_NAMES[k].split()[0]} {m:.1f}±{e:.1f} %" for k, m, e in values)
        count = ""
        if f"n_{stage}" in table2.columns:
            n = int(table2.at["raw", f"n_{stage}"])
            count = f" ({n} galaxies{'' if n >= MIN_GALAXIES else f', fewer than {MIN_GALAXIES}'})"
        return f"{stage}-mergers correct{count}: {shown} (paper: {paper})"

    verdicts.append(Verdict(CONCLUSIONS[1], _both(stage_claim("pre", "raw", "residual"),
                                                  stage_claim("pre", "model", "residual")),
                            stage_evidence("pre", "79.3, 76.6, 73.3")))
    verdicts.append(Verdict(CONCLUSIONS[2], stage_claim("post", "residual", "model"),
                            stage_evidence("post", "58.8, 53.4, 55.5")))
    return verdicts


#: Columns of the evaluation's tables that the report shows: Table 1 with its test-set size ``n``
#: (the binomial uncertainty of accuracies needs it), Table 2 with the galaxies per stage.
TABLE1_COLUMNS = ["n", "accuracy", "precision", "recall", "f1", "auc"]
TABLE2_COLUMNS = ["n_pre", "pre", "pre_err", "n_ongoing", "ongoing", "ongoing_err", "n_post", "post", "post_err"]


def load_tables(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 and Table 2 of a run (``tables/table1.csv``, ``table2.csv``), as the report needs them.

    Keeps the galaxy counts beside the percentages, so that :func:`judge_conclusions` can give
    accuracies their binomial uncertainty and leave stages with too few galaxies untested.
    """
    from galmerge.runs import RunPaths

    paths = RunPaths(run_dir)
    tables = []
    for name, columns in (("table1", TABLE1_COLUMNS), ("table2", TABLE2_COLUMNS)):
        path = paths.table(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run the evaluation notebooks "
                                    "(03_evaluate, 05_merger_time) first")
        table = pd.read_csv(path, index_col="kind")
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: lacks column(s) {missing}")
        tables.append(table[columns])
    return tables[0], tables[1]


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Interleave this run's columns with the paper's: ``accuracy``, ``accuracy (paper)``, ..."""
    out = pd.DataFrame(index=ours.index)
    for column in ours.columns:
        out[column] = ours[column]
        if column in paper.columns:
            out[f"{column} (paper)"] = paper[column].reindex(ours.index)
    out.index = [NETWORK_NAMES.get(k, k) for k in out.index]
    return out


def _markdown_table(frame: pd.DataFrame, digits: int = 1) -> str:
    def cell(v, column):
        if isinstance(v, (int, float, np.integer, np.floating)):
            if np.isnan(v):
                return "–"
            is_count = column == "n" or str(column).startswith("n_")
            return f"{int(v)}" if is_count else f"{v:.{digits}f}"
        return str(v)
    header = "| | " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|---" * (len(frame.columns) + 1) + "|"
    rows = ["| " + str(idx) + " | " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
            for idx, row in zip(frame.index, frame.itertuples(index=False))]
    return "\n".join([header, rule, *rows])


def render_markdown(table1: pd.DataFrame, table2: pd.DataFrame, verdicts: list[Verdict],
                    figures: list[Path], run_dir: Path, summary: dict) -> str:
    """The text of REPORT.md."""
    lines = [f"# Reproduction report: {run_dir.name}", ""]
    data = summary.get("data", {})
    if data:
        shown = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in data.items()
                 if not isinstance(v, (dict, list))}
        lines += ["Dataset: " + ", ".join(f"{k} = {v}" for k, v in shown.items()), ""]
    lines += ["## Table 1: overall performance on the test set (per cent)", "",
              _markdown_table(beside_paper(table1, PAPER_TABLE1)), "",
              "## Table 2: fraction of mergers correctly classified, by stage "
              "(per cent, bootstrap mean ± upper-mean)", "",
              _markdown_table(beside_paper(table2, PAPER_TABLE2)), "",
              "## The paper's conclusions on this run", ""]
    chance = networks_at_chance(table1)
    if chance:
        names = ", ".join(NETWORK_NAMES.get(k, k) for k in chance)
        lines += [f"**Warning:** {names} classify the test set no better than a coin (accuracy within "
                  "the binomial 95 % uncertainty of 50 %). Comparisons involving them say nothing about the "
                  "paper's conclusions; a from-scratch CNN needs thousands of training images "
                  "(benchmarks/mock_learnability.py).", ""]
    for v in verdicts:
        lines += [f"- **{v.conclusion}**: {v.verdict}. {v.evidence}."]
    lines += ["", "A conclusion is 'reproduced' when the difference it claims exceeds the combined 95 % "
              "uncertainty (bootstrap for Table 2, binomial for accuracies), 'inconclusive' when it lies "
              f"within it, and 'not testable' when a stage holds fewer than {MIN_GALAXIES} test galaxies.",
              "", "## Deviations from the paper", ""]
    lines += [f"- **{title}.** {text}" for title, text in DEVIATIONS]
    lines += ["", "## Figures", ""]
    for fig in figures:
        rel = os.path.relpath(fig, run_dir)
        lines += [f"### {fig.stem}", "", f"![{fig.stem}]({rel})", ""]
    return "\n".join(lines)


def write_report(run_dir: str | Path, figures_dir: str | Path, table1: pd.DataFrame,
                 table2: pd.DataFrame) -> dict[str, Path]:
    """Write ``REPORT.md`` and ``report.html`` into ``run_dir``; returns their paths.

    ``table1`` and ``table2`` are indexed by network kind with the columns described in
    :func:`judge_conclusions` (percentages).
    """
    import mistune

    run_dir, figures_dir = Path(run_dir), Path(figures_dir)
    summary_path = RunPaths(run_dir).summary
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    figures = sorted(figures_dir.glob("fig*.png"))
    verdicts = judge_conclusions(table1, table2)
    text = render_markdown(table1, table2, verdicts, figures, run_dir, summary)
    md_path = run_dir / "REPORT.md"
    md_path.write_text(text, encoding="utf-8")
    html = mistune.html(text)
    html_path = run_dir / "report.html"
    html_path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>galmerge report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto} img{max-width:100%} "
        "table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body>{html}</body></html>", encoding="utf-8")
    return {"markdown": md_path, "html": html_path}
