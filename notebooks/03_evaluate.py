# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
# ---

# %% [markdown]
# # 03 Evaluate: Table 1 and Figs 6, 12, 13
#
# The paper (Sect. 4) classifies a galaxy as a merger when the network's score reaches a decision
# threshold, chosen for each network where **precision equals recall** (0.39, 0.47 and 0.49 for
# CNN1-3). The paper does not say on which split; here it is chosen on the **validation** split and
# applied to the **test** split, so that no test number is tuned on the test set.
#
# Precision equals recall exactly when as many galaxies are predicted mergers as there are true
# mergers (FP = FN). With tied scores no candidate threshold may reach that; the rule
# (`galmerge.analysis.metrics.choose_precision_recall_threshold`) then takes the candidate with the smallest
# |precision − recall|, ties broken by the larger precision + recall, then the lower threshold.
#
# This notebook writes `tables/thresholds.csv` (read by 04-08), Table 1 (accuracy, precision, recall,
# F1 and ROC AUC on the test split, beside the paper's values), Fig 6 (metrics against the threshold),
# Fig 12 (ROC curves) and Fig 13 (row-normalised confusion matrices). It works with whichever networks
# the run trained.
#
# Accuracy depends on the test set's class balance: at 25 % mergers, calling every galaxy a non-merger
# already scores 75 %. Table 1 therefore also gives the balanced accuracy, (recall + specificity) / 2,
# and, as Pearson et al. (2019) measure, the accuracy on a class-balanced subsample (all test mergers and
# as many non-mergers drawn at random; the draw is made inside each bootstrap resample), each with a 95 %
# interval over resampled merger sequences. The non-CNN baseline of 00_data stands in the last row,
# called by the networks' own rule (its threshold where precision equals recall on the validation split).
#
# A network trained with several train seeds (profile parameter `seeds`) gets each seed's
# threshold on that seed's own validation scores; Table 1 then holds the mean over seeds of each metric
# and its spread (`<metric>_seed_sd`, the sample SD over seeds), and `tables/table1_seeds.csv` every
# seed's row. Figs 6, 12 and 13 show the first seed.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"

# %% tags=["remove-input"]
from IPython.display import display

from galmerge.analysis import evaluation as ev
from galmerge.report import figures
from galmerge.runs import Run

run = Run(run_dir)
kinds = run.require_trained_kinds()
print("networks trained in this run:", ", ".join(ev.network_label(k) for k in kinds))

# %% [markdown]
# ## Decision thresholds (validation split)

# %%
thresholds_table = ev.choose_thresholds(run, kinds)
ev.write_thresholds(run, thresholds_table)
thresholds = ev.load_thresholds(run)
display(thresholds_table.assign(paper=thresholds_table["kind"].map(ev.PAPER_THRESHOLDS)).round(3))

# %% [markdown]
# ## Table 1: overall performance on the test split

# %%
test = ev.load_run_scores(run, "test", thresholds)
print(f"test split: {len(test)} galaxies, {int(test['label'].sum())} mergers, "
      f"{int((test['label'] == 0).sum())} non-mergers; {test.attrs['dropped']} left out for lack of a score")
baseline_scores = run.table("baseline_scores") if run.has_table("baseline_scores") else None
table1 = ev.overall_table(test, baseline_scores)
run.write_table("table1", table1)
shown = ["network", "threshold", "n", "accuracy", "accuracy_low", "accuracy_high", "balanced_accuracy",
         "balanced_accuracy_low", "balanced_accuracy_high", "balanced_subsample_accuracy_low",
         "balanced_subsample_accuracy_high", "precision", "recall", "specificity", "f1", "auc"]
display(table1[shown].round(1).assign(threshold=table1["threshold"].round(3)))

# %% [markdown]
# The same networks at a second operating point: the threshold where recall equals specificity on the
# validation split (the precision = recall rule on a class-balanced validation set), the one a class-balanced
# test set such as Pearson et al. (2019)'s implies. At 25 % mergers the rule above calls fewer mergers.

# %%
at_balance = [c for c in table1.columns if ev.AT_BALANCE in c and not c.endswith("_seed_sd")]
if at_balance:
    display(table1[["network", *at_balance]].round(1)
            .assign(threshold_at_balance=table1["threshold_at_balance"].round(3)))
else:
    print("no validation scores with both classes: no threshold for balanced classes")
by_seed = ev.seed_table(test)
if (table1["seeds"] > 1).any():
    run.write_table("table1_seeds", by_seed, index=False)
    display(by_seed.round(1).assign(threshold=by_seed["threshold"].round(3)))
else:
    run.remove_table("table1_seeds")

# %% [markdown]
# ## Fig 6: metrics against the decision threshold (test split)
#
# Accuracy blue solid, precision red dotted, recall green dashed, F1 black dash-dot, as in the paper;
# the grey line is the threshold chosen on the validation split.

# %%
curves = ev.threshold_curves(test)
run.write_table("fig06_metrics_vs_threshold", curves, index=False)
figures.show("fig06_metrics_vs_threshold", figures_dir, curves, thresholds)
peak = curves.loc[curves.groupby("kind", sort=False)["accuracy"].idxmax(), ["kind", "threshold", "accuracy"]]
display(peak.rename(columns={"threshold": "threshold of peak accuracy", "accuracy": "peak accuracy"})
        .assign(chosen=lambda d: d["kind"].map(thresholds)).round(3))

# %% [markdown]
# ## Fig 12: ROC curves

# %%
roc = ev.roc_table(test)
run.write_table("fig12_roc", roc, index=False)
figures.show("fig12_roc", figures_dir, roc, table1)

# %% [markdown]
# ## Fig 13: confusion matrices, normalised by row
#
# The diagonal gives the fraction of non-mergers and of mergers correctly classified; the paper
# reports 73.7 / 74.5 % (CNN1), 70.3 / 70.5 % (CNN2) and 67.3 / 69.1 % (CNN3).

# %%
confusion = ev.confusion_table(test)
run.write_table("fig13_confusion", confusion, index=False)
figures.show("fig13_confusion", figures_dir, confusion)
correct = confusion[confusion["true"] == confusion["predicted"]].pivot(index="kind", columns="true",
                                                                       values="fraction") * 100
correct = correct.reindex(kinds)[["merger", "non-merger"]]
for who in ("mergers", "non_mergers"):
    correct[f"{who} (paper)"] = [ev.PAPER_CONFUSION.get(k, {}).get(who) for k in correct.index]
display(correct.round(1))

# %% [markdown]
# ## Summary

# %%
summary = {
    "n_test": len(test), "n_test_mergers": int(test["label"].sum()), "dropped": test.attrs["dropped"],
    "thresholds": thresholds,
    "threshold_method": dict(zip(thresholds_table["kind"], thresholds_table["method"])),
    "table1_percent": {k: {m: table1.at[k, m] for m in ("accuracy", "precision", "recall", "f1", "auc",
                                                         "specificity", "balanced_accuracy", "balanced_accuracy_low",
                                                         "balanced_accuracy_high", "balanced_subsample_accuracy_low",
                                                         "balanced_subsample_accuracy_high",
                                                         "balanced_accuracy_at_balance",
                                                         "balanced_accuracy_at_balance_low",
                                                         "balanced_accuracy_at_balance_high") if m in table1.columns}
                       for k in table1.index},
    "seeds": {k: int(table1.at[k, "seeds"]) for k in kinds},
    "table1_seed_sd_percent": {k: {m: table1.at[k, f"{m}_seed_sd"] for m in ("accuracy", "auc")} for k in kinds},
    "correct_percent": {k: {"mergers": correct.at[k, "merger"], "non_mergers": correct.at[k, "non-merger"]}
                        for k in kinds},
}
run.update_summary("evaluate", summary)
for kind in kinds:
    paper = ev.PAPER_TABLE1.get(kind)
    ours = table1.loc[kind]
    line = (f"{ev.network_label(kind)}: accuracy {ours['accuracy']:.1f} %, precision {ours['precision']:.1f} %, "
            f"recall {ours['recall']:.1f} %, F1 {ours['f1']:.1f} %, AUC {ours['auc']:.1f} %")
    if ours["seeds"] > 1:
        line += f", mean of {int(ours['seeds'])} seeds (accuracy SD {ours['accuracy_seed_sd']:.1f} points)"
    if paper:
        line += f" (paper: {paper['accuracy']}/{paper['precision']}/{paper['recall']}/{paper['f1']} %)"
    print(line)
