# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 08 Report: this run beside the paper
#
# The last step gathers the run into `REPORT.md` and `report.html` in the run folder: Table 1 and
# Table 2 beside the paper's values, the verdict on each of the paper's three conclusions, the
# deviations from the paper, and every figure of the run.
#
# A conclusion counts as *reproduced* when the difference it claims is larger than the combined
# bootstrap uncertainty (the 95 % half-widths added in quadrature), *inconclusive* when it lies
# within it. By that rule even the paper's own Table 2 leaves conclusion III (CNN3 beats CNN2 on
# post-mergers: 55.5 ± 1.4 vs 53.4 ± 1.6 %) inconclusive.
#
# On the mock dataset the verdicts test the method and the mock, not the paper's science; run
# `python run_all.py --profile paper --data <merger-challenge folder>` for that.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"

# %%
import pandas as pd
from IPython.display import Markdown, display

from galmerge import report
from galmerge.runs import update_summary

# The tables with their galaxy counts: accuracies get a binomial uncertainty from the test-set
# size, and a stage with fewer than report.MIN_GALAXIES galaxies is not used to judge a conclusion.
ours1, ours2 = report.load_tables(run_dir)

# %% [markdown]
# ## Table 1 and Table 2 beside the paper

# %%
display(report.beside_paper(ours1, report.PAPER_TABLE1).round(1))
display(report.beside_paper(ours2, report.PAPER_TABLE2).round(1))

# %% [markdown]
# ## The paper's three conclusions on this run

# %%
verdicts = report.judge_conclusions(ours1, ours2)
display(pd.DataFrame([v.__dict__ for v in verdicts]))

# %% [markdown]
# ## Writing REPORT.md and report.html

# %%
written = report.write_report(run_dir, figures_dir, ours1, ours2)
update_summary(run_dir, "report", {v.conclusion.split(".")[0]: v.verdict for v in verdicts})
print("\n".join(str(p) for p in written.values()))
display(Markdown(written["markdown"].read_text().split("## Figures")[0]))
