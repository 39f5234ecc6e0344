"""Tests of galmerge.nets.occlusion: heatmaps, fills, streaming, coverage, selection, feature maps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import galmerge  # noqa: F401  (quiet TensorFlow)
from galmerge.analysis import evaluation as ev
from galmerge.analysis.metrics import FALLBACK_THRESHOLD
from galmerge.nets import occlusion as occ
from galmerge.report import figures  # noqa: E402
from galmerge.runs import Run

keras = pytest.importorskip("keras")

SIZE = 32
#: Region the toy network looks at: rows 20..27, columns 4..11.
REGION = (slice(20, 28), slice(4, 12))


def region_model(size: int = SIZE, channels: int = 1, region=REGION, gain: float = 10.0):
    """score = sigmoid(gain * (mean of the image over ``region`` and all channels - 0.5))."""
    rows, cols = region

    def score(x):
        mean = keras.ops.mean(x[:, rows, cols, :], axis=(1, 2, 3))
        return keras.ops.sigmoid(gain * (mean - 0.5))[:, None]

    inputs = keras.Input((size, size, channels))
    return keras.Model(inputs, keras.layers.Lambda(score)(inputs))


def bright_region_image(size: int = SIZE, channels: int = 1) -> np.ndarray:
    image = np.full((size, size, channels), 0.3, dtype=np.float32)
    image[REGION] = 0.6  # unoccluded score sigmoid(1) = 0.73, far from saturation
    return image


def brute_force_map(model, image, box, stride, fill_value):
    """Reference: one prediction per occluded copy, averaged per pixel by explicit loops."""
    h, w = image.shape[:2]
    sums, count = np.zeros((h, w)), np.zeros((h, w))
    for y in range(0, h - box + 1, stride):
        for x in range(0, w - box + 1, stride):
            copy = image.copy()
            copy[y:y + box, x:x + box] = fill_value
            sums[y:y + box, x:x + box] += float(np.ravel(model.predict_on_batch(copy[None]))[0])
            count[y:y + box, x:x + box] += 1
    unoccluded = float(np.ravel(model.predict_on_batch(image[None]))[0])
    return np.where(count > 0, sums / np.maximum(count, 1), unoccluded)


# --------------------------------------------------------------------------- heatmaps
def test_heatmap_lowest_on_the_region_and_unoccluded_far_from_it():
    model, image, box = region_model(), bright_region_image(), 4
    heat = occlusion_map_quiet(model, image, box=box, stride=1, fill=0.0)
    unoccluded = occ.predict_batch(model, image[None])[0]
    assert heat.shape == (SIZE, SIZE)
    inside = heat[REGION]
    lowest = np.unravel_index(np.argmin(heat), heat.shape)
    assert REGION[0].start <= lowest[0] < REGION[0].stop and REGION[1].start <= lowest[1] < REGION[1].stop
    assert inside.max() < unoccluded - 0.03
    # a pixel whose every covering box misses the region keeps the unoccluded score exactly
    far = np.ones((SIZE, SIZE), dtype=bool)
    far[REGION[0].start - box + 1:REGION[0].stop + box - 1, REGION[1].start - box + 1:REGION[1].stop + box - 1] = False
    assert far.sum() > 100
    np.testing.assert_allclose(heat[far], unoccluded, rtol=0, atol=1e-6)


def test_heatmap_equals_brute_force_reference_with_overlapping_boxes():
    model, image = region_model(), bright_region_image()
    heat = occlusion_map_quiet(model, image, box=5, stride=2, fill=0.1, batch_size=13)
    np.testing.assert_allclose(heat, brute_force_map(model, image, 5, 2, 0.1), atol=1e-6)


def test_streaming_batches_give_the_same_map_as_one_batch():
    model = region_model()
    rng = np.random.default_rng(0)
    image = (0.5 + 0.1 * rng.standard_normal((SIZE, SIZE, 1))).astype(np.float32)
    small = occlusion_map_quiet(model, image, box=4, stride=1,
                                fill=occ.background_noise_fill(image, seed=5), batch_size=7)
    whole = occlusion_map_quiet(model, image, box=4, stride=1,
                                fill=occ.background_noise_fill(image, seed=5), batch_size=10_000)
    np.testing.assert_allclose(small, whole, atol=1e-6)
    assert np.ptp(small) > 0  # the noise patches do change the score


def test_stride_that_does_not_tile_leaves_uncovered_pixels_at_the_unoccluded_score():
    box, stride = 4, 6  # corners 0, 6, 12 along 16 px: pixels 4-5, 10-11 never covered
    count = occ.coverage_count((16, 16), box, stride)
    covered_1d = np.zeros(16, dtype=bool)
    for start in (0, 6, 12):
        covered_1d[start:start + box] = True
    np.testing.assert_array_equal(count > 0, np.outer(covered_1d, covered_1d))
    region = (slice(0, 4), slice(0, 4))
    model = region_model(size=16, region=region)
    image = np.full((16, 16, 1), 0.3, dtype=np.float32)
    image[region] = 1.0
    heat = occlusion_map_quiet(model, image, box=box, stride=stride, fill=0.0)
    unoccluded = occ.predict_batch(model, image[None])[0]
    np.testing.assert_allclose(heat[count == 0], unoccluded, atol=1e-7)
    assert heat[0, 0] < unoccluded - 0.1
    np.testing.assert_allclose(heat, brute_force_map(model, image, box, stride, 0.0), atol=1e-6)


def test_coverage_count_matches_explicit_loop():
    count = occ.coverage_count((11, 9), 3, 2)
    reference = np.zeros((11, 9), dtype=int)
    for y in range(0, 11 - 3 + 1, 2):
        for x in range(0, 9 - 3 + 1, 2):
            reference[y:y + 3, x:x + 3] += 1
    np.testing.assert_array_equal(count, reference)


def test_multichannel_image_is_occluded_in_every_channel():
    image = np.random.default_rng(1).random((12, 12, 3)).astype(np.float32)
    corners, batch = next(occ.occluded_batches(image, box=3, stride=3, fill=-1.0, batch_size=100))
    assert batch.shape == (16, 12, 12, 3)
    for (y, x), copy in zip(corners, batch):
        assert (copy[y:y + 3, x:x + 3, :] == -1.0).all()
        outside = np.ones((12, 12), dtype=bool)
        outside[y:y + 3, x:x + 3] = False
        np.testing.assert_array_equal(copy[outside], image[outside])
    heat = occlusion_map_quiet(region_model(size=12, channels=3, region=(slice(0, 3), slice(0, 3))),
                               image, box=3, stride=3, fill=0.0)
    assert heat.shape == (12, 12)


@pytest.mark.parametrize("bad", [dict(box=0), dict(stride=0), dict(box=40), dict(box=2.5)])
def test_bad_box_or_stride_is_rejected(bad):
    with pytest.raises(ValueError):
        occlusion_map_quiet(region_model(), bright_region_image(), **{"box": 4, "stride": 1, **bad})


def test_nonfinite_image_is_rejected():
    image = bright_region_image()
    image[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        occlusion_map_quiet(region_model(), image, box=4, stride=4)


# --------------------------------------------------------------------------- fills
def sky_with_galaxy(level=0.2, spread=0.05, size=96, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    galaxy = 3.0 * np.exp(-np.hypot(yy - size / 2, xx - size / 2) / 5.0)
    return (level + spread * rng.standard_normal((size, size)) + galaxy).astype(np.float32)


def test_noise_fill_has_the_background_mean_and_spread():
    image = sky_with_galaxy(level=0.2, spread=0.05)
    fill = occ.background_noise_fill(image, seed=3)
    patch = fill((200, 200))
    assert patch.shape == (200, 200) and patch.dtype == np.float32
    assert abs(patch.mean() - 0.2) < 0.1 * 0.05  # within a tenth of the noise despite the bright wings
    assert abs(patch.std() - 0.05) / 0.05 < 0.05
    # the galaxy itself (bright, > 1) does not leak into the fill
    assert patch.max() < 0.2 + 8 * 0.05


def test_noise_fill_is_seeded_and_clipped_to_the_image_range():
    image = sky_with_galaxy()
    a, b = occ.background_noise_fill(image, seed=9), occ.background_noise_fill(image, seed=9)
    np.testing.assert_array_equal(a((8, 8, 1)), b((8, 8, 1)))
    narrow = np.clip(image, 0.19, 0.21)  # range narrower than the noise
    patch = occ.background_noise_fill(narrow, seed=1)((50, 50))
    assert patch.min() >= 0.19 - 1e-7 and patch.max() <= 0.21 + 1e-7


def test_fill_for_kind_zero_for_model_and_channelwise_for_stack():
    raw = sky_with_galaxy(level=0.2, spread=0.05)
    assert occ.fill_for_kind("model", raw[..., None], seed=1) == 0.0
    stack = np.stack([raw, np.clip(raw - 0.2, 0, None), raw - 0.2], axis=-1)
    patch = occ.fill_for_kind("stack", stack, seed=1)((100, 100, 3))
    assert (patch[..., 1] == 0).all()
    assert abs(patch[..., 0].mean() - 0.2) < 0.005 and abs(patch[..., 2].mean()) < 0.005
    assert patch[..., 0].std() > 0.04 and patch[..., 2].std() > 0.04
    with pytest.raises(ValueError):
        occ.fill_for_kind("colour", raw, seed=1)


# --------------------------------------------------------------------------- selection
def fake_scores(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ID": np.arange(1000, 1000 + n), "label": rng.integers(0, 2, n),
                         **{f"score_{k}": rng.random(n) for k in occ.CATEGORY_KINDS}})


def test_selection_picks_galaxies_that_match_their_category():
    scores, thresholds = fake_scores(), {"raw": 0.4, "model": 0.5, "residual": 0.6}
    table = occ.select_examples(scores, thresholds, seed=2)
    assert len(table) == 10 and list(table["letter"]) == list("abcde") * 2
    by_id = scores.set_index("ID")
    for _, row in table.iterrows():
        assert row.status == "ok"
        truth = by_id.loc[row.ID]
        assert truth.label == row.label
        correct = {k: (truth[f"score_{k}"] >= thresholds[k]) == bool(truth.label) for k in occ.CATEGORY_KINDS}
        expected = {"a": set(occ.CATEGORY_KINDS), "b": set(), "c": {"raw"}, "d": {"model"}, "e": {"residual"}}
        assert {k for k, ok in correct.items() if ok} == expected[row.letter]
    again = occ.select_examples(scores, thresholds, seed=2)
    pd.testing.assert_frame_equal(table, again)
    assert not table["ID"].equals(occ.select_examples(scores, thresholds, seed=3)["ID"])


def test_empty_and_unavailable_categories_are_reported_not_skipped():
    scores = fake_scores()
    # every raw score high: no merger is misclassified by CNN1 -> "all wrong" and "only CNN2/3" empty
    scores["score_raw"] = 0.99
    table = occ.select_examples(scores, {"raw": 0.5, "model": 0.5, "residual": 0.5}, seed=0)
    mergers = table[table.label == 1].set_index("letter")
    assert list(mergers.loc[["b", "d", "e"], "status"]) == ["empty"] * 3
    assert mergers.loc[["b", "d", "e"], "ID"].isna().all()
    assert (mergers.loc[["b", "d", "e"], "n_candidates"] == 0).all()
    # without CNN2 its category cannot exist; the others are judged on CNN1 and CNN3
    two = occ.select_examples(fake_scores().drop(columns="score_model"), {"raw": 0.5, "residual": 0.5}, seed=0)
    assert (two.loc[two.letter == "d", "status"] == "unavailable").all()
    assert (two.loc[two.letter == "a", "status"] == "ok").all()  # judged on CNN1 and CNN3
    picked = fake_scores().set_index("ID").loc[two.loc[(two.letter == "a") & (two.label == 1), "ID"]]
    assert (picked["score_raw"] >= 0.5).all() and (picked["score_residual"] >= 0.5).all()
    assert len(two) == 10 and "pred_model" not in two


def test_descriptions_follow_the_paper_wording():
    cats = {c.letter: c for c in occ.categories()}
    assert occ.describe_category(cats["c"], 1) == \
        "classified as mergers by CNN1 and as non-mergers by CNN2 and CNN3"
    assert occ.describe_category(cats["b"], 0) == "classified as mergers by all three CNNs"
    assert occ.describe_category(cats["c"], 0, ["raw", "residual"]) == \
        "classified as non-mergers by CNN1 and as mergers by CNN3 (CNN2 not trained)"
    assert "unavailable" in occ.describe_category(cats["d"], 1, ["raw", "residual"])


def write_scores(run_dir, kind, split, ids, labels, scores):
    folder = run_dir / "train" / kind
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"ID": ids, "label": labels, "score": scores}).to_csv(folder / f"scores_{split}.csv", index=False)


def test_thresholds_from_table_then_validation_then_default(tmp_path):
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"kind": ["raw"], "threshold": [0.37]}).to_csv(tmp_path / "tables" / "thresholds.csv", index=False)
    labels = np.array([0, 0, 0, 1, 1, 1])
    write_scores(tmp_path, "model", "validation", np.arange(6), labels, [0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    with pytest.warns(UserWarning, match="residual"):
        table = ev.threshold_table(tmp_path, ["raw", "model", "residual"]).set_index("kind")
    assert table.at["raw", "threshold"] == 0.37
    from galmerge.analysis.metrics import precision_recall_threshold

    assert table.at["model", "threshold"] == precision_recall_threshold(labels, [0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    assert table.at["residual", "threshold"] == FALLBACK_THRESHOLD
    assert "fallback" in table.at["residual", "source"]


def test_test_scores_are_joined_and_losses_counted(tmp_path):
    write_scores(tmp_path, "raw", "test", [1, 2, 3], [1, 0, 1], [0.9, 0.2, 0.4])
    write_scores(tmp_path, "model", "test", [2, 3, 4], [0, 1, 0], [0.3, 0.6, 0.1])
    with pytest.warns(UserWarning, match="2 test galaxies"):
        wide = Run(tmp_path).wide_scores(["raw", "model"])
    assert list(wide["ID"]) == [2, 3] and list(wide.columns) == ["ID", "label", "score_raw", "score_model"]
    write_scores(tmp_path, "residual", "test", [2, 3], [1, 1], [0.5, 0.5])
    with warnings.catch_warnings(), pytest.raises(ValueError, match="disagree"):
        warnings.simplefilter("ignore")
        Run(tmp_path).wide_scores(["raw", "model", "residual"])


def test_importance_peak_sign_depends_on_the_label():
    heat = np.full((9, 9), 0.6)
    heat[1, 1], heat[7, 7] = 0.2, 0.9
    assert occ.importance_peak(heat, 0.6, label=1)["peak_row"] == 1
    peak = occ.importance_peak(heat, 0.6, label=0)
    assert (peak["peak_row"], peak["peak_col"]) == (7, 7)
    assert peak["max_change"] == pytest.approx(0.3) and peak["peak_distance_px"] == pytest.approx(np.hypot(3, 3))


# --------------------------------------------------------------------------- feature maps and figures
def test_first_conv_feature_maps_are_the_layer_convolution():
    from scipy.signal import correlate2d

    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(3, 5, name="conv1")(inputs)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    image = np.random.default_rng(2).random((16, 16)).astype(np.float32)
    kernels, maps = occ.first_conv_feature_maps(model, image)
    weights, bias = model.get_layer("conv1").get_weights()
    assert kernels.shape == (3, 5, 5, 1) and maps.shape == (3, 12, 12)
    expected = correlate2d(image, weights[..., 0, 1], mode="valid") + bias[1]
    np.testing.assert_allclose(maps[1], expected, atol=1e-4)
    assert (maps < 0).any()  # before the separate ReLU: the convolution itself


def test_occlusion_figure_shows_empty_category_as_such():
    import matplotlib

    matplotlib.use("Agg")
    examples = pd.DataFrame({"label": [1, 1], "letter": ["a", "b"], "ID": pd.array([7, pd.NA], dtype="Int64"),
                             "status": ["ok", "empty"]})
    image = np.random.default_rng(0).random((16, 16, 1))
    fig = figures.fig14_15_occlusion_grid(examples, {(7, "raw"): image}, {(7, "raw"): image[..., 0]},
                                  {(7, "raw"): 0.8}, {"raw": 0.4}, ["raw", "model"], label=1)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no galaxy in this category" in texts and "network not trained" in texts
    assert any("0.80 (merger)" in ax.get_title() for ax in fig.axes)


def occlusion_map_quiet(model, image, **kwargs):
    return occ.occlusion_map(model, image, progress=False, **kwargs)


def test_network_inputs_are_the_training_normalisation_of_the_products(tmp_path):
    from galmerge.nets.training import normalise_images
    from galmerge.sersic.products import Products, write_products

    rng = np.random.default_rng(4)
    cubes = {k: rng.normal(10, 3, (3, 128, 128)).astype(np.float32) for k in ("raw", "model", "residual")}
    images = pd.DataFrame({"ID": [5, 6, 7], "split": ["test"] * 3, "label": [1, 0, 1]})
    write_products(tmp_path / "products", images, pd.DataFrame({"ID": [5, 6, 7]}), cubes)
    with Products(tmp_path / "products") as products:
        stack = occ.network_inputs(products, "stack", [2, 0])
        raw = occ.network_inputs(products, "raw", 1)
    assert stack.shape == (2, 128, 128, 3) and raw.shape == (1, 128, 128, 1)
    np.testing.assert_allclose(stack[..., 2], normalise_images(cubes["residual"][[2, 0], ..., None])[..., 0])
    assert stack.min(axis=(1, 2)).max() == 0 and stack.max(axis=(1, 2)).min() == 1
