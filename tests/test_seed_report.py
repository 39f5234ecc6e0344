"""Training variance in the report (issue 23, item 1): the seed columns of Tables 1-2, the note under
them, the seed-variance benchmark's table and where a run's seeds are recorded (galmerge.runs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from galmerge.report import markdown as report
from galmerge.runs import SEED_VARIANCE_COLUMNS, Run, read_seed_variance, write_seed_variance


def _benchmark(folder, sd_raw: float = 0.03) -> pd.DataFrame:
    rows = [{"profile": "quick", "run": "quick-mock_quick", "dataset": "mock_quick", "kind": kind, "seed": seed,
             "own_seed": seed == 1, "subset": subset, "accuracy": 0.7 + (sd if seed == 2 else 0.0),
             "precision": np.nan, "recall": np.nan, "auc": np.nan, "n": 100, "threshold": 0.5}
            for kind, sd in (("raw", sd_raw), ("model", 0.0)) for seed in (1, 2)
            for subset in ("all", "pre", "ongoing", "post")]
    write_seed_variance(pd.DataFrame(rows), "quick", folder)
    return read_seed_variance("quick", folder)


def _table1(seeds: dict[str, int], sd: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"n": 100, "accuracy": 70.0, "seeds": pd.Series(seeds),
                         "accuracy_seed_sd": pd.Series(sd)}).rename_axis("kind")


def test_the_benchmark_table_round_trips_and_a_missing_one_is_none(tmp_path):
    assert read_seed_variance("quick", tmp_path) is None
    table = _benchmark(tmp_path)
    assert list(table.columns) == list(SEED_VARIANCE_COLUMNS) and len(table) == 16
    assert table.attrs["path"].endswith("seed_variance_quick.csv")
    with pytest.raises(ValueError, match="lacks column"):
        write_seed_variance(table.drop(columns="subset"), "quick", tmp_path)


def test_one_seed_networks_show_the_benchmark_spread_or_say_n_a(tmp_path):
    bench = _benchmark(tmp_path, sd_raw=0.03)
    table = _table1({"raw": 1, "model": 1, "residual": 1}, {"raw": np.nan, "model": np.nan, "residual": np.nan})
    shown = report.with_seed_spread(table, bench)
    # SD of (0.70, 0.73) = 0.03 / sqrt(2) = 2.1 points; the residual network was not in the benchmark
    assert shown.at["raw", "accuracy_seed_sd"] == "2.1 (benchmark)"
    assert shown.at["model", "accuracy_seed_sd"] == "0.0 (benchmark)"
    assert shown.at["residual", "accuracy_seed_sd"] == report.NO_SEED_SPREAD
    assert (report.with_seed_spread(table)["accuracy_seed_sd"] == report.NO_SEED_SPREAD).all()
    assert "2 train seeds" in report.seed_spread_note(table, bench)
    assert "test-set sampling only" in report.seed_spread_note(table, None)


def test_several_seeds_keep_their_own_spread():
    table = _table1({"raw": 5, "model": 5}, {"raw": 2.345, "model": 1.0})
    shown = report.with_seed_spread(table, None)
    assert shown.at["raw", "accuracy_seed_sd"] == "2.3"
    assert "mean over seeds" in report.seed_spread_note(table)


def test_a_run_names_its_profile_and_its_seeds(tmp_path):
    run = Run(tmp_path / "sdss-darg")
    assert run.profile == "sdss"  # from the name when run_all left no log
    run.root.mkdir()
    (run.root / "run_log.json").write_text(json.dumps({"00_data": {"profile": "quick", "seconds": 1.0}}))
    assert run.profile == "quick"
    assert run.train_seeds("raw") == [0]  # nothing trained: one unnamed seed
    run.write_train_seeds("raw", [3, 4])
    assert run.train_seeds("raw") == [3, 4]
    assert list(run.seed_dirs("raw", run.train_seeds("raw")).values()) == [run.train_dir("raw"),
                                                                           run.train_dir("raw") / "seed_4"]
