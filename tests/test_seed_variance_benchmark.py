"""benchmarks/seed_variance.py: every seed index's predictions pooled into one frame are judged as a run
that trained those seeds (the claim's difference is the mean over seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script
from test_conclusions import PAPER_LIKE, _flip, _frame

from galmerge.analysis import conclusions as gc
from galmerge.analysis import evaluation as ev


@pytest.fixture(scope="module")
def seed_variance():
    return load_script("benchmarks/seed_variance.py", "seed_variance_benchmark")


def _seed_index_frames(n_seeds: int = 3) -> dict:
    """One frame per seed index, as the benchmark's seed_frame gives them: each network's predictions
    of that seed (the first seed's flipped on 10-30 % of the galaxies for the others)."""
    base = _frame(PAPER_LIKE)
    kinds = [k for k in PAPER_LIKE]
    frames = {}
    for index in range(n_seeds):
        frame = base.copy()
        for j, kind in enumerate(kinds):
            pred = base[f"pred_{kind}"].to_numpy() if index == 0 else _flip(base[f"pred_{kind}"].to_numpy(),
                                                                              0.1 * index, 10 * j + index)
            frame[f"pred_{kind}"], frame[f"score_{kind}"] = pred, pred * 0.8 + 0.1
        frame.attrs.update(kinds=kinds, thresholds={k: 0.5 for k in kinds}, split="test")
        frames[index] = frame
    return frames


def test_pooled_frame_is_judged_on_the_mean_over_seeds(seed_variance):
    frames = _seed_index_frames()
    seeds = {kind: [1, 2, 3] for kind in PAPER_LIKE}
    pooled = seed_variance.pooled_frame(frames, seeds)
    assert pooled.attrs["seeds"] == seeds
    for kind in PAPER_LIKE:
        assert ev.frame_seeds(pooled, kind) == [1, 2, 3]
        np.testing.assert_array_equal(ev.seed_predictions(pooled, kind),
                                      np.stack([f[f"pred_{kind}"] for f in frames.values()]))
    claim = gc.CONCLUSIONS[0].claims[0]  # CNN1 > CNN2 on all test galaxies
    row = gc.judge_claim(pooled, claim, n_resamples=200, rng=3)
    accuracy = {k: np.mean([(f[f"pred_{k}"] == f["label"]).mean() for f in frames.values()]) for k in PAPER_LIKE}
    assert row["difference"] == pytest.approx(accuracy[claim.better] - accuracy[claim.worse])
    assert row["seeds_better"] == 3 and row["seeds_worse"] == 3


def test_pooled_frame_refuses_seed_indices_on_different_galaxies(seed_variance):
    frames = _seed_index_frames(2)
    frames[1] = frames[1].iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="seed index 1"):
        seed_variance.pooled_frame(frames, {kind: [1, 2] for kind in PAPER_LIKE})


def test_a_later_call_never_maps_a_new_seed_onto_the_first_seeds_folder(seed_variance, tmp_path):
    from galmerge.runs import Run

    scratch = Run(tmp_path / "scratch")
    assert seed_variance.scratch_seeds(scratch, "raw", [4]) == [4]  # nothing recorded: the new seed is first
    scratch.write_train_seeds("raw", [2, 3])
    assert seed_variance.scratch_seeds(scratch, "raw", [4]) == [2, 3, 4]
    assert seed_variance.scratch_seeds(scratch, "raw", [3, 5]) == [2, 3, 5]
    folders = scratch.seed_dirs("raw", seed_variance.scratch_seeds(scratch, "raw", [4]))
    assert folders[4] == scratch.train_dir("raw") / "seed_4" and folders[2] == scratch.train_dir("raw")


def test_the_pooled_frame_gives_the_per_claim_seed_galaxy_table(seed_variance):
    frames = _seed_index_frames()
    pooled = seed_variance.pooled_frame(frames, {kind: [1, 2, 3] for kind in PAPER_LIKE})
    claims = gc.seed_claims_table(pooled, n_resamples=100)
    assert list(claims["claim"]) == [c.text() for conclusion in gc.CONCLUSIONS for c in conclusion.claims]
    assert (claims["seeds"] == 3).all() and (claims["seed_galaxy_variance"] >= 0).all()
    assert np.isfinite(claims["paired_sd"]).all()
