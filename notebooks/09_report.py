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
# # 09 Report: this run beside the paper
#
# The last step gathers the run into `REPORT.md` and `report.html` in the run folder: the dataset,
# the shortcut check, Table 1 and Table 2 (beside the paper's values where the data are of the paper's
# kind: the merger-challenge layout or the mock), the verdict on each of the paper's three conclusions,
# the deviations from the paper, and every figure of the run with its caption. It also writes
# `results.md`, a one-page summary of the headline numbers rendered from `summary.json`.
#
# Each conclusion is a set of claims "network A beats network B" on the test galaxies (accuracy) or on
# the test mergers of one stage (fraction correct). A claim is judged on the difference A − B computed
# on the same galaxies, resampled by merger sequence (`bootstrap_resamples` paired resamples, 95 %
# percentile interval widened for the number of sequences; `galmerge.analysis.conclusions`):
# *supported* when the interval lies above 0, *contradicted* when it lies below 0, *unresolved*
# otherwise or when the claim rests on fewer than 20 galaxies or 10 independent sequences. A conclusion
# is *reproduced* when all its claims are supported, *contradicted* when one is contradicted and
# *inconclusive* otherwise; the reason is always given. Beside each interval stands the claim's minimum
# detectable difference (2.80 times the spread of the resampled difference: 95 % level, 80 % power;
# Bloom 1995), the paper's own difference and the probability that this test would find a difference
# that large.
#
# Training variance: with several train seeds per network (profile parameter `seeds`) Tables 1-2 give
# seed means and SDs, and each claim's interval adds the spread of the networks' seed-paired
# differences; with one seed, that measured for the profile by `benchmarks/seed_variance.py`
# (`benchmarks/results/seed_variance_<profile>.csv`). The report says which, or that the intervals count
# test-set sampling only when neither exists.
#
# On the mock dataset the verdicts test the method and the mock, not the paper's science; run
# `python run_all.py --profile paper --data <merger-challenge folder>` for that.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"
bootstrap_resamples = 1000
balanced_per_class = 500
balanced_draws = 20
eval_seed = 7

# %% tags=["remove-input"]
from IPython.display import Markdown, display

from galmerge.analysis import conclusions
from galmerge.analysis import evaluation as ev
from galmerge.report import markdown as report
from galmerge.runs import Run, read_seed_variance

run = Run(run_dir)
ours1, ours2 = report.load_tables(run)
test = ev.load_run_scores(run, "test")
print(f"test split: {len(test)} galaxies scored by {', '.join(ev.network_label(k) for k in test.attrs['kinds'])}")

# %% [markdown]
# ## Table 1 and Table 2

# %%
seed_variance = read_seed_variance(run.profile)  # None when the benchmark was not run for this profile
summary = run.summary
paper = report.paper_kind(summary)  # the paper's columns only beside data of the paper's kind
display(report.table1_shown(ours1, seed_variance, paper))
if report.stages_available(summary):
    display(report.beside_paper(report.with_seed_spread(ours2.round(1), seed_variance), report.PAPER_TABLE2)
            if paper else report.with_seed_spread(ours2.round(1), seed_variance))
else:
    print("Table 2: this dataset gives no merger stages")
print(report.seed_spread_note(ours1, seed_variance))

# %% [markdown]
# ## The paper's three conclusions on this run

# %%
verdicts, claims = conclusions.judge_conclusions(test, bootstrap_resamples, eval_seed, seed_variance=seed_variance,
                                                 run_name=run.name)
# conclusions II and III need merger stages, which a labelled dataset (galmerge.ingest) may not give
verdicts = report.mark_unavailable(verdicts, stages=summary.get("merger_time", {}).get("stages_available", True))
for note in report.dataset_notes(summary):
    display(Markdown(note))
run.write_table("conclusions", claims, index=False)
display(report.claims_table(claims).round(1))
print(conclusions.variance_note(claims))
for v in verdicts:
    print(f"{v.key}. {v.conclusion}: {v.verdict}\n    {v.reason}")

# %% [markdown]
# ## Writing REPORT.md and report.html

# %%
written = report.write_report(run, figures_dir, ours1, ours2, verdicts, claims,
                              caption_values={"n_resamples": bootstrap_resamples, "n_draws": balanced_draws,
                                              "per_class": balanced_per_class}, seed_variance=seed_variance)
run.update_summary("report", {**{v.key: v.verdict for v in verdicts},
                              "reasons": {v.key: v.reason for v in verdicts},
                              # minimum detectable difference of each claim, per cent points (80 % power)
                              "detectable_points": {v.key: v.detectable for v in verdicts},
                              "bootstrap_resamples": bootstrap_resamples,
                              "training_variance": conclusions.variance_note(claims)})
print("\n".join(str(p) for p in written.values()))
display(Markdown(written["markdown"].read_text().split("## Figures")[0]))
