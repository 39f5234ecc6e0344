"""The reproduction report: this run's Tables 1 and 2 beside the paper's, the deviations from the
paper, and which of the paper's three conclusions the run reproduces.

:func:`write_report` turns a finished run folder into ``REPORT.md`` and ``report.html``; the
verdicts come from :mod:`galmerge.analysis.conclusions` (paired bootstrap of merger sequences), the figure
captions from :mod:`galmerge.report.captions`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge import vocab
from galmerge.analysis.conclusions import (
    CONCLUSIONS,
    MIN_GALAXIES,
    MIN_SEQUENCES,
    POWER,
    VERDICTS,
    Verdict,
    judge_conclusions,
    variance_note,
)
from galmerge.analysis.evaluation import BASELINE_KIND
from galmerge.mock.audit import LEAK_TOLERANCE
from galmerge.nets.transfer import TRANSFER_TABLE
from galmerge.report.captions import caption
from galmerge.runs import Run, RunError, as_run

__all__ = ["CONCLUSIONS", "MIN_GALAXIES", "MIN_SEQUENCES", "VERDICTS", "Verdict", "judge_conclusions",
           "beside_paper", "load_tables", "networks_at_chance", "render_markdown", "write_report"]

#: The paper's Tables 1 and 2 (per cent, :mod:`galmerge.vocab`) as tables indexed by network kind.
PAPER_TABLE1 = pd.DataFrame.from_dict(vocab.PAPER_TABLE1, orient="index").rename_axis("kind")
PAPER_TABLE2 = pd.DataFrame.from_dict(vocab.PAPER_TABLE2, orient="index").rename_axis("kind")

#: Where this repository departs from the paper, and why. Shown verbatim in the report.
DEVIATIONS = [
    ("Output activation",
     "The paper ends in one neuron 'activated by a softmax'. A softmax over one unit is identically 1, "
     "so the network could not learn; we use a sigmoid, which is what a one-neuron binary classifier "
     "with binary cross-entropy needs."),
    ("Parameter count",
     "The paper quotes 8,186,113 trainable parameters; no reading of its layer list gives that number "
     "('valid' padding gives 7,594,241). The training notebook prints the count of the network we build "
     "and explains the padding choice (galmerge.nets.cnn)."),
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
     "fitter of galmerge.sersic.lm (fitter=lm, about ten times faster) after a flat sky level measured far "
     "from every source (background=flat): on 128 px cutouts SEP's 64 px boxes follow a large galaxy's "
     "wings and remove part of its light, after which every fitter underestimates r_e and n. Both fitters "
     "are compared against GalSim truth in 01_sersic_fitting and benchmarks/bench_fitter_accuracy.py."),
    ("Uncertainties",
     "The paper bootstraps galaxies. Objects of one merger sequence (the same pair at several snapshots) are "
     "classified alike, so every bootstrap here resamples merger sequences (an object without one alone), which "
     "widens the intervals honestly; and each conclusion is judged on the paired bootstrap of the difference "
     "between two networks on the same resampled galaxies, not on two separate intervals "
     "(galmerge.analysis.conclusions)."),
    ("Network width and epochs",
     "The smoke and quick profiles train a narrower network for fewer epochs so that they run on a CPU; "
     "the quick profile also averages 2 x 2 pixels before the first layer (kernels 7, 6, 5 on the binned "
     "pixels cover the paper's 13, 11, 9; profile key cnn_input_bin, recorded in the run's config.json). "
     "Measured effect (benchmarks/learning_curves.py, one 17,000-object mock, CNN1, 20 epochs): on the same "
     "3,000 training images the binned network scored 57.1 % (AUC 0.595) against 59.2 % (0.611) unbinned, "
     "within one seed's spread, at about a quarter to a seventh of the training time per image; the images "
     "that time buys are worth more (12,000 binned: 64.0 %, AUC 0.702). No early stopping: on these noisy "
     "validation curves every patience rule tried stopped some network while it still learned "
     "(benchmarks/early_stopping.py). Only the paper profile uses the paper's network and 50 epochs."),
    ("Asymmetry channels",
     "The paper's networks see the image alone. With cnn_asymmetry_channel (on in the quick profile, off in the "
     "paper and sdss profiles) each input channel "
     "is joined, inside the network, by its rotational asymmetry map: the image less itself turned by 180 degrees, "
     "min-max normalised (galmerge.nets.asymmetry; the map whose sum is Conselice et al. 2000's asymmetry A). "
     "Reason, measured: on the mock CNN1 lost to nine image statistics where galaxies are large (z < 0.31: 60.7 "
     "against 68.4 %), because comparing opposite sides of an image is a non-local operation a small CNN learns "
     "slowly from a few thousand images. Measured effect on the quick run's mock and splits "
     "(benchmarks/learning_curves.py, five seeds): CNN1 64.9 +- 1.5 % (AUC 0.715) against 63.5 +- 1.6 % (0.686) "
     "without, 68.2 against 60.7 % at z < 0.31; over the whole pipeline, one seed: CNN1 64.5 % (61.4 without), "
     "CNN2 66.6 % (60.3), CNN3 62.0 % (63.3). All three networks get it, so they stay identical but for their "
     "input. The run's config.json records the setting."),
    ("Batch-normalisation statistics",
     "The paper's blocks are convolution, ReLU, batch normalisation, 20 % dropout and pooling, so every "
     "normalisation but the first is fed through dropout, and the moving variances Keras keeps for inference carry "
     "the variance dropout adds in training, which inference does not have (the 'variance shift' of Li et al. "
     "2019). With batch_norm_recalibration (on in the quick, sdss and smoke profiles, off in the paper profile) "
     "the statistics are re-estimated after every epoch on 2,048 training images with dropout off (PreciseBN, "
     "Wu & Johnson 2021; galmerge.nets.batchnorm): the layers, weights and training steps are the paper's, only "
     "the statistics used at inference change. Measured (benchmarks/batch_norm_recalibration.py, one seed): "
     "the validation curves stop jumping (sdss CNN1's threshold at precision = recall moved between 0.03 and "
     "0.21 from epoch to epoch, now 0.43-0.61); sdss CNN1's test balanced accuracy 89.9 % against 87.4 % "
     "(AUC 95.5 against 94.0); the quick mock's CNN1 65.8 +- 0.6 % over five seeds (AUC 0.737) against "
     "64.9 +- 1.5 % (0.715) without, its seeds now agreeing to 0.6 points. The run's config.json records the "
     "setting."),
    ("Augmentation",
     "The paper does not say it augments. The quick and sdss profiles (augment=true) turn every training image by a "
     "random multiple of 90 degrees and maybe flip it, which leaves a galaxy's merger state unchanged: with "
     "a few thousand training images it is the cheapest way to show the network more; the earlier merger CNNs "
     "the paper cites augmented their images (Ackermann et al. 2018; Pearson et al. 2019b; Bickley et al. "
     "2021). The paper profile does not augment. The run's config.json records the setting."),
]


def deviations(summary: dict) -> list[tuple[str, str]]:
    """:data:`DEVIATIONS`, the 'Data' entry said for the run's own data: the mock, the merger-challenge
    data, or a labelled dataset of another kind."""
    if not summary.get("data", {}).get("labelled_dataset"):
        return DEVIATIONS
    text = ("This run uses a labelled dataset ingested from survey cutouts, not IllustrisTNG: its numbers say "
            "how the paper's method and conclusions fare on these galaxies, and are not comparable with the "
            "paper's tables, which the report therefore does not print beside them.")
    return [(title, text if title == "Data" else body) for title, body in DEVIATIONS]


def _accuracy_half_width(accuracy_percent: float, n: float) -> float:
    """95 % half-width (per cent) of an accuracy measured on ``n`` galaxies (normal binomial approximation)."""
    if not np.isfinite(n) or n <= 0:
        return 0.0
    p = accuracy_percent / 100
    return 100 * 1.96 * float(np.sqrt(p * (1 - p) / n))


#: Verdict of a conclusion whose evidence the dataset does not hold (a labelled dataset without stages).
NOT_AVAILABLE = "not available for this dataset"


def mark_unavailable(verdicts: list[Verdict], stages: bool = True) -> list[Verdict]:
    """Conclusions II and III compare networks on pre- and post-mergers: without merger stages in
    the dataset (``stages`` False) their verdict is :data:`NOT_AVAILABLE` instead of a comparison."""
    if stages:
        return verdicts
    return [v if v.key == "I" else
            Verdict(v.key, v.conclusion, NOT_AVAILABLE, "no test merger has a stage",
                    "the dataset gives no merger stages (labelled cutouts without a stage column)", v.claims)
            for v in verdicts]


def dataset_notes(summary: dict) -> list[str]:
    """Report paragraphs about the dataset itself: a labelled dataset's display images and size policy,
    and the analyses its missing columns rule out (from ``summary.json``'s data section)."""
    data = summary.get("data", {})
    notes = []
    n_display = int(data.get("n_display_images", 0) or 0)
    if n_display:
        notes.append(f"**Display images.** {n_display} of {data.get('n_objects', '?')} images are 8/16-bit display "
                     "images (PNG/JPEG/TIFF from a survey viewer: non-linear stretch, clipped), not flux: the Sérsic "
                     "parameters fitted on them (n, r_e, ellipticity; Figs 9-11) are not physical, and the model and "
                     "residual inputs describe the stretched light, not the galaxy's.")
    if data.get("labelled_dataset"):
        from galmerge.ingest import SIZE_POLICY
        notes.append(f"**Image size.** Labelled cutouts of any size: {SIZE_POLICY}.")
    available = data.get("available", {})
    missing = [name for key, name in (("redshift", "redshifts (Fig 7)"),
                                      ("merger_time", "merger times (Figs 2, 8)"),
                                      ("stage", "merger stages (Table 2, conclusions II and III)"),
                                      ("truth", "mock truth (fitted vs true Sérsic parameters)"))
               if key in available and not available[key]]
    if missing and data.get("labelled_dataset"):
        notes.append("**Not available for this dataset:** " + "; ".join(missing) + ".")
    return notes


def transfer_section(table: pd.DataFrame, info: dict, run_dir: Path, figures_dir: Path | None = None) -> list[str]:
    """REPORT.md lines for 08_transfer's table (``tables/transfer_table1.csv``) and score figure."""
    source = info.get("source_run", "another run")
    shown = table.set_index(table["network"] + ": " + table["setting"])[
        ["trained_on", "threshold", "n", "accuracy", "precision", "recall", "f1", "auc"]]
    lines = [f"## Transfer: this run's test galaxies scored by the networks of {source}", "",
             "Table 1 (per cent) of this run's networks ('trained here') and of the networks of "
             f"{source} on the same test galaxies: at {source}'s own threshold ('transfer') and at a threshold "
             "re-chosen on this run's validation split. A lower AUC is lost ranking power; a recovered "
             "accuracy after re-choosing the threshold is a shifted score scale (08_transfer).", "",
             _markdown_table(shown.assign(threshold=shown["threshold"].round(3)), digits=1), ""]
    figure = Path(figures_dir or ".") / "transfer_scores.png"
    if figures_dir is not None and figure.exists():
        lines += [f"![transfer_scores]({os.path.relpath(figure, run_dir)})", ""]
    return lines


def networks_at_chance(table1: pd.DataFrame) -> list[str]:
    """Networks whose test accuracy is within its binomial 95 % uncertainty of 50 % (a coin).

    Needs the ``n`` column (test galaxies); without it no network is called chance-level.
    """
    if "n" not in table1.columns:
        return []
    return [kind for kind, row in table1.iterrows()
            if abs(row["accuracy"] - 50.0) <= _accuracy_half_width(50.0, row["n"])]


#: Columns of the evaluation's tables that the report shows: Table 1 with its test-set size ``n``
#: (the binomial uncertainty of accuracies needs it), Table 2 with the galaxies per stage.
TABLE1_COLUMNS = ["n", "accuracy", "precision", "recall", "f1", "auc"]
#: Table 1's class-balance-free columns and intervals (written by 03_evaluate; older tables lack them).
TABLE1_BALANCED_COLUMNS = ["accuracy_low", "accuracy_high", "specificity", "balanced_accuracy",
                           "balanced_accuracy_low", "balanced_accuracy_high", "balanced_subsample_accuracy",
                           "balanced_subsample_accuracy_low", "balanced_subsample_accuracy_high", "threshold",
                           "threshold_at_balance", "balanced_accuracy_at_balance", "balanced_accuracy_at_balance_low",
                           "balanced_accuracy_at_balance_high"]
TABLE2_COLUMNS = ["n_pre", "pre", "pre_err", "n_ongoing", "ongoing", "ongoing_err", "n_post", "post", "post_err"]
#: Columns of the claims table (galmerge.analysis.conclusions) shown in the report.
CLAIM_COLUMNS = {"claim": "claim", "n": "n", "n_sequences": "n_sequences", "value_better": "first (%)",
                 "value_worse": "second (%)", "difference": "difference (points)", "lower": "95 % low",
                 "upper": "95 % high", "detectable": "detectable (points)", "paper_difference": "paper (points)",
                 "power_paper": "power at paper (%)", "seed_sd": "seed term SD (points)",
                 "outcome": "outcome"}


#: Training-variance columns shown when the tables have them: train seeds and the SD over seeds.
TABLE1_SEED_COLUMNS = ["seeds", "accuracy_seed_sd"]
TABLE2_SEED_COLUMNS = ["seeds", "pre_seed_sd", "post_seed_sd"]
#: What a seed-SD cell says when the network has one seed and no benchmark measured its spread.
NO_SEED_SPREAD = "n/a"


def load_tables(run: Run | str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 and Table 2 of a run (``tables/table1.csv``, ``table2.csv``), as the report shows them,
    with the galaxy counts beside the percentages, and the train seeds, seed SDs and Table 1's balanced
    metrics and intervals where the tables have them (older tables lack them)."""
    run = as_run(run)
    tables = []
    for name, columns, optional in (("table1", TABLE1_COLUMNS, TABLE1_SEED_COLUMNS + TABLE1_BALANCED_COLUMNS),
                                    ("table2", TABLE2_COLUMNS, TABLE2_SEED_COLUMNS)):
        if not run.has_table(name):
            raise RunError(f"{run.table_path(name)}: missing; run the evaluation notebooks "
                           "(03_evaluate, 05_merger_time) first")
        table = run.table(name, index_col="kind")
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{run.table_path(name)}: lacks column(s) {missing}")
        tables.append(table[columns + [c for c in optional if c in table.columns]])
    return tables[0], tables[1]


def _benchmark_sd(seed_variance: pd.DataFrame | None, kind: str, subset: str) -> float:
    """The benchmark's seed SD (per cent) of one network's accuracy on ``subset``; NaN without one."""
    from galmerge.analysis.conclusions import benchmark_seed_sd

    return 100 * benchmark_seed_sd(seed_variance, kind, subset)[0]


def with_seed_spread(table: pd.DataFrame, seed_variance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1 or 2 with its ``*_seed_sd`` cells filled for one-seed networks: the seed-variance benchmark's
    SD, marked ``(benchmark)``, where it measured one (:func:`galmerge.analysis.conclusions.benchmark_seed_sd`),
    else :data:`NO_SEED_SPREAD`. Networks trained with several seeds keep their own SD."""
    out = table.copy()
    one_seed = out["seeds"] <= 1 if "seeds" in out.columns else pd.Series(True, index=out.index)
    for column in [c for c in out.columns if str(c).endswith("_seed_sd")]:
        subset = "all" if column.startswith("accuracy") else column.split("_")[0]
        cells = []
        for kind, value in out[column].items():
            sd = _benchmark_sd(seed_variance, str(kind), subset) if one_seed[kind] else value
            cells.append(f"{sd:.1f}" + (" (benchmark)" if one_seed[kind] else "") if np.isfinite(sd)
                         else NO_SEED_SPREAD)
        out[column] = cells
    return out


def seed_spread_note(table1: pd.DataFrame, seed_variance: pd.DataFrame | None = None) -> str:
    """A sentence under Table 1 on what its seed-SD column holds."""
    table1 = table1.drop(index=BASELINE_KIND, errors="ignore")
    seeds = table1["seeds"] if "seeds" in table1.columns else pd.Series(1, index=table1.index)
    if (seeds > 1).all():
        return (f"Each network was trained with {', '.join(str(int(k)) for k in sorted(set(seeds)))} train seeds; "
                "the table gives the mean over seeds (each at its own validation threshold) and `*_seed_sd`, the "
                "sample standard deviation over seeds.")
    if seed_variance is not None and len(seed_variance):
        n = int(seed_variance["seed"].nunique())
        runs = ", ".join(sorted(set(seed_variance["run"].astype(str))))
        return (f"One train seed per network (profile parameter `seeds`). `*_seed_sd` marked (benchmark) is the "
                f"training variance between {n} train seeds that `benchmarks/seed_variance.py` measured for this "
                f"profile on {runs} ({seed_variance.attrs.get('path', 'benchmarks/results')}), not on this run.")
    return ("One train seed per network (profile parameter `seeds`), and no seed-variance benchmark for this "
            "profile: the spread between trainings is not measured (n/a), and the intervals count test-set "
            "sampling only.")


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Interleave this run's columns with the paper's: ``accuracy``, ``accuracy (paper)``, ..."""
    out = pd.DataFrame(index=ours.index)
    for column in ours.columns:
        out[column] = ours[column]
        if column in paper.columns:
            out[f"{column} (paper)"] = paper[column].reindex(ours.index)
    out.index = [vocab.NETWORK_LABELS.get(k, k) for k in out.index]
    return out


def _markdown_table(frame: pd.DataFrame, digits: int = 1, index: bool = True) -> str:
    def cell(v, column):
        if isinstance(v, (bool, np.bool_)):
            return str(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            if np.isnan(v):
                return "–"
            is_count = column in ("n", "seeds") or str(column).startswith("n_")
            return f"{int(v)}" if is_count else f"{v:.{digits}f}"
        return str(v)
    columns = [str(c) for c in frame.columns]
    if index:
        header = "| | " + " | ".join(columns) + " |"
        rule = "|---" * (len(columns) + 1) + "|"
        rows = ["| " + str(idx) + " | " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
                for idx, row in zip(frame.index, frame.itertuples(index=False))]
    else:
        header = "| " + " | ".join(columns) + " |"
        rule = "|---" * len(columns) + "|"
        rows = ["| " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
                for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


#: What the less obvious keys of ``summary.json``'s ``data`` section mean, as the report labels them
#: (written by 00_data; the audit's are explained in :mod:`galmerge.mock.audit`).
FACT_LABELS = {
    "baseline_cv_accuracy": "non-CNN baseline, sequence-grouped cross-validation accuracy",
    "baseline_cv_accuracy_std": "its standard deviation over the folds",
    "baseline_train_accuracy": "non-CNN baseline, training accuracy",
    "audit_leaks_outside_tolerance": ("audit: statistics TNG would not carry (noise, size, headers, IDs, file order) "
                                      f"whose label AUC is outside 0.5 +- {LEAK_TOLERANCE:g}"),
    "audit_ellipticity_difference_sep": "audit: primary's ellipticity (SEP moments), mergers minus non-mergers",
    "n_display_images": "images flagged as non-linear (8-bit display images)",
    "labelled_dataset": "ingested labelled dataset (not the merger-challenge layout)",
}


#: Keys of ``summary.json``'s ``data`` section the dataset table leaves out: bookkeeping a reader does not
#: need, and what other sections say (the shortcut check has its own).
HIDDEN_FACTS = {"shortcut_auc", "shortcut_auc_max", "shortcut_warning", "labelled_dataset",
                "audit_leaks_outside_tolerance", "images_unreadable", "images_wrong_size", "images_with_nonfinite"}
#: The per-stage counts of ``summary.json`` (a dataset without merger stages has none worth a row).
STAGE_COUNTS = {f"n_{stage}" for stage in ("pre", "ongoing", "post", "non", "unknown")}
#: 00_data's audit table (statistic, auc, not_in_tng, ok, description), when the run wrote it.
AUDIT_TABLE = "audit_leaks"


def paper_kind(summary: dict) -> bool:
    """True when the run's data are of the paper's kind (the merger-challenge layout, or the mock that imitates
    it), so that the paper's numbers can stand beside this run's; False for an ingested labelled dataset
    (for instance SDSS cutouts), whose numbers are not comparable with the paper's TNG ones."""
    return not summary.get("data", {}).get("labelled_dataset", False)


def stages_available(summary: dict) -> bool:
    """True unless the run recorded that its dataset gives no merger stages."""
    if "stages_available" in summary.get("merger_time", {}):
        return bool(summary["merger_time"]["stages_available"])
    return bool(summary.get("data", {}).get("available", {}).get("stage", True))


def audit_lines(summary: dict, audit: pd.DataFrame | None = None) -> list[str]:
    """The audit's flagged statistics (those a TNG-like dataset would not carry: noise, size, headers, IDs,
    file order) by name with their AUC for the label, from 00_data's audit table when the run wrote it;
    else their number from ``summary.json``. Nothing when none is flagged."""
    data = summary.get("data", {})
    if audit is not None and len(audit) and {"auc", "ok"} <= set(audit.columns):
        flagged = audit[~audit["ok"].astype(bool)]
        if "not_in_tng" in flagged.columns:
            flagged = flagged[flagged["not_in_tng"].astype(bool)]
        # a statistic the dataset does not give (no header key, no redshift) has no AUC: said apart, not flagged
        absent = [str(name) for name in flagged.index[~np.isfinite(flagged["auc"].astype(float))]]
        flagged = flagged[np.isfinite(flagged["auc"].astype(float))]
        lines = ([f"**Audit.** Not measurable on this dataset (absent): {', '.join(absent)}.", ""]
                 if absent else [])
        if not len(flagged):
            if absent:
                return lines + [f"**Audit.** No measurable statistic that a TNG-like dataset would not carry "
                                f"separates the classes: every AUC is within 0.5 ± {LEAK_TOLERANCE:g}.", ""]
            return [f"**Audit.** No statistic that a TNG-like dataset would not carry (noise, size, headers, IDs, "
                    f"file order) separates the classes: every AUC is within 0.5 ± {LEAK_TOLERANCE:g}.", ""]
        return lines + _flagged_audit_lines(flagged)
    n = int(data.get("audit_leaks_outside_tolerance", 0) or 0)
    if not n:
        return []
    return [f"**Audit.** {n} statistics that a TNG-like dataset would not carry (noise, size, headers, IDs, file "
            f"order) separate the classes here (AUC outside 0.5 ± {LEAK_TOLERANCE:g}); 00_data names them.", ""]


def _flagged_audit_lines(flagged: pd.DataFrame) -> list[str]:
    """The audit's flagged statistics by name and AUC: those in the pixels (a possible shortcut for the
    networks) apart from the bookkeeping the networks never see (:data:`galmerge.mock.audit.BOOKKEEPING`)."""
    from galmerge.mock.audit import BOOKKEEPING

    def names(rows: pd.DataFrame) -> str:
        return "; ".join(f"{name} (AUC {float(row['auc']):.2f})" for name, row in rows.iterrows())

    in_pixels = flagged[~flagged.index.isin(BOOKKEEPING)]
    bookkeeping = flagged[flagged.index.isin(BOOKKEEPING)]
    lines = []
    if len(in_pixels):
        lines += [f"**Audit.** Statistics that a TNG-like dataset would not carry but that separate the classes "
                  f"here (AUC outside 0.5 ± {LEAK_TOLERANCE:g}): {names(in_pixels)}. The networks could use them "
                  "instead of morphology; 00_data explains each.", ""]
    if len(bookkeeping):
        lines += [f"**Audit, bookkeeping.** Catalogue or file bookkeeping that separates the classes (AUC outside "
                  f"0.5 ± {LEAK_TOLERANCE:g}): {names(bookkeeping)}. The networks see pixels only, so this is no "
                  "shortcut for them; it says how the dataset was assembled (for instance numbered class by "
                  "class), which matters to any classifier given the catalogue.", ""]
    return lines


def dataset_tables(summary: dict, counts: pd.DataFrame | None = None) -> list[str]:
    """The report's "Dataset" section: objects per split and stage (``tables/counts.csv`` of
    00_data when given) and a small table of the other dataset facts in ``summary.json``."""
    lines = ["## Dataset", ""]
    stages = stages_available(summary)
    if counts is not None and len(counts):
        if not stages:  # a dataset without stages: per split only, no empty stage columns
            keep = [c for c in counts.columns if str(c) not in ("pre", "ongoing", "post", "non", "unknown")]
            counts = counts[keep]
        lines += [("Objects per split and merger stage:" if stages else "Objects per split:"), "",
                  _markdown_table(counts, digits=0), ""]
    data, evaluate = summary.get("data", {}), summary.get("evaluate", {})
    facts = []
    if "n_objects" in data:
        facts.append(("objects", f"{data['n_objects']} ({data.get('n_mergers', '–')} mergers, "
                                 f"{data.get('n_nonmergers', '–')} non-mergers)"))
    if "n_train" in data:
        facts.append(("train / validation / test objects",
                      f"{data['n_train']} / {data.get('n_validation', '–')} / {data.get('n_test', '–')}"))
    if "n_test" in evaluate:
        facts.append(("test galaxies scored by every network",
                      f"{evaluate['n_test']} ({evaluate.get('n_test_mergers', '–')} mergers; "
                      f"{evaluate.get('dropped', 0)} left out for lack of a score)"))
    shown = {"n_objects", "n_mergers", "n_nonmergers", "n_train", "n_validation", "n_test", "baseline_accuracy",
             "baseline_n_test", *HIDDEN_FACTS}
    if (counts is not None and len(counts)) or not stages:  # in the table above, or nothing to count
        shown |= STAGE_COUNTS
    for key, value in data.items():
        if key in shown or isinstance(value, (dict, list)):
            continue
        facts.append((FACT_LABELS.get(key, key.replace("_", " ")),
                      f"{value:.3g}" if isinstance(value, float) else str(value)))
    if facts:
        lines += [_markdown_table(pd.DataFrame(facts, columns=["", "value"]).set_index(""), index=True), ""]
    return lines


def shortcut_section(run: Run) -> list[str]:
    """The shortcut check of 00_data (``tables/shortcut_check.csv``: ``probe, auc, auc_low, auc_high, n,
    warning``): each probe's AUC for the label from the far sky alone, with a warning line for every probe
    above 0.60. Nothing when the run has no such table."""
    if not run.has_table("shortcut_check"):
        return []
    table = run.table("shortcut_check")
    lines = ["## Shortcut check: does the far sky tell the classes apart?", "",
             "A classifier given only the four corners of every cutout, far from the galaxy, should not tell "
             "mergers from non-mergers (AUC 0.5). Above 0.60 the two classes' images differ in something that is "
             "not morphology (sky level, noise, compression, how the cutouts were made), and the networks may "
             "use it (Suelves et al. 2023 separated an SDSS merger set at ~92 % from sky-background errors "
             "alone). AUC with its 95 % interval, out-of-fold scores (00_data):", ""]
    for row in table.itertuples(index=False):
        auc = float(row.auc)
        interval = (f" [{float(row.auc_low):.2f}, {float(row.auc_high):.2f}]"
                    if np.isfinite(float(row.auc_low)) and np.isfinite(float(row.auc_high)) else "")
        lines.append(f"- {row.probe}: AUC {auc:.2f}{interval} on {int(row.n)} images")
    lines.append("")
    warned = table[table["warning"].astype(str).str.lower().isin(("true", "1")) | (table["auc"].astype(float) > 0.60)]
    for row in warned.itertuples(index=False):
        lines += [f"**Warning:** the far-sky probe '{row.probe}' separates the classes with AUC "
                  f"{float(row.auc):.2f} (above 0.60): the networks' accuracy may rest partly on it.", ""]
    if not len(warned):
        lines += ["No probe reaches 0.60.", ""]
    return lines


def baseline_comparison(table1: pd.DataFrame, summary: dict) -> list[str]:
    """A sentence putting CNN1's test accuracy and balanced accuracy beside the non-CNN baseline's: from
    Table 1's baseline row (same test galaxies, the baseline called at its validation precision = recall
    threshold, the networks' rule) when there is one, else from ``summary.json``'s ``data.baseline_accuracy``
    (saying whether both were measured on the same galaxies)."""
    data, evaluate = summary.get("data", {}), summary.get("evaluate", {})
    if "raw" not in table1.index:
        return []
    cnn1 = float(table1.at["raw", "accuracy"])
    if BASELINE_KIND in table1.index:
        base = float(table1.at[BASELINE_KIND, "accuracy"])
        verb = "above" if cnn1 > base else ("equal to" if cnn1 == base else "below")
        text = (f"CNN1's test accuracy, {cnn1:.1f} %, is {verb} the non-CNN baseline's ({base:.1f} %, logistic "
                "regression on nine image statistics, 00_data) on the same test galaxies, both called at their "
                "validation precision = recall threshold")
        if "balanced_accuracy" in table1.columns and np.isfinite(float(table1.at["raw", "balanced_accuracy"])):
            text += (f"; balanced accuracy {float(table1.at['raw', 'balanced_accuracy']):.1f} against "
                     f"{float(table1.at[BASELINE_KIND, 'balanced_accuracy']):.1f} %")
        return [text + ".", ""]
    if "baseline_accuracy" not in data:
        return []
    base = 100 * float(data["baseline_accuracy"])
    n_cnn = evaluate.get("n_test", table1.at["raw", "n"] if "n" in table1.columns else None)
    n_base = data.get("baseline_n_test")
    same = n_cnn is not None and n_base is not None and int(n_cnn) == int(n_base) and not evaluate.get("dropped")
    where = (f"on the same {int(n_cnn)} test galaxies" if same
             else f"on {n_cnn} (CNN1) and {n_base} (baseline) test galaxies")
    verb = "above" if cnn1 > base else ("equal to" if cnn1 == base else "below")
    return [f"CNN1's test accuracy, {cnn1:.1f} %, is {verb} the non-CNN baseline's ({base:.1f} %, logistic "
            f"regression on image statistics, 00_data) {where}.", ""]


def _with_interval(table1: pd.DataFrame, column: str, value: bool = True) -> pd.Series:
    """``column`` with its 95 % interval as text ('84.5 [82.1, 86.9]'; the interval alone without ``value``)."""
    low, high = f"{column}_low", f"{column}_high"
    if low not in table1.columns or high not in table1.columns:
        return table1[column] if column in table1.columns else pd.Series(np.nan, index=table1.index)
    cells = []
    for v, lo, hi in zip(table1[column].astype(float), table1[low].astype(float), table1[high].astype(float)):
        if np.isfinite(lo) and np.isfinite(hi):
            cells.append(_interval_text(v, lo, hi, value))
        else:
            cells.append(f"{v:.1f}" if np.isfinite(v) else "–")
    return pd.Series(cells, index=table1.index)


def _interval_text(v: float, low: float, high: float, value: bool = True) -> str:
    """'84.5 [82.1, 86.9]' (the interval alone without ``value``)."""
    return (f"{v:.1f} " if value else "") + f"[{low:.1f}, {high:.1f}]"


#: Table 1's cells printed with their 95 % interval: shown name -> (column, whether the value precedes it).
TABLE1_INTERVAL_CELLS = {"accuracy": ("accuracy", True), "balanced accuracy": ("balanced_accuracy", True),
                         "accuracy, balanced subsample (95 %)": ("balanced_subsample_accuracy", False),
                         "balanced accuracy, threshold for balanced classes": ("balanced_accuracy_at_balance", True)}


def table1_shown(table1: pd.DataFrame, seed_variance: pd.DataFrame | None = None, paper: bool = True) -> pd.DataFrame:
    """Table 1 as the report prints it: accuracy, balanced accuracy and the balanced-subsample accuracy with
    their 95 % intervals as text, then precision, recall, specificity, F1, AUC and the seed columns; the
    paper's values beside them only when ``paper`` (:func:`paper_kind`); the baseline row last."""
    out = pd.DataFrame(index=table1.index)
    if "n" in table1.columns:
        out["n"] = table1["n"]
    for name, (column, with_value) in TABLE1_INTERVAL_CELLS.items():
        if f"{column}_low" in table1.columns or (with_value and column in table1.columns):
            out[name] = _with_interval(table1, column, with_value)
    for column in ("precision", "recall", "specificity", "f1", "auc"):
        if column in table1.columns:
            out[column] = table1[column]
    spread = with_seed_spread(table1[[c for c in table1.columns if c in ("seeds", *TABLE1_SEED_COLUMNS)]],
                              seed_variance) if "seeds" in table1.columns else None
    if spread is not None:
        for column in spread.columns:
            out[column] = spread[column]
        if BASELINE_KIND in out.index:
            out.loc[BASELINE_KIND, [c for c in spread.columns if c != "seeds"]] = "–"
    if paper:
        for column in ("accuracy", "precision", "recall", "f1"):
            if column in PAPER_TABLE1.columns:
                at = list(out.columns).index(column) + 1
                out.insert(at, f"{column} (paper)", PAPER_TABLE1[column].reindex(out.index))
    out.index = [("non-CNN baseline" if k == BASELINE_KIND else vocab.NETWORK_LABELS.get(k, k)) for k in out.index]
    return out


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims behind the verdicts, in per cent, as the report shows them."""
    shown = claims[[c for c in CLAIM_COLUMNS if c in claims.columns]].copy()
    for column in ("value_better", "value_worse", "difference", "lower", "upper", "detectable", "paper_difference",
                   "power_paper", "seed_sd"):
        if column in shown.columns:
            shown[column] = 100 * shown[column].astype(float)
    shown.index = claims["conclusion"] if "conclusion" in claims.columns else shown.index
    return shown.rename(columns=CLAIM_COLUMNS)


def selection_section(table: pd.DataFrame, summary: dict) -> list[str]:
    """The selection check of 04_redshift (``tables/selection_matched.csv``): every classifier's accuracy,
    recall and specificity with 95 % intervals, and AUC, on all test galaxies and on the matched pairs."""
    if table is None or not len(table):
        return []
    shown = table.copy()
    for metric in ("accuracy", "recall", "specificity"):
        if f"{metric}_low" in shown.columns:
            shown[metric] = _with_interval(shown, metric)
    columns = [c for c in ("network", "sample", "n", "n_mergers", "accuracy", "recall", "specificity", "auc")
               if c in shown.columns]
    selection = summary.get("redshift", {}).get("selection", {})
    pairs = f"{selection['n_pairs']} pairs; " if "n_pairs" in selection else ""
    return ["## Selection: mergers against controls matched in redshift and brightness", "",
            f"Each test merger paired with a test non-merger of nearly the same redshift and brightness ({pairs}"
            "covariate matching, every covariate within 0.2 of its standard deviation; 04_redshift shows the "
            "balance). Every classifier at its validation precision = recall threshold. A classifier that "
            "learned the selection instead of mergers loses specificity and AUC on the pairs. Per cent, 95 % "
            "intervals (merger sequences resampled on all test galaxies, pairs on the matched pairs).", "",
            _markdown_table(shown[columns], index=False), ""]


def _table2_lines(table2: pd.DataFrame, summary: dict, seed_variance: pd.DataFrame | None, paper: bool) -> list[str]:
    lines = ["## Table 2: fraction of mergers correctly classified, by stage", ""]
    if not stages_available(summary):
        return lines + ["This dataset gives no merger stages, so Table 2 and conclusions II and III (which compare "
                        "the networks on pre- and post-mergers) cannot be computed.", ""]
    shown = with_seed_spread(table2, seed_variance)
    shown = beside_paper(shown, PAPER_TABLE2) if paper else shown.set_axis(
        [vocab.NETWORK_LABELS.get(k, k) for k in shown.index])
    return lines + ["Per cent; mean over bootstrap resamples of merger sequences ± (95 % upper bound − mean), the "
                    "paper's convention (the paper resamples galaxies); n_<stage> galaxies. With several train seeds "
                    "each resample also draws the network's seeds with replacement and averages them.", "",
                    _markdown_table(shown), ""]


def _method_lines(claims: pd.DataFrame | None) -> list[str]:
    lines = ["Each conclusion is a set of claims 'network A beats network B' on the test galaxies (accuracy) "
             "or on the test mergers of one stage (fraction correct). A claim is tested on the difference "
             "A − B computed on the same galaxies, resampled by merger sequence (paired bootstrap, 95 % "
             "percentile interval, widened for the number of sequences, which a plain bootstrap needs when they "
             "are few): supported when the interval lies above 0, contradicted when below 0, unresolved "
             f"otherwise or when its galaxies number fewer than {MIN_GALAXIES} or come from fewer than "
             f"{MIN_SEQUENCES} independent sequences. A conclusion is reproduced when all its claims are "
             "supported, contradicted when one is contradicted, inconclusive otherwise.",
             "",
             "Beside each interval, 'detectable' is the minimum detectable difference: the smallest true "
             f"difference this test set would show as supported {POWER:.0%} of the time, "
             "(z(0.975) + z(0.8)) × SE = 2.80 × SE, SE being the spread of the resampled difference "
             "(Bloom 1995, Evaluation Review 19, 547). Power falls off gradually below it (about 29 % at half of "
             "it), so each claim also gives the probability that this test would find a true difference as large "
             "as the paper's ('power at paper'); a conclusion of two claims needs both, so its power is about "
             "the product of theirs. An inconclusive claim with a high power at the paper's difference speaks "
             "against an effect as large as the paper's; one with a low power says little either way.", ""]
    if claims is not None and len(claims):
        lines += [f"**Training variance.** Two trainings of one network on the same data can differ by several "
                  f"points. {variance_note(claims)} The seed term ('seed term SD') is the spread over train seeds "
                  "of the seed-paired difference A − B (one train seed gives both networks the same initial "
                  "weights, batch order and augmentation, so their seed errors are correlated), less the part the "
                  "test-set bootstrap already counts (seeds disagreeing galaxy by galaxy), floored at 0; it enters "
                  "each resample as a Student-t draw with the seeds' degrees of freedom.", "",
                  _markdown_table(claims_table(claims)), ""]
    return lines


def render_markdown(table1: pd.DataFrame, table2: pd.DataFrame, verdicts: list[Verdict],
                    figures: list[Path], run_dir: Path, summary: dict, claims: pd.DataFrame | None = None,
                    counts: pd.DataFrame | None = None, caption_values: dict | None = None,
                    figures_dir: Path | None = None, seed_variance: pd.DataFrame | None = None) -> str:
    """The text of REPORT.md (``figures_dir``: where 08_transfer's score figure is, if any;
    ``seed_variance``: the seed-variance benchmark's table for the run's profile, if any).

    The paper's columns stand beside this run's only when the data are of the paper's kind
    (:func:`paper_kind`); a table the dataset cannot fill is said once instead of printed empty."""
    run = Run(run_dir)
    paper = paper_kind(summary)
    lines = [f"# Reproduction report: {as_run(run_dir).name}", ""]  # resolved: run_all passes run_dir=".."
    lines += dataset_tables(summary, counts)
    for note in dataset_notes(summary):
        lines += [note, ""]
    lines += audit_lines(summary, run.table(AUDIT_TABLE, index_col=0) if run.has_table(AUDIT_TABLE) else None)
    lines += shortcut_section(run)
    title = "beside the paper's" if paper else "the paper's TNG values are not comparable with this dataset"
    lines += [f"## Table 1: overall performance on the test set (per cent; {title})", "",
              "Each network at the threshold where precision equals recall on the validation split; the non-CNN "
              "baseline by the same rule. Accuracy depends on the share of mergers in the test set; balanced "
              "accuracy, (recall + specificity) / 2, does not, and the accuracy on a class-balanced subsample "
              "(all test mergers and as many non-mergers drawn at random, Pearson et al. 2019) has the balanced "
              "accuracy as its expectation. The last of those columns puts each network at a second threshold, "
              "where recall equals specificity on the validation split (the same rule on a class-balanced "
              "validation set): the operating point a class-balanced test set implies, as in the literature's "
              "balanced test sets; at 25 % mergers the first rule calls fewer mergers and gives up recall for "
              "specificity. Intervals: 95 %, merger sequences resampled (test-set sampling "
              "only; the balanced draw inside each resample).", "",
              _markdown_table(table1_shown(table1, seed_variance, paper)), "",
              seed_spread_note(table1, seed_variance), ""]
    lines += baseline_comparison(table1, summary)
    if run.has_table("selection_matched"):
        lines += selection_section(run.table("selection_matched"), summary)
    lines += _table2_lines(table2, summary, seed_variance, paper)
    lines += ["## The paper's conclusions on this run", ""]
    if not paper:
        lines += ["These data are not the paper's simulated galaxies: the verdicts say whether the paper's "
                  "conclusions hold on them, not whether this run reproduces the paper's numbers.", ""]
    chance = networks_at_chance(table1.drop(index=BASELINE_KIND, errors="ignore"))
    if chance:
        names = ", ".join(vocab.NETWORK_LABELS.get(k, k) for k in chance)
        lines += [f"**Warning:** {names} classify the test set no better than a coin (accuracy within "
                  "the binomial 95 % uncertainty of 50 %). Comparisons involving them say nothing about the "
                  "paper's conclusions.", ""]
    for v in verdicts:
        lines += [f"- **{v.key}. {v.conclusion}**: **{v.verdict}**. {v.reason}.", f"  Evidence: {v.evidence}."]
    lines += [""] + _method_lines(claims)
    lines += ["## Deviations from the paper", ""]
    lines += [f"- **{title}.** {text}" for title, text in deviations(summary)]
    if run.has_table(TRANSFER_TABLE):
        lines += [""] + transfer_section(run.table(TRANSFER_TABLE), summary.get("transfer", {}), run_dir,
                                         figures_dir)
    lines += ["", "## Figures", ""]
    for fig in figures:
        rel = os.path.relpath(fig, run_dir)
        text = caption(fig.stem, **(caption_values or {}))
        lines += [f"### {fig.stem}", "", f"![{fig.stem}]({rel})", "", f"*{text}*", ""]
    return "\n".join(lines)


def _value_with_interval(values: dict, metric: str) -> str:
    """``"v [low, high]"`` of one metric from a summary's Table 1 entry; "–" where it lacks them."""
    v, low, high = (values.get(metric), values.get(f"{metric}_low"), values.get(f"{metric}_high"))
    if v is None or low is None or high is None or not np.isfinite([v, low, high]).all():
        return "–"
    return _interval_text(v, low, high)


#: The short results page written beside REPORT.md (the README links to it instead of quoting numbers).
RESULTS_FILE = "results.md"


def results_markdown(summary: dict, name: str, verdicts: list[Verdict] | None = None) -> str:
    """``results.md``: the headline numbers of one run, rendered from its ``summary.json`` (and the verdicts
    just judged), so that no number is typed by hand: test set, Table 1's accuracy, balanced accuracy and
    AUC per network and for the baseline, the shortcut check, and the verdict on each conclusion."""
    data, evaluate = summary.get("data", {}), summary.get("evaluate", {})
    lines = [f"# Results of run {name}", "",
             "Written by 09_report from this run's `summary.json`; the full report, with every table, figure "
             "and interval, is `REPORT.md` (and `report.html`) beside this file.", ""]
    if "n_test" in evaluate:
        share = evaluate.get("n_test_mergers", 0) / evaluate["n_test"] if evaluate["n_test"] else float("nan")
        lines += [f"Test set: {evaluate['n_test']} galaxies, {evaluate.get('n_test_mergers', '–')} of them mergers "
                  f"({100 * share:.0f} %; calling every galaxy a non-merger scores {100 * (1 - share):.1f} %).", ""]
    table = evaluate.get("table1_percent", {})
    if table:
        rows = []
        at_balance = any("balanced_accuracy_at_balance" in v for v in table.values())
        order = [*vocab.NETWORK_LABELS, BASELINE_KIND]  # summary.json keeps its keys sorted
        for kind, values in sorted(table.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
            row = {"": "non-CNN baseline" if kind == BASELINE_KIND else vocab.NETWORK_LABELS.get(kind, kind),
                   "accuracy (%)": values.get("accuracy", np.nan),
                   "balanced accuracy (%)": _value_with_interval(values, "balanced_accuracy"),
                   "AUC (%)": values.get("auc", np.nan)}
            if at_balance:
                row["balanced accuracy, threshold for balanced classes (%)"] = _value_with_interval(
                    values, "balanced_accuracy_at_balance")
            rows.append(row)
        lines += ["Each network and the baseline at the threshold where precision equals recall on the validation "
                  "split; balanced accuracy = (recall + specificity) / 2 with its 95 % interval"
                  + ("; the last column at the threshold where recall equals specificity on the validation split "
                     "(the operating point for a class-balanced test set)" if at_balance else "") + ":", "",
                  _markdown_table(pd.DataFrame(rows).set_index("")), ""]
    if "shortcut_auc" in data:
        warning = " **above 0.60: the classes differ in more than morphology**" if data.get("shortcut_warning") else ""
        lines += [f"Shortcut check (far sky only): AUC {data['shortcut_auc']:.2f}, largest probe "
                  f"{data.get('shortcut_auc_max', data['shortcut_auc']):.2f}{warning}.", ""]
    report = summary.get("report", {})
    found = {v.key: (v.verdict, v.reason) for v in verdicts} if verdicts else {
        k: (report[k], report.get("reasons", {}).get(k, "")) for k in ("I", "II", "III") if k in report}
    if found:
        lines += ["The paper's conclusions on this run:", ""]
        lines += [f"- **{c.key}** ({c.text}): **{found[c.key][0]}**. {found[c.key][1]}."
                  for c in CONCLUSIONS if c.key in found]
        lines += [""]
    return "\n".join(lines)


def write_report(run_dir: str | Path, figures_dir: str | Path, table1: pd.DataFrame,
                 table2: pd.DataFrame, verdicts: list[Verdict], claims: pd.DataFrame | None = None,
                 caption_values: dict | None = None, seed_variance: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``REPORT.md``, ``report.html`` and ``results.md`` (:func:`results_markdown`) into ``run_dir``;
    returns their paths.

    Parameters
    ----------
    run_dir, figures_dir : str or Path
        The run folder (``summary.json``, ``tables/counts.csv`` read when present) and its figures
        (every ``fig*.png`` is shown with its caption).
    table1, table2 : pandas.DataFrame
        Indexed by network kind (percentages), from :func:`load_tables`.
    verdicts : list of Verdict
        :func:`galmerge.analysis.conclusions.judge_conclusions`.
    claims : pandas.DataFrame, optional
        The claims table behind the verdicts, shown under them.
    caption_values : dict, optional
        Values for the captions (``n_resamples``, ``n_draws``, ``per_class``).
    seed_variance : pandas.DataFrame, optional
        The seed-variance benchmark's table for the run's profile (:func:`galmerge.runs.read_seed_variance`):
        the seed SD of one-seed networks in Tables 1-2, and the note under them.
    """
    import mistune

    run = as_run(run_dir)
    run_dir, figures_dir = run.root, Path(figures_dir)
    summary = run.summary
    figures = sorted(figures_dir.glob("fig*.png"))
    counts = run.table("counts", index_col=0) if run.has_table("counts") else None
    text = render_markdown(table1, table2, verdicts, figures, run_dir, summary, claims, counts, caption_values,
                           figures_dir, seed_variance)
    md_path = run.report_markdown
    md_path.write_text(text, encoding="utf-8")
    results_path = run.root / RESULTS_FILE
    results_path.write_text(results_markdown(summary, run.name, verdicts), encoding="utf-8")
    html = mistune.html(text)
    html_path = run.report_html
    html_path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>galmerge report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto} img{max-width:100%} "
        "table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body>{html}</body></html>", encoding="utf-8")
    return {"markdown": md_path, "html": html_path, "results": results_path}
