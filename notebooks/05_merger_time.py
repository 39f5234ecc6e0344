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
# # 05 Merger time: Fig 8 and Table 2
#
# How the fraction of mergers correctly classified depends on where the merger is on its clock.
# Merger time is in Gyr, negative before coalescence and positive after; the paper's stages
# (Sect. 2.1) are pre-merger (−0.8 to −0.1 Gyr), ongoing (−0.1 to 0.1 Gyr) and post-merger (0.1 to
# 0.3 Gyr). Only mergers enter Fig 8: for them the fraction correctly classified is the recall.
#
# Uncertainties: `bootstrap_resamples` bootstrap resamples per bin; Fig 8 shows the bootstrap mean with
# its 95 % percentile interval; Table 2 quotes the mean ± (upper bound − mean), the paper's convention.
# Unlike the paper, the bootstrap resamples **merger sequences**, not galaxies: the mergers of one
# sequence (one pair seen at several snapshots) are classified alike, so a galaxy bootstrap gives too
# narrow intervals, most of all for the pre-mergers, of which a sequence holds several. The paper's
# Table 2 has pre- and post-mergers only; ongoing mergers and non-mergers (the fraction correctly
# rejected) are added here.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"
bootstrap_resamples = 1000
eval_seed = 7

# %% tags=["remove-input"]
from IPython.display import display

from galmerge.analysis import conclusions
from galmerge.analysis import evaluation as ev
from galmerge.data.catalog import available_information, not_available
from galmerge.report import figures
from galmerge.report.markdown import mark_unavailable
from galmerge.runs import Run, read_seed_variance

run = Run(run_dir)
test = ev.load_run_scores(run, "test")
kinds = test.attrs["kinds"]
mergers = ev.subset(test, test["label"] == 1)
print(f"test split: {len(mergers)} mergers by stage: {mergers['stage'].value_counts().to_dict()}")
# A labelled dataset (galmerge.ingest) may give no merger times or stages: Fig 8, Table 2's merger
# stages and conclusions II and III are then not available; the non-mergers' column still is.
info = available_information(test)
if not info["merger_time"]:
    print("Fig 8:", not_available("merger times"))
if not info["stage"]:
    print("Table 2 (merger stages) and conclusions II, III:", not_available("merger stages"))

# %% [markdown]
# ## Fig 8: fraction of mergers correctly classified per 0.1 Gyr of merger time

# %%
outside, time_bins, by_time = {}, None, None
if info["merger_time"]:
    time_bins = ev.cut(mergers["merger_time"], ev.MERGER_TIME_EDGES)
    outside = ev.outside_bins(time_bins, mergers, "merger time outside -0.8..0.3 Gyr or missing")
    print("mergers outside the merger-time bins:", outside)
    by_time = ev.binned_bootstrap(mergers, time_bins, ("fraction_correct",), bootstrap_resamples, eval_seed)
    run.write_table("fig08_merger_time", by_time, index=False)
    figures.show("fig08_merger_time", figures_dir, by_time, x=ev.bin_positions(time_bins.categories),
                 caption_values={"n_resamples": bootstrap_resamples})
else:
    print("Fig 8:", not_available("merger times"))

# %% [markdown]
# ## Table 2: fraction of pre-, ongoing and post-mergers correctly classified (per cent)

# %%
table2, by_stage = ev.stage_table(test, bootstrap_resamples, eval_seed)
run.write_table("table2", table2)
run.write_table("table2_bootstrap", by_stage, index=False)
columns = ["network", "pre", "pre_err", "pre (paper)", "pre_err (paper)", "ongoing", "ongoing_err",
           "post", "post_err", "post (paper)", "post_err (paper)", "non", "non_err",
           "n_pre", "n_ongoing", "n_post", "n_non", "n_seq_pre", "n_seq_ongoing", "n_seq_post",
           "seeds", "pre_seed_sd", "post_seed_sd"]
display(table2[columns].round(1))

# %% [markdown]
# ## The paper's conclusions on this run
#
# I: CNN1 (all information) beats both CNN2 (position and shape) and CNN3 (residuals) overall;
# II: CNN1 and CNN2 beat CNN3 on pre-mergers; III: CNN3 beats CNN2 on post-mergers. Comparing the
# Table 2 intervals above would ignore that the networks are scored on the same galaxies; each claim
# is judged instead on the difference between the two networks on the same resampled sequences
# (paired bootstrap, `galmerge.analysis.conclusions`). 09_report writes the same verdicts into REPORT.md.
#
# Training variance: a network's accuracy moves by a few points between trainings that differ only in
# the train seed. With several train seeds per network (profile parameter `seeds`) each interval adds the
# spread of the seed-paired differences of the networks' own seeds; with one seed, that measured for
# this profile by `benchmarks/seed_variance.py` (`benchmarks/results/seed_variance_<profile>.csv`) when
# that file exists. In both cases the part of that spread that the test-set bootstrap already counts
# (seeds disagreeing galaxy by galaxy) is taken out, and the degrees of freedom are those of the seeds.
# The line under the table says what each interval includes.

# %%
seed_variance = read_seed_variance(run.profile)  # None when the benchmark was not run for this profile
verdicts, claims = conclusions.judge_conclusions(test, bootstrap_resamples, eval_seed, seed_variance=seed_variance,
                                                 run_name=run.name)
verdicts = mark_unavailable(verdicts, stages=info["stage"])  # II and III need merger stages
display(claims.drop(columns=["better", "worse", "mcnemar_only_better", "mcnemar_only_worse", "mcnemar_p"],
                    errors="ignore").round(3))
print(conclusions.variance_note(claims))
for v in verdicts:
    print(f"{v.key}. {v.conclusion}: {v.verdict} ({v.reason})")

# %% [markdown]
# ## Summary

# %%
fractions = by_time[by_time["metric"] == "fraction_correct"] if by_time is not None else None
summary = {
    "n_test_mergers": len(mergers), "outside_bins": outside, "bootstrap_resamples": bootstrap_resamples,
    "merger_times_available": bool(info["merger_time"]), "stages_available": bool(info["stage"]),
    "table2_percent": {k: {c: table2.at[k, c] for c in ("pre", "pre_err", "ongoing", "ongoing_err",
                                                         "post", "post_err", "non", "non_err")} for k in kinds},
    "n_per_stage": {s: int(table2[f"n_{s}"].iloc[0]) for s in ("pre", "ongoing", "post", "non")},
    "merger_time_bins": [str(c) for c in time_bins.categories] if time_bins is not None else [],
    "fraction_correct_per_bin": ({k: fractions.loc[fractions["kind"] == k, "mean"].tolist() for k in kinds}
                                 if fractions is not None else {}),
    "n_sequences_per_stage": {s: int(table2[f"n_seq_{s}"].iloc[0]) for s in ("pre", "ongoing", "post", "non")},
    "bootstrap_unit": "merger sequence",
    "conclusions": {v.key: v.verdict for v in verdicts},
}
run.update_summary("merger_time", summary)
for kind in kinds:
    row = table2.loc[kind]
    line = (f"{ev.network_label(kind)}: pre {row['pre']:.1f}±{row['pre_err']:.1f} %, "
            f"ongoing {row['ongoing']:.1f}±{row['ongoing_err']:.1f} %, post {row['post']:.1f}±{row['post_err']:.1f} %")
    if kind in ev.PAPER_TABLE2:
        p = ev.PAPER_TABLE2[kind]
        line += f" (paper: pre {p['pre']}±{p['pre_err']} %, post {p['post']}±{p['post_err']} %)"
    print(line)
