"""galmerge.analysis.shortcut: the far-sky probe warns when the corners carry the label, and only then."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galmerge.analysis import shortcut
from galmerge.data.catalog import load_catalog


def _image(rng, size=64, merger=False, sky=0.0, noise=0.01):
    """A central galaxy (two blobs for a merger, within a fifth of the side of the centre) on a sky."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    image = sky + rng.normal(0.0, noise, (size, size))
    image += np.exp(-(xx ** 2 + yy ** 2) / (2 * (size / 20) ** 2))
    if merger:
        image += 0.6 * np.exp(-((xx - size / 8) ** 2 + (yy - size / 10) ** 2) / (2 * (size / 25) ** 2))
    return image.astype(np.float32)


def _sample(n, seed, leak):
    """Features, labels and groups of ``n`` images in groups of 1-3 (one label per group); with
    ``leak`` the mergers' sky is higher and noisier, as two catalogues observed apart can be."""
    rng = np.random.default_rng(seed)
    labels, groups, rows = [], [], []
    group = 0
    while len(labels) < n:
        merger = bool(rng.random() < 0.4)
        for _ in range(int(rng.integers(1, 4))):
            sky, noise = (0.004, 0.012) if (leak and merger) else (0.0, 0.01)
            rows.append(shortcut.corner_statistics(_image(rng, merger=merger, sky=sky, noise=noise), size=16))
            labels.append(int(merger))
            groups.append(group)
        group += 1
    return pd.DataFrame(rows), np.array(labels), np.array(groups)


def test_corners_that_carry_the_label_warn():
    features, labels, groups = _sample(300, 0, leak=True)
    table = shortcut.shortcut_table(features, labels, groups, n_resamples=200)
    assert tuple(table.columns) == shortcut.COLUMNS
    assert list(table["probe"]) == [*shortcut.PROBES, shortcut.ALL_PROBE]
    by_probe = table.set_index("probe")
    print(table.to_string())
    for probe in ("level", "noise", "all"):
        assert by_probe.loc[probe, "warning"], probe
        assert by_probe.loc[probe, "auc_low"] > shortcut.WARN_AUC
        assert by_probe.loc[probe, "auc_low"] <= by_probe.loc[probe, "auc"] <= by_probe.loc[probe, "auc_high"]
    assert (table["n"] == len(labels)).all()


def test_corners_that_do_not_carry_the_label_do_not_warn():
    """Mergers and non-mergers differ only near the centre: every probe sits near 0.5 (its spread
    over samples of 300 is about 0.045, so 600 images keep the null well under the 0.60 warning)."""
    features, labels, groups = _sample(600, 1, leak=False)
    table = shortcut.shortcut_table(features, labels, groups, n_resamples=200)
    print(table.to_string())
    assert not table["warning"].any()
    assert (table["auc"] < shortcut.WARN_AUC).all()
    assert (table["auc_low"] < 0.55).all()


def test_too_few_groups_give_nan_without_warning():
    features, labels, groups = _sample(12, 2, leak=True)
    table = shortcut.shortcut_table(features, labels, np.zeros(len(labels)), n_resamples=10)
    assert table["auc"].isna().all() and not table["warning"].any()


def test_corner_statistics_see_quantisation_and_clipping():
    rng = np.random.default_rng(3)
    smooth = rng.normal(10.0, 1.0, (128, 128))
    display = np.clip(np.round(smooth - 10), 0, 255)  # 8-bit levels, clipped at black
    s, d = shortcut.corner_statistics(smooth), shortcut.corner_statistics(display)
    assert s["corner_n_levels"] == 4 * 32 * 32 and d["corner_n_levels"] <= 5
    assert d["corner_level_step"] == 1.0 and d["corner_fraction_at_min"] > 0.4
    assert s["corner_std_over_mad"] == pytest.approx(1.4826, rel=0.1)


def test_corner_patches_are_the_corners_and_shrink_on_small_images():
    image = np.arange(200 * 160, dtype=float).reshape(200, 160)
    patches = shortcut.corner_patches(image)
    assert patches.shape == (4, 32, 32)
    assert patches[0, 0, 0] == image[0, 0] and patches[3, -1, -1] == image[-1, -1]
    assert patches[1, 0, -1] == image[0, -1] and patches[2, -1, 0] == image[-1, 0]
    assert shortcut.corner_patches(np.zeros((40, 60))).shape == (4, 10, 10)
    with pytest.raises(ValueError, match="2-D"):
        shortcut.corner_patches(np.zeros((3, 40, 40)))
    nan_image = np.full((64, 64), np.nan)
    assert np.isnan(shortcut.corner_statistics(nan_image)["corner_mean"])


def _shift_mergers(catalog, offset):
    """Add ``offset`` to every pixel of the mergers' images (a sky level set by the merger catalogue)."""
    for path in catalog.loc[catalog["label"] == 1, "image_path"]:
        with fits.open(path, mode="update") as hdus:
            hdus[0].data = hdus[0].data + np.float32(offset)


@pytest.mark.parametrize("leak", [False, True])
def test_shortcut_check_on_a_dataset(make_fake_dataset, leak):
    """Through the catalogue and its FITS files: a dataset whose mergers sit on a brighter sky warns,
    the same dataset as written (the label only in the central blobs) does not."""
    catalog = load_catalog(make_fake_dataset(n=160, seed=5, image_size=128, psf=False))
    if leak:
        _shift_mergers(catalog, 0.01)
    table = shortcut.shortcut_check(catalog, n_resamples=100, progress=False)
    print(table.to_string())
    assert table.set_index("probe").loc["all", "warning"] == leak
    if not leak:
        assert not table["warning"].any()


@pytest.mark.parametrize("leak", [False, True])
def test_file_encoding_probe(make_fake_dataset, leak):
    """JPEG quantisation tables that differ between the classes (two catalogues cut out at two quality
    settings) warn; one setting for all gives exactly 0.5."""
    catalog = load_catalog(make_fake_dataset(n=120, seed=6, image_size=128, psf=False))
    catalog["file_format"] = "jpeg"
    catalog["jpeg_qtables"] = np.where(catalog["label"] == 1, "q95", "q75") if leak else "q95"
    table = shortcut.shortcut_check(catalog, n_resamples=100, progress=False).set_index("probe")
    assert list(table.index)[-1] == shortcut.FILE_PROBE
    assert table.loc[shortcut.FILE_PROBE, "warning"] == leak
    if leak:
        assert table.loc[shortcut.FILE_PROBE, "auc"] > 0.95
    else:
        assert table.loc[shortcut.FILE_PROBE, "auc"] == 0.5


def test_no_file_probe_without_file_columns():
    features, labels, groups = _sample(60, 4, leak=False)
    table = shortcut.shortcut_table(features, labels, groups, n_resamples=10)
    assert shortcut.FILE_PROBE not in set(table["probe"])
    assert shortcut.file_encoding_features(pd.DataFrame({"ID": [1, 2]})) is None


@pytest.mark.parametrize("leak", [False, True])
def test_corner_cnn_probe(make_fake_dataset, leak):
    """The small CNN on the corners: mergers whose sky carries a faint diagonal stripe pattern (an artefact
    of one catalogue's processing, invisible to the level statistics) are found; corners that carry
    nothing stay under the warning."""
    catalog = load_catalog(make_fake_dataset(n=240, seed=7, image_size=128, psf=False))
    if leak:
        yy, xx = np.mgrid[:128, :128]
        stripes = np.float32(0.01) * np.sign(np.sin((xx + yy) * np.pi / 2 + 0.1)).astype(np.float32)
        for path in catalog.loc[catalog["label"] == 1, "image_path"]:
            with fits.open(path, mode="update") as hdus:
                hdus[0].data = hdus[0].data + stripes
    table = shortcut.shortcut_check(catalog, n_resamples=100, progress=False, cnn=True).set_index("probe")
    print(table.to_string())
    assert list(table.index)[-1] == shortcut.CNN_PROBE
    assert table.loc[shortcut.CNN_PROBE, "warning"] == leak


def test_group_subset_takes_whole_groups():
    groups = np.repeat(np.arange(50), 3)
    keep = shortcut._group_subset(groups, 31, seed=0)
    assert 31 <= len(keep) < 34 and len(keep) % 3 == 0
    assert np.all(np.bincount(groups[keep])[np.unique(groups[keep])] == 3)
    np.testing.assert_array_equal(shortcut._group_subset(groups, 500, seed=0), np.arange(150))
