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
#
# %% [markdown]
# # 08 Transfer: this dataset scored by the networks of another run
#
# The paper's stated future work: apply networks trained on simulations to observations and
# compare them with networks trained on the observations. With `-p transfer_models=RUN` (a run
# folder, or a run name under `runs/`), this notebook scores **this run's test galaxies** with
# RUN's networks and puts Table 1 of those networks beside Table 1 of the networks trained here,
# on the same galaxies (`galmerge.nets.transfer`):
#
# * **trained here**: this run's networks and thresholds (03_evaluate's Table 1);
# * **transfer**: RUN's networks at RUN's thresholds, as they would be deployed;
# * **transfer, threshold re-chosen**: RUN's networks at a precision = recall threshold chosen on
#   this run's validation split; it separates a shifted score scale (fixed by the new threshold,
#   AUC unchanged) from lost ranking power (lower AUC).
#
# RUN's networks see this run's inputs (cubes from this run's fitting stage). Without
# `transfer_models` the notebook does nothing and removes any earlier transfer table of this run.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"
transfer_models = None

# %% tags=["remove-input"]

from IPython.display import display

from galmerge.analysis import evaluation as ev
from galmerge.nets import transfer as tr
from galmerge.report import figures
from galmerge.runs import Run

run = Run(run_dir)
if not transfer_models:
    run.remove_table(tr.TRANSFER_TABLE)
    run.update_summary("transfer", {"source_run": None})
    print("no transfer_models given (-p transfer_models=RUN): nothing to do")

# %%
if transfer_models:
    source = tr.resolve_run(transfer_models, run.root.resolve().parent)
    print(f"this run: {run.name}; networks from: {source.name} "
          f"({', '.join(ev.network_label(k) for k in source.trained_kinds)})")
    for problem in tr.fitting_mismatch(run, source):
        print(f"warning: the runs were fitted differently ({problem}); the inputs differ from the source's training")
    own_kinds = run.trained_kinds
    own = ev.load_run_scores(run, "test") if own_kinds else None
    source_thresholds = ev.load_thresholds(source)
    test = tr.score_with(run, source, "test")
    validation = tr.score_with(run, source, "validation")
    transfer = tr.with_thresholds(test, source_thresholds)
    rechosen_thresholds = tr.rechosen_thresholds(validation)
    rechosen = tr.with_thresholds(test, rechosen_thresholds)
    table = tr.transfer_table(own, transfer, rechosen, here=run.name, source=source.name)
    run.write_table(tr.TRANSFER_TABLE, table, index=False)
    display(table.round(1))
    reference = tr.source_table1(source)
    if reference is not None:
        print(f"for reference, {source.name}'s networks on their own test set:")
        shown = [c for c in ("n", "accuracy", "precision", "recall", "f1", "auc") if c in reference]
        display(reference[shown].round(1))

# %% [markdown]
# ## Score distributions on this run's test galaxies
#
# Mergers red, non-mergers grey; the dotted line is the threshold of each row's setting (the
# source run's own threshold for the transfer row).

# %%
if transfer_models:
    figures.show("transfer_scores", figures_dir, own, transfer, source_thresholds,
                 own.attrs["thresholds"] if own is not None else None)
    run.update_summary("transfer", {
        "source_run": source.name, "n_test": int(len(test)),
        "source_thresholds": {k: source_thresholds[k] for k in test.attrs["kinds"]},
        "rechosen_thresholds": rechosen_thresholds,
        "table": table.to_dict(orient="records"),
    })
