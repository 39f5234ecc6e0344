"""Input pipeline, training loop, saved outputs and prediction (galmerge.nets.training).

Training runs on tiny synthetic products: non-mergers are one blob, mergers have a second blob
beside it, so a tiny network learns the difference in a few epochs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from galmerge import runs as run_io
from galmerge.analysis import metrics as gm
from galmerge.nets import training
from galmerge.sersic.products import Products, write_products

#: A network small enough to train in seconds (the kernels are not the paper's, to save time).
TINY = dict(filters=4, kernel_sizes=(5, 5, 5), dense_units=(8, 4), batch_size=8,
            learning_rate=1e-2, batch_norm_momentum=0.5, verbose=0)


def _blob(yy, xx, x0, y0, sigma, amplitude):
    return amplitude * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma ** 2))


def synthetic_products(path, n=80, seed=0):
    """Products with labels alternating 0/1 and 60:20:20 splits; raw = model + noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128].astype(np.float32)
    labels = np.arange(n) % 2
    model = np.empty((n, 128, 128), np.float32)
    for i, merger in enumerate(labels):
        model[i] = _blob(yy, xx, 64 + rng.normal(0, 2), 64 + rng.normal(0, 2), rng.uniform(4, 8), rng.uniform(5, 20))
        if merger:
            model[i] += _blob(yy, xx, 96 + rng.normal(0, 2), 64 + rng.normal(0, 2), 6, rng.uniform(10, 20))
    residual = rng.normal(0, 1, (n, 128, 128)).astype(np.float32)
    n_train, n_val = int(0.6 * n), int(0.2 * n)
    split = ["train"] * n_train + ["validation"] * n_val + ["test"] * (n - n_train - n_val)
    images = pd.DataFrame({"ID": 5000 + 3 * np.arange(n), "split": split, "label": labels})
    sources = pd.DataFrame({"ID": images["ID"], "source": 0})
    return write_products(path, images, sources, {"raw": model + residual, "model": model, "residual": residual})


@pytest.fixture(scope="module")
def products_dir(tmp_path_factory):
    return synthetic_products(tmp_path_factory.mktemp("products") / "products")


@pytest.fixture(scope="module")
def trained(products_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "raw"
    result = training.train_network(products_dir, "raw", out, epochs=5, seed=3, **TINY)
    return result, out


# --- normalisation ---------------------------------------------------------------------------

def test_normalise_maps_every_image_and_channel_to_0_1():
    rng = np.random.default_rng(1)
    images = rng.normal(5, 30, (6, 128, 128, 3)).astype(np.float32)
    images[2, ..., 1] = 7.0  # a constant channel
    out = training.normalise_images(images)
    assert out.shape == images.shape and out.dtype == np.float32
    lo, hi = out.min(axis=(1, 2)), out.max(axis=(1, 2))
    constant = np.zeros_like(lo, dtype=bool)
    constant[2, 1] = True
    assert np.all(lo == 0) and np.all(hi[~constant] == 1) and hi[constant] == 0
    # linear: the order and the relative spacing of pixels are kept
    k = (0, 10, 20, 0)
    expected = (images[k] - images[0, ..., 0].min()) / np.ptp(images[0, ..., 0])
    assert out[k] == pytest.approx(expected, rel=1e-5)


def test_normalise_one_image_and_non_finite_pixels():
    image = np.arange(16.0, dtype=np.float32).reshape(4, 4, 1)
    image[0, 0, 0] = np.nan
    image[3, 3, 0] = np.inf
    out = training.normalise_images(image)
    assert np.isfinite(out).all()
    assert out[0, 0, 0] == 0 and out[3, 3, 0] == 0  # non-finite pixels become 0
    assert out[0, 1, 0] == 0 and out[3, 2, 0] == 1  # min and max of the finite pixels
    with pytest.raises(ValueError, match="shape"):
        training.normalise_images(np.zeros((4, 4)))


def test_augmentation_is_a_symmetry_of_each_image():
    rng = np.random.default_rng(0)
    images = rng.random((16, 8, 8, 2)).astype(np.float32)
    out = training.augment_batch(images, np.random.default_rng(5))
    for original, augmented in zip(images, out):
        variants = [np.rot90(original, k, axes=(0, 1)) for k in range(4)]
        variants += [v[:, ::-1] for v in variants]
        assert any(np.array_equal(augmented, v) for v in variants)
    assert not np.array_equal(out, images)


# --- input pipeline --------------------------------------------------------------------------

def test_products_read_gives_rows_in_the_order_asked(products_dir):
    with Products(products_dir) as products:
        rows = np.array([7, 3, 3, 4, 5, 60, 0])
        expected = np.stack([products.cube(c)[:][rows] for c in ("raw", "residual")], axis=-1)
        assert np.array_equal(products.read(["raw", "residual"], rows), expected)
        assert products.read("raw", []).shape == (0, 128, 128, 1)


@pytest.mark.parametrize("kind, channels", [("raw", 1), ("model", 1), ("residual", 1), ("stack", 3)])
def test_pipeline_shapes_labels_and_channels(products_dir, kind, channels):
    with Products(products_dir) as products:
        rows = products.rows("validation")
        batches = list(training.make_dataset(products, rows, kind, batch_size=6).as_numpy_iterator())
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        assert [len(b[0]) for b in batches] == [6, 6, 4]
        assert x.shape == (len(rows), 128, 128, channels) and x.dtype == np.float32
        assert np.array_equal(y, products.images["label"].to_numpy()[rows])
        # stack's channels are raw, model, residual in that order, each normalised alone
        names = {"stack": ["raw", "model", "residual"]}.get(kind, [kind])
        # (close, not equal: TensorFlow's threads flush float32 subnormals to zero)
        np.testing.assert_allclose(x, training.normalise_images(products.read(names, rows)), rtol=0, atol=1e-30)


def test_shuffle_is_seeded_new_each_epoch_and_complete(products_dir):
    with Products(products_dir) as products:
        rows = products.rows("train")
        # every normalised image is unique: recognise the row behind each served image
        row_of = {img.tobytes(): r for r, img in zip(rows, training.normalise_images(products.read("raw", rows)))}

        def two_epochs(seed):
            data = training.make_dataset(products, rows, "raw", batch_size=16, shuffle=True, seed=seed)
            return [[row_of[img.tobytes()] for x, _ in data.as_numpy_iterator() for img in x] for _ in range(2)]

        first, second = two_epochs(seed=4)
        assert sorted(first) == sorted(second) == rows.tolist()  # every image once per epoch
        assert first != second  # reshuffled between epochs
        assert two_epochs(seed=4) == [first, second]  # same seed, same orders
        assert two_epochs(seed=5)[0] != first


def test_empty_split_is_an_error(tmp_path):
    images = pd.DataFrame({"ID": [1, 2, 3], "split": ["train", "train", "test"], "label": [0, 1, 0]})
    cubes = {k: np.random.default_rng(0).random((3, 128, 128)).astype(np.float32)
             for k in ("raw", "model", "residual")}
    path = write_products(tmp_path / "p", images, pd.DataFrame({"ID": [1]}), cubes)
    with pytest.raises(training.TrainingError, match="validation"):
        training.train_network(path, "raw", tmp_path / "out", epochs=1, **TINY)


# --- training and its outputs ----------------------------------------------------------------

@pytest.mark.slow
def test_training_writes_every_output(trained, products_dir):
    result, out = trained
    assert run_io.is_finished(out)
    for split in ("validation", "test"):
        scores = pd.read_csv(out / f"scores_{split}.csv")
        assert list(scores.columns) == ["ID", "label", "score"]
        with Products(products_dir) as products:
            rows = products.rows(split)
            assert scores["ID"].tolist() == products.images["ID"].to_numpy()[rows].tolist()
            assert scores["label"].tolist() == products.images["label"].to_numpy()[rows].tolist()
        assert scores["score"].between(0, 1).all()
    config = json.loads((out / "config.json").read_text())
    assert config["parameters"]["kind"] == "raw" and config["parameters"]["epochs"] == 5
    assert config["results"]["n_params"] == result.n_params > 0
    assert {"tensorflow", "keras", "numpy"} <= set(config["versions"])
    assert set(result.summary()) == {"val_accuracy_best", "val_threshold_best", "test_accuracy_at_0.5",
                                     "best_epoch", "n_params", "seconds"}
    assert config["parameters"]["epoch_selection"] == training.EPOCH_SELECTION


@pytest.mark.slow
def test_kept_epoch_is_the_best_validation_accuracy_at_the_precision_recall_threshold(trained):
    result, out = trained
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 5 and history["best"].sum() == 1
    assert {"val_loss", "val_accuracy", "val_threshold_pr", "val_accuracy_pr"} <= set(history.columns)
    best = history.loc[history["best"]].iloc[0]
    assert best["val_accuracy_pr"] == history["val_accuracy_pr"].max()
    assert best["epoch"] == history.loc[history["val_accuracy_pr"].idxmax(), "epoch"] == result.best_epoch
    # the saved network is that epoch's: rescoring it gives that epoch's threshold and accuracy
    validation = run_io.read_scores(out / run_io.scores_file("validation"))
    threshold = gm.precision_recall_threshold(validation["label"], validation["score"])
    rescored = (gm.predict(validation["score"], threshold) == validation["label"]).mean()
    assert rescored == pytest.approx(best["val_accuracy_pr"], abs=1e-6) == result.val_accuracy_best
    assert threshold == pytest.approx(best["val_threshold_pr"], rel=1e-5) == pytest.approx(result.val_threshold_best)


# --- progress line ---------------------------------------------------------------------------
def _drive_progress(line, epochs, steps, clock, batch_s, validation_s):
    """Run a progress callback through a fake training: each batch takes ``batch_s`` seconds of
    ``clock`` (a one-element list), each epoch's validation pass ``validation_s``."""
    line.on_train_begin()
    remaining = []
    for epoch in range(epochs):
        for batch in range(steps):
            clock[0] += batch_s
            line.on_train_batch_end(batch)
        clock[0] += validation_s
        line.on_epoch_end(epoch, {"loss": 0.5 - 0.1 * epoch, "val_accuracy_pr": 0.6 + 0.05 * epoch})
        remaining.append(float(line.bar.format_meter(**{**line.bar.format_dict, "bar_format": "{remaining_s}"})))
    line.on_train_end()
    return remaining


def test_progress_line_estimates_the_time_left_with_validation_and_draws_a_few_lines(monkeypatch, capsys):
    clock = [1000.0]
    monkeypatch.setattr("tqdm.std.time", lambda: clock[0])
    line = training._ProgressLine.make(4, 10, "training CNN1 (raw)", interval=15.0)
    # 10 batches of 1 s and a 5 s validation pass per epoch: 15 s an epoch, so after epoch e of 4
    # the time left is 15 (4 - e) s, which a rate of batches alone (10 s an epoch) would miss
    remaining = _drive_progress(line, 4, 10, clock, batch_s=1.0, validation_s=5.0)
    assert remaining == pytest.approx([45.0, 30.0, 15.0, 0.0])
    err = capsys.readouterr().err
    redraws = [part for part in err.replace("\n", "\r").split("\r") if part.startswith("training CNN1")]
    assert 3 <= len(redraws) <= 7, redraws  # 60 s at most every 15 s, not one per batch (40)
    assert redraws[-1].startswith("training CNN1 (raw): 4.0/4 epochs") and "[01:00<00:00]" in redraws[-1]
    assert "loss 0.200, val acc 0.750" in redraws[-1]
    done = [float(part.split(": ")[1].split("/")[0]) for part in redraws]
    assert any(0 < d < 4 for d in done) and done == sorted(done)  # the line moves within the training


def test_validation_scores_choose_the_threshold_on_the_epochs_own_scores():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    scores = np.array([0.05, 0.1, 0.2, 0.3, 0.32, 0.35, 0.4, 0.45, 0.48, 0.6])
    record = training.validation_scores(labels, scores)
    # at 0.5 only one galaxy is called a merger (a non-merger): 5 of 10 right
    assert record["val_accuracy"] == pytest.approx(0.5)
    threshold = gm.precision_recall_threshold(labels, scores)
    assert record["val_threshold_pr"] == threshold
    assert record["val_accuracy_pr"] == pytest.approx(np.mean((scores >= threshold) == labels))
    assert record["val_accuracy_pr"] > record["val_accuracy"]
    clipped = np.clip(scores, 1e-7, 1 - 1e-7)
    assert record["val_loss"] == pytest.approx(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))
    no_mergers = training.validation_scores(np.zeros(4, int), np.array([0.1, 0.6, 0.7, 0.2]))
    assert no_mergers["val_threshold_pr"] == 0.5 and no_mergers["val_accuracy_pr"] == pytest.approx(0.5)


def test_history_table_keeps_the_first_best_epoch_at_the_precision_recall_threshold():
    history = {"loss": [0.7, 0.6, 0.5, 0.4], "accuracy": [0.5, 0.6, 0.7, 0.8]}
    validation = [{"val_loss": 0.7, "val_accuracy": 0.50, "val_threshold_pr": 0.5, "val_accuracy_pr": 0.55},
                  {"val_loss": 0.6, "val_accuracy": 0.70, "val_threshold_pr": 0.3, "val_accuracy_pr": 0.60},
                  {"val_loss": 0.6, "val_accuracy": 0.60, "val_threshold_pr": 0.4, "val_accuracy_pr": 0.66},
                  {"val_loss": 0.7, "val_accuracy": 0.65, "val_threshold_pr": 0.6, "val_accuracy_pr": 0.66}]
    table = training.history_table(history, [1.0] * 4, validation)
    assert table.loc[table["best"], "epoch"].tolist() == [3]  # not 2 (best at 0.5), not 4 (a tie)
    with pytest.raises(ValueError, match="validation records"):
        training.history_table(history, [1.0] * 4, validation[:3])


@pytest.mark.slow
def test_training_learns_the_synthetic_difference(trained):
    result, _ = trained
    assert result.val_accuracy_best >= 0.75, result.history


@pytest.mark.slow
def test_reloaded_model_reproduces_the_saved_scores(trained, products_dir):
    _, out = trained
    model = run_io.read_network(out)
    with Products(products_dir) as products:
        for split in ("validation", "test"):
            saved = run_io.read_scores(out / run_io.scores_file(split))
            scores = training.predict_scores(model, products, products.rows(split), "raw")
            np.testing.assert_allclose(scores, saved["score"], rtol=1e-6, atol=1e-7)
        # in-memory cutouts go through the same normalisation
        rows = products.rows("test")
        np.testing.assert_allclose(training.predict_images(model, products.read("raw", rows)),
                                   run_io.read_scores(out / run_io.scores_file("test"))["score"], rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match="channel"):
            training.predict_scores(model, products, rows, "stack")


@pytest.mark.slow
def test_finished_run_with_same_parameters_is_reused(trained, products_dir):
    result, out = trained
    again = training.train_network(products_dir, "raw", out, epochs=5, seed=3, **TINY)
    assert again.reused and again.best_epoch == result.best_epoch
    assert again.val_accuracy_best == result.val_accuracy_best
    parameters = run_io.read_config(out)["parameters"]
    assert training._reusable(out, {**parameters, "epochs": 6}) is None
    assert "epochs" in training._changed(out, {**parameters, "epochs": 6})
    # the training code's fingerprint is part of the key: other code retrains and says so
    assert parameters["code_fingerprint"] == run_io.source_fingerprint(training.TRAINING_CODE)
    assert training._reusable(out, {**parameters, "code_fingerprint": "0123456789ab"}) is None
    assert "code_fingerprint" in training._changed(out, {**parameters, "code_fingerprint": "0123456789ab"})


@pytest.mark.slow
def test_same_seed_gives_the_same_scores_on_stacked_input(products_dir, tmp_path):
    runs = [training.train_network(products_dir, "stack", tmp_path / f"run{i}", epochs=1, seed=11, **TINY)
            for i in range(2)]
    scores = [run_io.read_scores(r.out_dir / run_io.scores_file("test"))["score"].to_numpy() for r in runs]
    assert runs[0].config["parameters"]["channels"] == ["raw", "model", "residual"]
    np.testing.assert_array_equal(scores[0], scores[1])


# --- train seeds (issue 23) ------------------------------------------------------------------

@pytest.mark.slow
def test_train_seeds_trains_each_seed_in_its_folder_and_reuses_finished_ones(products_dir, tmp_path):
    run = run_io.Run(tmp_path / "run")
    first = training.train_seeds(products_dir, "raw", run.seed_dirs("raw", [3, 4]), epochs=1, **TINY)
    assert [r.out_dir for r in first.values()] == [run.train_dir("raw"), run.train_dir("raw") / "seed_4"]
    assert [r.config["parameters"]["seed"] for r in first.values()] == [3, 4]
    scores = [run_io.read_scores(r.out_dir / "scores_test.csv")["score"].to_numpy() for r in first.values()]
    assert not np.array_equal(scores[0], scores[1])  # other seeds, other networks
    more = training.train_seeds(products_dir, "raw", run.seed_dirs("raw", [3, 4, 5]), epochs=1, **TINY)
    assert [r.reused for r in more.values()] == [True, True, False]
    summary = training.seed_summary(more)
    assert list(summary.index) == ["3", "4", "5", "mean", "SD"]
    assert summary.at["mean", "val_accuracy_best"] == pytest.approx(
        np.mean([r.val_accuracy_best for r in more.values()]))


@pytest.mark.slow
def test_the_training_notebook_with_two_seeds_writes_two_seed_folders(products_dir, tmp_path):
    """notebooks/02_train.py at smoke sizes with seeds = 2, as run_all.py runs it."""
    import shutil
    from pathlib import Path

    import jupytext
    import papermill as pm

    repo = Path(__file__).resolve().parents[1]
    run = run_io.Run(tmp_path / "run")
    shutil.copytree(products_dir, run.products)
    notebook = tmp_path / "02_train.ipynb"
    jupytext.write(jupytext.read(repo / "notebooks" / "02_train.py"), notebook)
    pm.execute_notebook(str(notebook), str(tmp_path / "executed.ipynb"), cwd=str(tmp_path), kernel_name="python3",
                        language="python",
                        progress_bar=False, parameters={
                            "run_dir": str(run.root), "figures_dir": str(tmp_path / "figures"), "input_kind": "raw",
                            "cnn_filters": 4, "cnn_kernel_sizes": [5, 5, 5], "cnn_dense_units": [8, 4], "epochs": 1,
                            "batch_size": 8, "augment": False, "train_seed": 1, "seeds": 2})
    assert run.train_seeds("raw") == [1, 2]
    folders = run.seed_dirs("raw", [1, 2])
    assert folders[2] == run.train_dir("raw") / "seed_2"
    for seed, folder in folders.items():
        assert run_io.is_finished(folder)
        assert run_io.read_config(folder)["parameters"]["seed"] == seed
    assert set(run.seed_scores("raw", "test")) == {1, 2}
    assert set(run.summary["train_raw"]["seeds"]) == {"1", "2"}


# --- early stopping and the binned input ------------------------------------------------------

def test_validation_monitor_stops_on_a_flat_loss_not_on_a_lucky_accuracy(tmp_path):
    """The monitor keeps the first best-accuracy epoch, but stops only after ``patience`` epochs without a
    lower validation loss: a spike of accuracy followed by a falling loss does not stop it."""
    monitor = training._ValidationMonitor.make(None, np.array([0, 1, 0, 1]), tmp_path / "m.keras", patience=2)

    class FakeModel:
        stop_training = False
        saved = 0

        def __init__(self, scores):
            self.scores = iter(scores)

        def predict(self, data, verbose=0):
            return np.asarray(next(self.scores))

        def save(self, path):
            self.saved += 1

    # epoch 1: perfect ranking at low confidence (best accuracy, high loss); epochs 2-3: worse accuracy
    # but a lower loss each time; epochs 4-5: loss up twice -> stop after epoch 5
    scores = [[0.49, 0.51, 0.48, 0.52], [0.2, 0.8, 0.45, 0.3], [0.1, 0.9, 0.4, 0.35],
              [0.1, 0.9, 0.6, 0.2], [0.1, 0.9, 0.7, 0.1]]
    model = FakeModel(scores)
    monitor.set_model(model)
    for epoch in range(5):
        assert not model.stop_training, f"stopped before epoch {epoch + 1}"
        monitor.on_epoch_end(epoch, {})
    assert model.stop_training and model.saved == 1 and len(monitor.records) == 5
    losses = [r["val_loss"] for r in monitor.records]
    assert losses[1] < losses[0] and losses[2] < losses[1] and min(losses[3:]) > losses[2]


@pytest.mark.slow
def test_binned_network_with_patience_trains_stops_and_records_why(products_dir, tmp_path):
    tiny = {**TINY, "kernel_sizes": (3, 3, 3)}
    result = training.train_network(products_dir, "raw", tmp_path / "raw", epochs=30, seed=3, input_bin=2,
                                    patience=2, **tiny)
    parameters = result.config["parameters"]
    assert parameters["input_bin"] == 2 and parameters["patience"] == 2
    trained = result.config["results"]["epochs_trained"]
    assert trained == len(result.history) < 30
    # it stopped exactly `patience` epochs after the lowest validation loss
    assert trained - (int(np.argmin(result.history["val_loss"].to_numpy())) + 1) == 2
    model = run_io.read_network(tmp_path / "raw")
    assert model.get_layer("input_bin").pool_size == (2, 2)
