"""galmerge.analysis.evaluation on a fabricated run folder: products + scores of some networks."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from galmerge.analysis import evaluation as ev  # noqa: E402
from galmerge.data.cosmology import snapnum_to_redshift  # noqa: E402
from galmerge.report import figures  # noqa: E402
from galmerge.runs import Run  # noqa: E402
from galmerge.sersic.products import write_products  # noqa: E402

#: How well each fake network separates the classes (logit shift); the stack is left untrained.
FAKE_SIGNAL = {"raw": 2.0, "model": 1.2, "residual": 0.8}


def make_fake_images(n: int, seed: int = 0, failed_fraction: float = 0.05) -> pd.DataFrame:
    """A products images table with the catalogue columns and a primary Sérsic ellipticity."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    stage = np.where(label == 1, rng.choice(["pre", "ongoing", "post"], n, p=[0.6, 0.15, 0.25]), "non")
    lo = {"pre": -0.8, "ongoing": -0.1, "post": 0.1}
    hi = {"pre": -0.1, "ongoing": 0.1, "post": 0.3}
    merger_time = np.array([rng.uniform(lo[s], hi[s]) if s != "non" else np.nan for s in stage])
    snapnum = rng.integers(50, 92, n)
    ellip = np.where(label == 1, rng.beta(3, 3, n), rng.beta(1.5, 4, n))
    failed = rng.random(n) < failed_fraction
    ellip[failed] = np.nan
    split = rng.choice(["train", "validation", "test"], n, p=[0.5, 0.25, 0.25])
    return pd.DataFrame({
        "ID": np.arange(1000, 1000 + n, dtype=np.int64), "split": split, "label": label, "stage": stage,
        "snapnum": snapnum, "redshift": snapnum_to_redshift(snapnum), "merger_time": merger_time,
        "sequence_ID": np.where(label == 1, np.arange(n), -1),
        "status": np.where(failed, "all_fits_failed", "ok"), "n_sources": rng.integers(1, 5, n),
        "flag_sersic": np.where(failed, 4, 0), "primary_used_in_model": ~failed,
        "sersic_ellip": ellip, "sersic_n": rng.uniform(0.5, 4, n)})


def make_fake_run(run_dir: Path, n: int = 120, kinds=("raw", "model", "residual"), seed: int = 0) -> Path:
    """Write a run folder with products (tiny zero cubes) and scores of ``kinds``."""
    run_dir = Path(run_dir)
    images = make_fake_images(n, seed)
    cubes = {k: np.zeros((n, 128, 128), np.float32) for k in ("raw", "model", "residual")}
    sources = pd.DataFrame({"ID": images["ID"], "label": 1, "is_primary": True})
    write_products(Run(run_dir).products, images, sources, cubes)
    rng = np.random.default_rng(seed + 1)
    for kind in kinds:
        folder = Run(run_dir).train_dir(kind)
        folder.mkdir(parents=True, exist_ok=True)
        for split in ("validation", "test"):
            sub = images[images["split"] == split]
            logit = FAKE_SIGNAL.get(kind, 0.0) * (sub["label"] - 0.5) * 2 + rng.normal(0, 1.5, len(sub))
            pd.DataFrame({"ID": sub["ID"], "label": sub["label"], "score": 1 / (1 + np.exp(-logit))}) \
                .to_csv(folder / f"scores_{split}.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = make_fake_run(tmp_path_factory.mktemp("fake") / "run")
    ev.write_thresholds(run_dir, ev.choose_thresholds(run_dir))
    return run_dir


@pytest.fixture(scope="module")
def test_frame(run):
    return ev.load_run_scores(run, "test")


def test_thresholds_round_trip_and_balance_precision_and_recall(run):
    table = ev.choose_thresholds(run)
    assert list(table["kind"]) == ["raw", "model", "residual"]  # only the trained networks
    assert (table["val_precision"] - table["val_recall"]).abs().max() < 0.1
    assert ev.load_thresholds(run) == pytest.approx(dict(zip(table["kind"], table["threshold"])))


def test_missing_thresholds_file_falls_back_to_the_validation_choice_with_a_warning(tmp_path):
    run_dir = make_fake_run(tmp_path / "run", n=60, kinds=("raw",))
    with pytest.warns(UserWarning, match="no threshold for 'raw'"):
        fallback = ev.load_thresholds(run_dir)
    assert fallback == pytest.approx({"raw": ev.choose_thresholds(run_dir)["threshold"].iat[0]})
    with pytest.raises(FileNotFoundError, match="02_train"):
        ev.load_thresholds(tmp_path / "empty")


def test_a_validation_split_without_mergers_takes_the_fallback_out_loud(tmp_path):
    from galmerge.analysis.metrics import FALLBACK_THRESHOLD

    run_dir = make_fake_run(tmp_path / "run", n=60, kinds=("raw",))
    path = Run(run_dir).scores_path("raw", "validation")
    pd.read_csv(path).assign(label=0).to_csv(path, index=False)
    with pytest.warns(UserWarning, match="scores_validation.csv: no merger"):
        table = ev.choose_thresholds(run_dir)
    assert table.at[0, "threshold"] == FALLBACK_THRESHOLD and table.at[0, "method"].startswith("fallback")
    with pytest.warns(UserWarning, match="fallback threshold"):
        used = ev.threshold_table(run_dir)  # nothing recorded yet: the same rule, said out loud
    assert used.at[0, "threshold"] == FALLBACK_THRESHOLD and "fallback" in used.at[0, "source"]


def test_load_run_scores_joins_products_and_predicts(run, test_frame):
    images = pd.read_parquet(Run(run).products / "images.parquet")
    test_ids = images.loc[images["split"] == "test", "ID"]
    assert sorted(test_frame["ID"]) == sorted(test_ids)
    for column in ("ID", "label", "stage", "redshift", "merger_time", "sersic_ellip", "status"):
        assert column in test_frame.columns
    thresholds = ev.load_thresholds(run)
    for kind in ("raw", "model", "residual"):
        expected = (test_frame[f"score_{kind}"] >= thresholds[kind]).astype(int)
        assert (test_frame[f"pred_{kind}"] == expected).all()
    assert "score_stack" not in test_frame.columns and test_frame.attrs["dropped"] == 0


def test_load_run_scores_reports_galaxies_missing_from_a_network(tmp_path):
    run_dir = make_fake_run(tmp_path / "run", n=60, kinds=("raw", "model"))
    path = Run(run_dir).train_dir("model") / "scores_test.csv"
    scores = pd.read_csv(path)
    scores.iloc[2:].to_csv(path, index=False)
    with pytest.warns(UserWarning, match="2 of"):
        frame = ev.load_run_scores(run_dir, "test", thresholds={"raw": 0.5, "model": 0.5})
    assert frame.attrs["dropped"] == 2 and len(frame) == len(scores) - 2


def test_load_run_scores_rejects_disagreeing_labels(tmp_path):
    run_dir = make_fake_run(tmp_path / "run", n=60, kinds=("raw",))
    path = Run(run_dir).train_dir("raw") / "scores_test.csv"
    scores = pd.read_csv(path)
    scores.loc[0, "label"] = 1 - scores.loc[0, "label"]
    scores.to_csv(path, index=False)
    with pytest.raises(ValueError, match="disagree"):
        ev.load_run_scores(run_dir, "test", thresholds={"raw": 0.5})


def test_no_trained_network_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_train"):
        Run(tmp_path).require_trained_kinds()


def test_table1_matches_sklearn_in_per_cent(test_frame):
    table = ev.overall_table(test_frame)
    assert list(table.index) == ["raw", "model", "residual"]
    y = test_frame["label"]
    for kind in table.index:
        pred = test_frame[f"pred_{kind}"]
        assert table.at[kind, "accuracy"] == pytest.approx(100 * skm.accuracy_score(y, pred))
        assert table.at[kind, "f1"] == pytest.approx(100 * skm.f1_score(y, pred))
        assert table.at[kind, "auc"] == pytest.approx(100 * skm.roc_auc_score(y, test_frame[f"score_{kind}"]))
    assert table.at["raw", "accuracy (paper)"] == 74 and table.at["residual", "recall (paper)"] == 69
    # the fake networks are ordered by signal strength
    assert table.at["raw", "auc"] > table.at["residual", "auc"]


def test_table1_has_balanced_metrics_with_intervals_and_the_baseline_row(test_frame):
    y = test_frame["label"].to_numpy()
    rng = np.random.default_rng(0)
    score = np.clip(0.3 * y + rng.random(len(y)) * 0.7, 0, 1)
    baseline = pd.DataFrame({"ID": test_frame["ID"], "score": score, "pred": (score >= 0.4).astype(int),
                             "threshold": 0.4})
    table = ev.overall_table(test_frame, baseline=baseline, n_resamples=200, seed=1)
    assert list(table.index) == ["raw", "model", "residual", "baseline"]
    for kind in table.index:
        pred = test_frame[f"pred_{kind}"] if kind != "baseline" else baseline["pred"]
        recall, specificity = np.mean(pred[y == 1] == 1), np.mean(pred[y == 0] == 0)
        assert table.at[kind, "balanced_accuracy"] == pytest.approx(100 * (recall + specificity) / 2)
        assert table.at[kind, "specificity"] == pytest.approx(100 * specificity)
        for metric in ev.TABLE1_INTERVALS:
            low, high = table.at[kind, f"{metric}_low"], table.at[kind, f"{metric}_high"]
            assert low < table.at[kind, metric] < high, (kind, metric)
        # one balanced draw per resample adds its own luck to the interval
        sub = table.at[kind, "balanced_subsample_accuracy_high"] - table.at[kind, "balanced_subsample_accuracy_low"]
        assert sub >= 0.9 * (table.at[kind, "balanced_accuracy_high"] - table.at[kind, "balanced_accuracy_low"])
    assert table.at["baseline", "threshold"] == 0.4 and table.at["baseline", "network"] == "non-CNN baseline"
    # a baseline that did not score every test galaxy gets no row
    assert "baseline" not in ev.overall_table(test_frame, baseline=baseline.iloc[1:], n_resamples=20).index


def test_table1_at_the_threshold_for_a_class_balanced_test_set(run, test_frame):
    """Each network's second operating point: recall = specificity on its validation scores (the paper's
    rule on a class-balanced validation set), read back from the run and applied to the test scores."""
    at_balance = test_frame.attrs["balanced_thresholds"]
    table = ev.overall_table(test_frame, n_resamples=200, seed=1)
    y = test_frame["label"].to_numpy()
    for kind in table.index:
        (threshold,) = at_balance[kind].values()  # one train seed
        val = Run(run).scores(kind, "validation")
        called = val["score"].to_numpy() >= threshold
        val_y = val["label"].to_numpy().astype(bool)
        assert abs(called[val_y].mean() - (~called[~val_y]).mean()) <= 2 / min(val_y.sum(), (~val_y).sum())
        pred = test_frame[f"score_{kind}"].to_numpy() >= threshold
        recall, specificity = pred[y == 1].mean(), (~pred[y == 0]).mean()
        assert table.at[kind, "threshold_at_balance"] == threshold
        assert table.at[kind, "recall_at_balance"] == pytest.approx(100 * recall)
        assert table.at[kind, "balanced_accuracy_at_balance"] == pytest.approx(50 * (recall + specificity))
        low, value, high = (table.at[kind, f"balanced_accuracy_at_balance{end}"] for end in ("_low", "", "_high"))
        assert low < value < high


def test_table2_counts_stages_and_quotes_the_paper(test_frame):
    wide, long = ev.stage_table(test_frame, n_resamples=100, seed=1)
    counts = test_frame["stage"].value_counts()
    for stage in ("pre", "ongoing", "post", "non"):
        assert (wide[f"n_{stage}"] == counts.get(stage, 0)).all()
        assert wide[stage].between(0, 100).all()
        assert (wide[f"{stage}_err"] >= 0).all()
    assert wide.at["model", "post (paper)"] == 53.4
    pre = test_frame["stage"] == "pre"
    direct = 100 * (test_frame.loc[pre, "pred_raw"] == 1).mean()
    assert abs(wide.at["raw", "pre"] - direct) < 3  # bootstrap mean near the sample fraction
    assert set(long["metric"]) == {"fraction_correct"}


def test_binned_bootstrap_keeps_empty_bins_as_nan(test_frame):
    mergers = test_frame[test_frame["label"] == 1]
    mergers.attrs.update(test_frame.attrs)
    groups = ev.cut(mergers["merger_time"], np.array([-2.0, -1.0, *ev.MERGER_TIME_EDGES]))
    table = ev.binned_bootstrap(mergers, groups, ("fraction_correct",), n_resamples=50, seed=0)
    empty = table[table["bin"] == "(-2.00, -1.00]"]
    assert len(empty) == 3 and (empty["n"] == 0).all() and empty["mean"].isna().all()
    full = table[table["n"] > 0]
    assert full["mean"].notna().all()
    assert table.groupby("kind", observed=True)["n"].sum().eq(len(mergers)).all()


def test_bootstrap_tables_are_reproducible(test_frame):
    groups = ev.redshift_folder_bins(test_frame["snapnum"])
    a = ev.binned_bootstrap(test_frame, groups, n_resamples=40, seed=3)
    b = ev.binned_bootstrap(test_frame, groups, n_resamples=40, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_redshift_folders_ordered_by_redshift(test_frame):
    groups = ev.redshift_folder_bins([91, 78, 60, 50, 77])
    assert list(groups.categories) == sorted(groups.categories, key=lambda c: float(c.split()[1].split("-")[0]))
    assert groups[0] == groups[1] and groups[0].endswith("(snapnum_78_91)")
    assert groups[3].endswith("(snapnum_50_57)")
    assert np.all(np.diff(ev.bin_positions(groups.categories)) > 0)


def test_ellipticity_failures_are_counted_not_dropped(test_frame):
    failures = ev.fit_failures(test_frame)
    n_failed = int(test_frame["sersic_ellip"].isna().sum())
    assert n_failed > 0 and failures["total"].sum() == n_failed
    assert set(failures["reason"]) == {"status all_fits_failed"}
    groups = ev.cut(ev.usable_ellipticity(test_frame), ev.ELLIPTICITY_EDGES)
    outside = ev.outside_bins(groups, test_frame, "no Sérsic fit")
    assert outside["mergers"] + outside["non_mergers"] == n_failed
    counts = ev.class_counts(test_frame, groups)
    assert len(counts) == 20 and counts[["mergers", "non_mergers"]].to_numpy().sum() == len(test_frame) - n_failed


def test_ellipticity_of_a_primary_fit_left_out_of_the_model_is_not_used():
    frame = pd.DataFrame({"label": [1, 0, 1, 0], "sersic_ellip": [0.3, 0.4, np.nan, 0.2],
                          "status": ["ok", "ok", "ok", "no_source"],
                          "flag_sersic": [0, 2, 4, -1], "primary_used_in_model": [True, False, False, False]})
    assert list(ev.ellipticity_problem(frame)) == ["", "primary fit not in model (flag_sersic 2)",
                                                   "primary fit not in model (flag_sersic 4)", "status no_source"]
    usable = ev.usable_ellipticity(frame)
    assert usable.iloc[0] == 0.3 and usable.iloc[1:].isna().all()
    table = ev.fit_failures(frame).set_index("reason")
    assert table["total"].sum() == 3 and table.at["status no_source", "non_mergers"] == 1


def test_balanced_bins_use_equal_classes(test_frame):
    groups = ev.cut(ev.usable_ellipticity(test_frame), np.array([0.0, 0.5, 1.0]))
    table = ev.binned_balanced(test_frame, groups, per_class=5, n_draws=4, seed=0)
    for name, sub in table.groupby("bin", observed=True):
        members = np.asarray(groups == name)
        n_m = int(test_frame.loc[members, "label"].sum())
        assert (sub["per_class"] == min(5, n_m, members.sum() - n_m)).all()
    assert table["mean"].between(0, 1).all() and (table["n_draws"] == 4).all()


@pytest.mark.slow
def test_figures_build_for_a_subset_of_networks(run, test_frame):
    table1 = ev.overall_table(test_frame)
    drawn = [
        figures.fig06_threshold_curves(ev.threshold_curves(test_frame, np.linspace(0, 1, 11)), ev.load_thresholds(run)),
        figures.fig12_roc(ev.roc_table(test_frame), table1),
        figures.fig13_confusion(ev.confusion_table(test_frame)),
        figures.plot_binned(ev.binned_bootstrap(test_frame, ev.redshift_folder_bins(test_frame["snapnum"]),
                                           n_resamples=20), ("accuracy", "precision"), "Redshift bin"),
        figures.fig09_class_counts({"test": ev.class_counts(test_frame, ev.cut(test_frame["sersic_ellip"],
                                                                          ev.ELLIPTICITY_EDGES))}, "ellipticity"),
    ]
    assert len(drawn[0].axes) == 3 and len(drawn[2].axes) == 3
    assert len(drawn[1].axes[0].lines) == 4  # three networks and the chance diagonal
    for fig in drawn:
        plt.close(fig)


def test_confusion_rows_sum_to_one(test_frame):
    table = ev.confusion_table(test_frame)
    sums = table.groupby(["kind", "true"])["fraction"].sum()
    np.testing.assert_allclose(sums, 1.0)


def test_bootstraps_resample_sequences_and_count_them(test_frame):
    # regroup the fake test split's mergers into sequences of 4; non-mergers keep no sequence
    frame = test_frame.copy()
    mergers = np.flatnonzero(frame["label"].to_numpy() == 1)
    frame["sequence_ID"] = -1
    frame.loc[mergers, "sequence_ID"] = np.arange(len(mergers)) // 4
    frame.attrs.update(test_frame.attrs)
    everything = pd.Categorical(np.full(len(frame), "all"))
    table = ev.binned_bootstrap(frame, everything, ("accuracy",), n_resamples=60, seed=0)
    n_units = -(-len(mergers) // 4) + int((frame["label"] == 0).sum())
    assert (table["n_sequences"] == n_units).all() and (table["n"] == len(frame)).all()
    galaxy = ev.binned_bootstrap(frame, everything, ("accuracy",), n_resamples=60, seed=0, resample="galaxy")
    assert (galaxy["n_sequences"] == len(frame)).all()
    pd.testing.assert_series_equal(table["value"], galaxy["value"])  # same point estimate
    with pytest.raises(ValueError, match="resample"):
        ev.binned_bootstrap(frame, everything, ("accuracy",), n_resamples=10, resample="objects")
    with pytest.warns(UserWarning, match="sequence_ID"):
        ev.binned_bootstrap(ev.subset(frame.drop(columns="sequence_ID"), np.ones(len(frame), bool)),
                            everything, ("accuracy",), n_resamples=10)
    wide, _ = ev.stage_table(frame, n_resamples=30, seed=0)
    assert wide.at["raw", "n_seq_non"] == wide.at["raw", "n_non"]
    assert wide.at["raw", "n_seq_pre"] <= wide.at["raw", "n_pre"]


def test_balanced_bins_carry_a_sequence_bootstrap_interval_of_the_balanced_metric(test_frame):
    groups = pd.Categorical(np.full(len(test_frame), "all"))
    table = ev.binned_balanced(test_frame, groups, ("accuracy", "precision"), per_class=10 ** 6, n_draws=3,
                               seed=0, n_resamples=200)
    # with every galaxy of the smaller class in each draw, the draws' mean is close to the
    # class-balanced metric, and the interval brackets it
    assert ((table["lower"] <= table["balanced"]) & (table["balanced"] <= table["upper"])).all()
    accuracy = table[(table["metric"] == "accuracy") & (table["kind"] == "raw")].iloc[0]
    y, p = test_frame["label"].to_numpy(), test_frame["pred_raw"].to_numpy()
    expected = (p[y == 1].mean() + (1 - p[y == 0]).mean()) / 2
    assert accuracy["balanced"] == pytest.approx(expected)
    assert abs(accuracy["mean"] - expected) < 0.05


# --------------------------------------------------------------------------- train seeds (issue 23)
def _add_seed(run_dir: Path, kind: str, seed: int, seeds: list[int], rng_seed: int) -> None:
    """Scores of a further train seed of ``kind`` in its seed folder (Run.seed_dirs), as 02_train writes them."""
    run = Run(run_dir)
    folder = run.seed_dirs(kind, seeds)[seed]
    folder.mkdir(parents=True, exist_ok=True)
    images = ev.load_images(run)
    rng = np.random.default_rng(rng_seed)
    for split in ("validation", "test"):
        sub = images[images["split"] == split]
        logit = FAKE_SIGNAL.get(kind, 0.0) * (sub["label"] - 0.5) * 2 + rng.normal(0, 1.5, len(sub))
        pd.DataFrame({"ID": sub["ID"], "label": sub["label"], "score": 1 / (1 + np.exp(-logit))}) \
            .to_csv(folder / f"scores_{split}.csv", index=False)
    run.write_train_seeds(kind, seeds)


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory):
    """A fake run whose CNN1 has three train seeds (1, 2, 3) and CNN2 one."""
    run_dir = make_fake_run(tmp_path_factory.mktemp("seeded") / "run", kinds=("raw", "model"))
    for seed in (2, 3):
        _add_seed(run_dir, "raw", seed, [1, 2, 3], rng_seed=10 + seed)
    ev.write_thresholds(run_dir, ev.choose_thresholds(run_dir))
    return run_dir


def test_seed_folders_follow_one_rule_and_are_listed():
    run = Run("runs/x")
    dirs = run.seed_dirs("raw", [4, 5, 6])
    assert dirs[4] == run.train_dir("raw")  # the first seed where a one-seed run keeps it
    assert dirs[5] == run.train_dir("raw") / "seed_5" and dirs[6] == run.train_dir("raw") / "seed_6"
    with pytest.raises(ValueError):
        run.seed_dirs("raw", [1, 1])


def test_table1_gives_the_seed_mean_and_spread_of_each_metric(seeded_run):
    frame = ev.load_run_scores(seeded_run, "test")
    # CNN2's folder has no seeds.json nor config.json (a run from before seeds): one seed, numbered 0
    assert frame.attrs["seeds"] == {"raw": [1, 2, 3], "model": [0]}
    run = Run(seeded_run)
    table = ev.overall_table(frame)
    # by hand: each seed at the threshold chosen on its own validation scores
    accuracies, aucs, balanced = [], [], []
    for seed, folder in run.seed_dirs("raw", [1, 2, 3]).items():
        val = pd.read_csv(folder / "scores_validation.csv")
        test = pd.read_csv(folder / "scores_test.csv").set_index("ID").loc[frame["ID"]]
        threshold = ev.gm.choose_threshold(val["label"], val["score"]).threshold
        assert frame.attrs["seed_thresholds"]["raw"][seed] == pytest.approx(threshold)
        accuracies.append(100 * skm.accuracy_score(test["label"], test["score"] >= threshold))
        aucs.append(100 * skm.roc_auc_score(test["label"], test["score"]))
        at_balance = ev.gm.choose_threshold(val["label"], val["score"], balanced=True).threshold
        assert frame.attrs["balanced_thresholds"]["raw"][seed] == at_balance
        balanced.append(100 * skm.balanced_accuracy_score(test["label"], test["score"] >= at_balance))
    assert len(set(np.round(accuracies, 6))) > 1  # the seeds disagree, so the spread is not trivially 0
    assert table.at["raw", "seeds"] == 3
    assert table.at["raw", "accuracy"] == pytest.approx(np.mean(accuracies))
    assert table.at["raw", "accuracy_seed_sd"] == pytest.approx(np.std(accuracies, ddof=1))
    assert table.at["raw", "auc"] == pytest.approx(np.mean(aucs))
    assert table.at["raw", "balanced_accuracy_at_balance"] == pytest.approx(np.mean(balanced))
    assert table.at["raw", "balanced_accuracy_at_balance_seed_sd"] == pytest.approx(np.std(balanced, ddof=1))
    # one seed: today's numbers, and no spread
    assert table.at["model", "seeds"] == 1 and np.isnan(table.at["model", "accuracy_seed_sd"])
    model = frame["pred_model"] == frame["label"]
    assert table.at["model", "accuracy"] == pytest.approx(100 * model.mean())
    per_seed = ev.seed_table(frame)
    assert per_seed.loc[per_seed["kind"] == "raw", "accuracy"].tolist() == pytest.approx(accuracies)


def test_table2_gives_the_seed_spread_and_a_seed_and_sequence_interval(seeded_run):
    frame = ev.load_run_scores(seeded_run, "test")
    table, _ = ev.stage_table(frame, n_resamples=200, seed=0)
    mergers = (frame["label"] == 1) & (frame["stage"] == "pre")
    by_seed = [100 * (p[mergers.to_numpy()] == 1).mean() for p in ev.seed_predictions(frame, "raw")]
    assert table.at["raw", "pre_seed_sd"] == pytest.approx(np.std(by_seed, ddof=1))
    assert abs(table.at["raw", "pre"] - np.mean(by_seed)) < 5  # the resamples' mean, near the seeds' mean
    assert table.at["raw", "pre_err"] > 0
    assert np.isnan(table.at["model", "pre_seed_sd"])
