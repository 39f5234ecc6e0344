"""Batch-normalisation statistics re-estimated without dropout, against Keras' moving averages.

The paper's blocks put 20 % dropout before every batch normalisation but the first, so the moving
variances Keras keeps for inference carry dropout's extra variance (Li et al. 2019, "variance shift";
:mod:`galmerge.nets.batchnorm`). Two measurements on a finished run (the run is not touched):

``--post-hoc``
    Each asked network's kept epoch, as saved, scored on the validation split; then its statistics
    re-estimated (:func:`galmerge.nets.batchnorm.recalibrate`, 3,200 training images, dropout off)
    and scored again: validation AUC and accuracy at the precision = recall threshold, before and after.
training (default)
    Each asked network trained again on the run's products with the run's own training parameters and
    ``batch_norm_recalibration=True`` (after every epoch, so the kept epoch is chosen on the corrected
    network), into ``--scratch`` (finished trainings there are reused); the test split scored at each
    training's own validation precision = recall threshold (the pipeline's rule), beside the run's own
    training (recalibration off). Writes ``benchmarks/results/batch_norm_recalibration_<run>.csv``: per
    network, setting and seed the kept epoch, test accuracy, balanced accuracy, recall, specificity, AUC (per
    cent), and the SD of the validation accuracy at 0.5 over the last five epochs (the epoch-to-epoch noise).

Measured 2026-12-07 (the 2-core machine, commit of this file; ``--post-hoc``, validation split):

=================================  ==================  ==================
network (run)                      AUC before / after  acc P=R before / after
=================================  ==================  ==================
quick CNN1 + asymmetry (mock)      0.696 / 0.722       63.8 / 66.4 %
sdss CNN1 (gri, augmented)         0.934 / 0.956       89.7 / 90.7 %
sdss CNN3 (gri, augmented)         0.950 / 0.958       90.3 / 91.6 %
=================================  ==================  ==================

Usage::

    .venv/bin/python benchmarks/batch_norm_recalibration.py --run runs/sdss-sdss_darg2010 --kinds raw residual \
        --post-hoc
    .venv/bin/python benchmarks/batch_norm_recalibration.py --run runs/sdss-sdss_darg2010 --kinds raw residual \
        --seeds 1 --scratch /work/exp/bn_sdss
    .venv/bin/python benchmarks/batch_norm_recalibration.py --run runs/sdss-sdss_darg2010 --kinds raw --timing
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from seed_variance import training_parameters  # the run's recorded training parameters, as seed_variance.py reads them

from galmerge.analysis import metrics as gm
from galmerge.nets import batchnorm, training
from galmerge.runs import Run, read_history, read_network

RESULTS = Path(__file__).resolve().parent / "results"
def validation_row(model, products, rows, kind: str) -> dict:
    """Validation AUC and accuracy at the precision = recall threshold (per cent)."""
    y = products.images["label"].to_numpy()[rows].astype(int)
    scores = training.predict_scores(model, products, rows, kind)
    threshold = gm.choose_threshold(y, scores, where="validation").threshold
    return {"auc": 100 * gm.roc_auc(y, scores), "accuracy_pr": 100 * float(np.mean(gm.predict(scores, threshold) == y))}


def post_hoc(run: Run, kind: str, n_images: int = 3200, batch_size: int = 32) -> dict:
    """The kept network's validation metrics before and after :func:`batchnorm.recalibrate`."""
    from galmerge.sersic.products import Products

    products = Products(run.products)
    try:
        rows = training._split_rows(products)
        model = read_network(run.train_dir(kind))
        before = validation_row(model, products, rows["validation"], kind)
        pick = np.sort(np.random.default_rng(0).permutation(rows["train"])[:n_images])
        channels = products.input_channels(kind)
        batches = (training.normalise_images(products.read(channels, b))
                   for b in np.array_split(pick, max(1, len(pick) // batch_size)))
        used = batchnorm.recalibrate(model, batches)
        after = validation_row(model, products, rows["validation"], kind)
    finally:
        products.close()
    return {"run": run.name, "kind": kind, "images": used, **{f"{k}_before": v for k, v in before.items()},
            **{f"{k}_after": v for k, v in after.items()}}


def timing(run: Run, kind: str, repeats: int = 2) -> dict:
    """Seconds of one training epoch (no validation) and of one recalibration pass, in one process."""
    import time

    from galmerge.nets import cnn
    from galmerge.sersic.products import Products

    parameters = training_parameters(run, kind)
    products = Products(run.products)
    try:
        rows = training._split_rows(products)
        model = cnn.build_model(input_shape=products.read(products.input_channels(kind), 0).shape,
                                filters=parameters["filters"], kernel_sizes=parameters["kernel_sizes"],
                                dense_units=parameters["dense_units"], input_bin=parameters.get("input_bin", 1),
                                asymmetry_channel=parameters.get("asymmetry_channel", False))
        data = training.make_dataset(products, rows["train"], kind, parameters["batch_size"], shuffle=True,
                                     augment=parameters["augment"])
        batches = training._recalibration_batches(products, rows["train"], kind, parameters["batch_size"], 1)
        model.fit(data, epochs=1, verbose=0)  # warm-up: tracing
        batchnorm.recalibrate(model, batches())
        epoch, recal = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            epoch.append(time.perf_counter() - start)
            start = time.perf_counter()
            batchnorm.recalibrate(model, batches())
            recal.append(time.perf_counter() - start)
    finally:
        products.close()
    return {"run": run.name, "kind": kind, "train_images": len(rows["train"]), "epoch_s": float(np.median(epoch)),
            "recalibration_s": float(np.median(recal)), "ratio": float(np.median(recal) / np.median(epoch))}


def test_row(folder: Path) -> dict:
    """Test metrics (per cent) at the training's own validation precision = recall threshold."""
    validation = pd.read_csv(folder / "scores_validation.csv")
    test = pd.read_csv(folder / "scores_test.csv")
    threshold = gm.choose_threshold(validation["label"], validation["score"], where=str(folder)).threshold
    y, pred = test["label"].to_numpy(), gm.predict(test["score"], threshold)
    m = gm.classification_metrics(y, pred, test["score"])
    history = read_history(folder)
    return {"threshold": threshold, "accuracy": 100 * m["accuracy"], "recall": 100 * m["recall"],
            "specificity": 100 * float(np.mean(pred[y == 0] == 0)),
            "balanced_accuracy": 100 * gm.balanced_accuracy(y, pred), "auc": 100 * m["auc"], "n_test": len(y),
            "best_epoch": int(history.loc[history["best"], "epoch"].iloc[0]),
            "val_accuracy_last5_sd": 100 * float(history["val_accuracy"].tail(5).std())}


def show(row: dict) -> None:
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a finished run folder (its products and training parameters)")
    parser.add_argument("--kinds", nargs="+", default=["raw"])
    parser.add_argument("--post-hoc", action="store_true", help="recalibrate the run's kept networks only")
    parser.add_argument("--timing", action="store_true",
                        help="time one training epoch and one recalibration pass of each network (no files written)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--scratch", help="folder for the trainings (reused when finished)")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)

    run = Run(args.run)
    if args.post_hoc or args.timing:
        for kind in args.kinds:
            show(post_hoc(run, kind) if args.post_hoc else timing(run, kind))
        return
    if not args.scratch:
        parser.error("--scratch is needed to train")
    rows = []
    for kind in args.kinds:
        recorded = run.training_config(kind)["parameters"]
        rows.append({"run": run.name, "kind": kind, "recalibration": recorded.get("batch_norm_recalibration", False),
                     "seed": recorded["seed"], "seconds": round(run.training_config(kind)["results"]["seconds"]),
                     **test_row(run.train_dir(kind))})
        show(rows[-1])
        for seed in args.seeds:
            folder = Path(args.scratch) / f"{kind}_recalibrated_seed{seed}"
            parameters = {**training_parameters(run, kind), "batch_norm_recalibration": True}
            result = training.train_network(run.products, kind, folder, seed=seed, **parameters)
            rows.append({"run": run.name, "kind": kind, "recalibration": True, "seed": seed,
                         "seconds": round(result.seconds), **test_row(folder)})
            show(rows[-1])
    out = Path(args.results) / f"batch_norm_recalibration_{run.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    if out.exists():  # keep earlier rows of other networks and seeds
        earlier = pd.read_csv(out)
        keys = ["kind", "recalibration", "seed"]
        earlier = earlier[~earlier.set_index(keys).index.isin(table.set_index(keys).index)]
        table = pd.concat([earlier, table], ignore_index=True)
    table.to_csv(out, index=False, float_format="%.4g")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
