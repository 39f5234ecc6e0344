"""Training variance between train seeds of a finished run's networks (issue 23, item 1).

Two trainings of CNN1 on the same data with train seeds 1, 2 and 3 gave 68.8, 66.5 and 69.3 % (issue 23):
more than the paired bootstrap interval of a claim, which counts test-set sampling only, so verdicts
flipped between re-runs. A profile that trains one seed per network (``seeds: 1``: quick, sdss, smoke)
therefore takes the training variance from this benchmark: given a finished run, it trains each of the
run's networks with ``--seeds`` further train seeds on the run's own fitted products, through the
training notebook's own code path (:func:`galmerge.nets.training.train_seeds` with the run's recorded
training parameters, seed folders by :meth:`galmerge.runs.Run.seed_dirs`), into a scratch folder outside
the run (the run is not touched; a second call reuses the finished seeds there). Each seed's test split
is scored at that seed's own validation precision = recall threshold
(:func:`galmerge.analysis.metrics.choose_threshold`, the one rule).

Writes ``benchmarks/results/seed_variance_<profile>.csv`` (:func:`galmerge.runs.write_seed_variance`): one
row per network, train seed and subset (all test galaxies; the pre-, ongoing and post-mergers) with
accuracy, precision, recall, ROC AUC (fractions), n and the threshold, the run's own seed(s) included
(``own_seed`` True). The conclusions and the report of every run of that profile read it
(:func:`galmerge.runs.read_seed_variance`): with one seed per network, each claim's interval gets the
training variance of the seed-paired difference ``accuracy(a, s) - accuracy(b, s)`` over this table's seeds,
less the seed x galaxy part the test-set bootstrap already counts
(:func:`galmerge.analysis.metrics.seed_term_from_benchmark`). Beside it,
``seed_variance_<profile>_claims.csv`` (:func:`galmerge.analysis.conclusions.seed_claims_table`) gives per
claim the seed x galaxy variance measured from the seeds' per-galaxy predictions, which those runs then
subtract instead of bounding it by their own bootstrap.

Prints each network's seed SD per subset; each seed index's three verdicts
(:func:`galmerge.analysis.conclusions.judge_conclusions` on that seed's scores, every network at the same
seed index), once on test-set sampling only and once with this table's seed-paired differences as a
one-seed run's report judges them (the issue's check that runs differing only in the train seed give the same
verdicts); and the verdicts of all seeds together, as a run that trains them all would judge.

Latest measurement (2026-12-07, today's quick profile: forty epochs, asymmetry maps, recalibrated
batch-norm statistics; on a fresh clone's ``make run`` at 1866dff, CNN1's seeds 2-5 trained before and kept)::

    .venv/bin/python benchmarks/seed_variance.py --run <clone>/runs/quick-mock_quick --seeds 4 \
        --kinds raw model residual --scratch <scratch> --keep-trained

CNN1 66.4 +- 0.3 %, CNN2 67.6 +- 0.4, CNN3 63.4 +- 1.0 over five seeds on 1,601 test galaxies (the
baseline 64.8); 8 trainings of 674-763 s, 5755 s in all (``results/seed_variance_quick.csv``; verdicts and
detectable differences in ``benchmarks/README.md``, "Forty epochs"). Before: three seeds at 30 epochs
(``results/seed_variance_quick_e30_3seeds.csv``) and the paper's inputs (``--seeds 4``, 4903 s: CNN1 63.5 +-
1.6 %, CNN2 62.5 +- 1.7, CNN3 62.9 +- 1.2; ``results/seed_variance_quick_2026-12-07_paper_inputs.csv``).
The measurement below is the earlier profile's.

Measured on the quick profile (2026-12-03/04, commit f1c95a7, the project's 2-core machine with nothing
else of ours running; the quick run's own seed 1, its raw seed 2 from an earlier session, and 11 further
trainings of 710-818 s each, 20 epochs of 2996 images with validation; 8441 s in all)::

    .venv/bin/python benchmarks/seed_variance.py --run runs/quick-mock_quick --seeds 4 \
        --scratch /work/seed_variance/quick-mock_quick

5 train seeds per network on the 1400 test galaxies
(``results/seed_variance_quick_unbinned5000_2026-12-04.csv``); accuracy mean and seed SD in per cent:

=========  ===========  ===========  ===========  ===========
network    all (1400)   pre (438)    ongoing      post (148)
=========  ===========  ===========  ===========  ===========
CNN1 raw   60.9 +- 2.4  71.3 +- 2.6  49.2 +- 4.6  36.0 +- 4.8
CNN2 model 61.0 +- 1.1  73.9 +- 1.4  46.9 +- 2.9  36.1 +- 4.8
CNN3 resid 57.1 +- 1.9  59.4 +- 3.7  51.7 +- 1.9  43.0 +- 6.2
=========  ===========  ===========  ===========  ===========

Verdicts (I, II, III) per seed, test-set sampling only: inconclusive, reproduced, inconclusive for seeds
1, 2, 3 and 5; seed 4 gives III reproduced too. With the seed SDs added (what a quick run's report then
does): seeds 1 and 3 give inconclusive for all three, seeds 2 and 5 give II reproduced, seed 4 II and III
reproduced: not the same verdicts for every seed. II sits at the edge of this test set's power (CNN1 -
CNN3 on pre-mergers +11.9 points over the five seeds, detectable from 15.1 with one seed; the 438
pre-mergers come from 35 library orbits), so a one-seed run finds it about half the time. All five seeds
together (two-stage bootstrap, commit afab5aa): I inconclusive (-0.0 [-2.7, +2.7] and +3.9 [+0.2, +7.4]
points), II reproduced (+11.9 [+5.2, +17.7], +14.5 [+8.3, +20.1]; detectable 8.8 and 8.5), III
inconclusive (+6.9 [-2.0, +16.7], detectable from 13.2).

Checked on the smoke profile (2026-12-03, commit 5a429bc, shared 2-core machine at load 3-4 with a test
run beside it; the numbers of a 1-epoch network on 6 test galaxies mean nothing, so the CSV was written
outside ``benchmarks/results``)::

    nice -n 10 .venv/bin/python benchmarks/seed_variance.py --run runs/smoke-mock_smoke --seeds 2 \
        --results /tmp/seeds_helper/results

trained seeds 2 and 3 of the four networks (12-44 s each), wrote 48 rows (4 networks x 3 seeds x 4
subsets) in 288 s, and gave the same three verdicts (inconclusive) for each of the three seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import conclusions as gc
from galmerge.analysis import evaluation as ev
from galmerge.analysis import metrics as gm
from galmerge.nets import training
from galmerge.runs import SEEDS_FILE, Run, is_finished, read_config, write_seed_variance

#: Subsets of the test split measured: every galaxy, and the mergers of each stage (conclusions II, III).
SUBSETS = ("all", "pre", "ongoing", "post")
#: Training parameters of the run's config.json passed on to train_network (all but seed and bookkeeping).
TRAINING_KEYS = ("epochs", "batch_size", "filters", "kernel_sizes", "dense_units", "learning_rate", "dropout",
                 "padding", "batch_norm_momentum", "augment", "mixed_precision", "input_bin", "asymmetry_channel",
                 "batch_norm_recalibration", "patience")
#: Values of keys that runs trained before they existed did not record (the paper's network, every epoch).
TRAINING_DEFAULTS = {"input_bin": 1, "asymmetry_channel": False, "batch_norm_recalibration": False, "patience": None}


def training_parameters(run: Run, kind: str) -> dict:
    """The run's own training parameters of one network (its first seed's ``config.json``)."""
    recorded = run.training_config(kind)["parameters"]
    return {key: recorded[key] if key in recorded else TRAINING_DEFAULTS[key] for key in TRAINING_KEYS}


def scratch_seeds(scratch: Run, kind: str, seeds: list[int]) -> list[int]:
    """The scratch folder's seeds of ``kind`` once ``seeds`` are added: those recorded earlier first (so a
    later call with other seeds never maps a new seed onto the folder of the first one), then the new."""
    recorded = scratch.train_seeds(kind) if (scratch.train_dir(kind) / SEEDS_FILE).exists() else []
    return recorded + [s for s in seeds if s not in recorded]


def train_further_seeds(run: Run, scratch: Run, kind: str, seeds: list[int], keep_trained: bool = False) -> None:
    """Train ``kind`` with ``seeds`` on the run's products into ``scratch``, reusing finished seeds: those
    trained with the same parameters and code, or, with ``keep_trained``, every finished seed folder
    whatever code trained it (its fingerprint is printed)."""
    all_seeds = scratch_seeds(scratch, kind, seeds)
    folders = {s: f for s, f in scratch.seed_dirs(kind, all_seeds).items() if s in seeds}
    if keep_trained:
        for seed, folder in list(folders.items()):
            if is_finished(folder):
                parameters = read_config(folder)["parameters"]
                print(f"  {kind} seed {seed}: kept as trained (code {parameters.get('code_fingerprint')})", flush=True)
                del folders[seed]
    results = training.train_seeds(run.products, kind, folders, **training_parameters(run, kind)) if folders else {}
    scratch.write_train_seeds(kind, all_seeds)
    for seed, result in results.items():
        state = "reused" if result.reused else f"trained in {result.seconds:.0f} s"
        print(f"  {kind} seed {seed}: {state}, kept epoch {result.best_epoch}", flush=True)


def seed_scores(run: Run, scratch: Run, kind: str) -> dict[int, dict[str, pd.DataFrame]]:
    """``{seed: {split: scores}}`` of one network: the run's own seeds, then the scratch seeds."""
    out = {}
    for source in (run, scratch):
        validation, test = source.seed_scores(kind, "validation"), source.seed_scores(kind, "test")
        out.update({seed: {"validation": validation[seed], "test": test[seed]} for seed in validation})
    return out


def seed_frame(images: pd.DataFrame, scores: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """The test galaxies with every network's ``score_<kind>`` and ``pred_<kind>`` for one seed index, at
    that seed's own validation threshold, in the shape :func:`galmerge.analysis.conclusions.judge_conclusions`
    reads (``attrs`` kinds and thresholds)."""
    frame, thresholds = images.copy(), {}
    for kind, splits in scores.items():
        val = splits["validation"]
        thresholds[kind] = float(gm.choose_threshold(val["label"], val["score"], where=f"{kind} validation").threshold)
        test = splits["test"].rename(columns={"score": f"score_{kind}", "label": f"label_{kind}"})
        frame = frame.merge(test, on="ID", how="inner", validate="one_to_one")
        if (frame[f"label_{kind}"] != frame["label"]).any():
            raise ValueError(f"{kind}: test labels disagree with the products")
        frame = frame.drop(columns=f"label_{kind}")
        frame[f"pred_{kind}"] = gm.predict(frame[f"score_{kind}"], thresholds[kind])
    frame = frame.reset_index(drop=True)
    frame.attrs.update(kinds=list(scores), thresholds=thresholds, split="test")
    return frame


def subset_rows(frame: pd.DataFrame, kind: str) -> list[dict]:
    """Accuracy, precision, recall, AUC (fractions) and n of one network on each of :data:`SUBSETS`."""
    rows = []
    for subset in SUBSETS:
        mask = (np.ones(len(frame), bool) if subset == "all"
                else (frame["label"].to_numpy() == 1) & (frame["stage"].astype(str).to_numpy() == subset))
        part = frame.loc[mask]
        m = gm.classification_metrics(part["label"], part[f"pred_{kind}"], part[f"score_{kind}"])
        rows.append({"subset": subset, **{k: m[k] for k in ("accuracy", "precision", "recall", "auc", "n")},
                     "threshold": frame.attrs["thresholds"][kind]})
    return rows


def measure(run: Run, scratch: Run, kinds: list[str], n_seeds: int, first: int | None,
            keep_trained: bool = False) -> tuple[pd.DataFrame, dict]:
    """Train the further seeds, score them; returns the benchmark's table and ``{seed index: frame}``."""
    own = {kind: run.train_seeds(kind) for kind in kinds}
    start = first if first is not None else max(max(s) for s in own.values()) + 1
    further = list(range(start, start + n_seeds))
    for kind in kinds:
        train_further_seeds(run, scratch, kind, further, keep_trained)
    images = ev.load_images(run)
    images = images[images["split"] == "test"].drop(columns="split")
    scores = {kind: seed_scores(run, scratch, kind) for kind in kinds}
    n_common = min(len(s) for s in scores.values())
    rows, frames = [], {}
    for index in range(n_common):  # seed index i: every network's i-th seed
        by_kind = {kind: list(scores[kind].values())[index] for kind in kinds}
        frames[index] = frame = seed_frame(images, by_kind)
        for kind in kinds:
            seed = list(scores[kind])[index]
            rows += [{"kind": kind, "seed": seed, "own_seed": seed in own[kind], **r} for r in subset_rows(frame, kind)]
    dataset = run.name.split("-", 1)[1] if "-" in run.name else run.name
    table = pd.DataFrame(rows).assign(profile=run.profile, run=run.name, dataset=dataset)
    return table, frames


def pooled_frame(frames: dict, seeds: dict[str, list[int]]) -> pd.DataFrame:
    """Every seed index's predictions in one frame, as :func:`galmerge.analysis.evaluation.load_run_scores`
    gives a run that trained several seeds (``pred_<kind>@<seed>`` columns, ``attrs["seeds"]``): what a
    run training all these seeds (the paper profile's ``seeds: 5``) would judge."""
    first = frames[0]
    pooled = first.copy()
    for index, frame in frames.items():
        if not frame["ID"].equals(first["ID"]):
            raise ValueError(f"seed index {index}: test galaxies differ from seed index 0's")
        for kind, kind_seeds in seeds.items():
            for what in ("pred", "score"):
                pooled[ev.seed_column(kind, kind_seeds[index], what)] = frame[f"{what}_{kind}"].to_numpy()
    pooled.attrs.update(first.attrs)
    pooled.attrs["seeds"] = {kind: list(kind_seeds[:len(frames)]) for kind, kind_seeds in seeds.items()}
    return pooled


def report(table: pd.DataFrame, frames: dict, n_resamples: int, eval_seed: int) -> None:
    """Print the seed SD per network and subset, and each seed index's verdicts."""
    spread = (table.groupby(["kind", "subset"], sort=False)["accuracy"]
              .agg(seeds="count", mean="mean", sd=lambda v: v.std(ddof=1)).reset_index())
    spread["n"] = table.groupby(["kind", "subset"], sort=False)["n"].first().to_numpy()
    print("\naccuracy over train seeds (fractions; on a stage's mergers it is the fraction correct):")
    print(spread.round(4).to_string(index=False))
    seeds = table.loc[table["subset"] == "all"].groupby("kind", sort=False)["seed"].apply(list)
    for title, seed_variance in (("test-set sampling only", None),
                                 ("with this table's seed-paired differences, as a one-seed run judges", table)):
        print(f"\nverdicts per seed index ({title}):")
        verdicts = {}
        for index, frame in frames.items():
            found, _ = gc.judge_conclusions(frame, n_resamples, eval_seed, seed_variance=seed_variance,
                                            run_name=str(table["run"].iloc[0]))
            verdicts[index] = {v.key: v.verdict for v in found}
            print(f"  seed index {index} (seeds {', '.join(f'{k} {s[index]}' for k, s in seeds.items())}): "
                  + ", ".join(f"{k} {v}" for k, v in verdicts[index].items()))
        same = len({tuple(v.items()) for v in verdicts.values()}) == 1
        print(f"same verdicts for every seed: {'yes' if same else 'no'}")
    found, claims = gc.judge_conclusions(pooled_frame(frames, seeds.to_dict()), n_resamples, eval_seed)
    print(f"\nverdicts of all {len(frames)} seeds together (merger sequences and seeds resampled, as a run "
          "training these seeds judges): " + ", ".join(f"{v.key} {v.verdict}" for v in found))
    for claim in claims.itertuples() if "difference" in claims.columns else ():  # none with one network
        print(f"  {claim.conclusion} {claim.claim}: {100 * claim.difference:+.1f} points "
              f"[{100 * claim.lower:+.1f}, {100 * claim.upper:+.1f}], detectable {100 * claim.detectable:.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run folder, e.g. runs/quick-mock_quick")
    parser.add_argument("--seeds", type=int, default=5, help="further train seeds per network, besides the run's own "
                        "(default 5; 4 gives the 5 seeds the issue asks)")
    parser.add_argument("--first-seed", type=int, help="first further seed (default: the run's largest + 1)")
    parser.add_argument("--kinds", nargs="+", help="networks (default: every one the run trained)")
    parser.add_argument("--scratch", type=Path, help="where the further seeds train (default: "
                        "/tmp/seed_variance/<run name>; never inside the run)")
    parser.add_argument("--results", type=Path, help="folder of the CSV (default: benchmarks/results)")
    parser.add_argument("--keep-trained", action="store_true",
                        help="score every finished seed folder in the scratch whatever code trained it, instead "
                             "of retraining those whose code fingerprint changed (after edits that cannot "
                             "change training, such as the analysis; the fingerprints are printed)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of each verdict")
    parser.add_argument("--eval-seed", type=int, default=7, help="seed of the verdicts' resampling (eval_seed)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    run = Run(args.run)
    scratch = Run(args.scratch or Path("/tmp/seed_variance") / run.name)
    if scratch.root.resolve().is_relative_to(run.root.resolve()):
        parser.error(f"--scratch {scratch.root} lies inside the run; the run must stay untouched")
    kinds = args.kinds or run.require_trained_kinds()
    t0 = time.perf_counter()
    print(f"run {run.name} (profile {run.profile}): {', '.join(kinds)}; {args.seeds} further seed(s) in {scratch.root}")
    table, frames = measure(run, scratch, kinds, args.seeds, args.first_seed, args.keep_trained)
    path = write_seed_variance(table, run.profile, args.results)
    # per claim, the seed x galaxy variance measured from the seeds' predictions (read by one-seed runs)
    seeds = table.loc[table["subset"] == "all"].groupby("kind", sort=False)["seed"].apply(list).to_dict()
    claims = gc.seed_claims_table(pooled_frame(frames, seeds), args.resamples, args.eval_seed)
    claims_path = path.with_name(path.stem + gc.SEED_CLAIMS_SUFFIX + path.suffix)
    claims.assign(profile=run.profile, run=run.name).to_csv(claims_path, index=False, float_format="%.9g")
    print(f"wrote {claims_path} (per claim: seed-paired SD and the seed x galaxy variance)")
    report(table, frames, args.resamples, args.eval_seed)
    print(f"\nwrote {path} ({len(table)} rows) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
