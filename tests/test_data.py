"""galmerge.data.catalog: the challenge-layout reader, its policies and the grouped splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from conftest import write_fake_image

from galmerge.data.catalog import (
    NORMALISED_COLUMNS,
    DatasetError,
    DatasetWarning,
    assign_splits,
    load_catalog,
    load_image,
    load_psf,
    validate_images,
)
from galmerge.data.cosmology import SNAPSHOT_REDSHIFTS


def _catalog_file(dataset: Path, folder: str = "train") -> Path:
    return dataset / f"catalog_merger_challenge_TNG_{folder}.fits"


def _edit_catalog(dataset: Path, edit, folder: str = "train") -> None:
    """Read the FITS catalogue, apply ``edit(DataFrame) -> DataFrame``, write it back."""
    path = _catalog_file(dataset, folder)
    table = edit(Table.read(path).to_pandas())
    Table.from_pandas(table.reset_index(drop=True)).write(path, overwrite=True)


def _groups_cross_splits(catalog: pd.DataFrame) -> list:
    with_sequence = catalog[catalog["sequence_ID"] >= 0]
    n_splits = with_sequence.groupby("sequence_ID")["split"].nunique()
    return n_splits[n_splits > 1].index.tolist()


def _synthetic_catalog(n_groups: int, seed: int) -> pd.DataFrame:
    """A catalogue without files: merger sequences of 1-6 objects and lone non-mergers."""
    rng = np.random.default_rng(seed)
    sizes = np.where(rng.random(n_groups) < 0.5, rng.integers(1, 7, n_groups), 1)
    sequence = np.repeat(np.where(sizes > 1, np.arange(n_groups), -1), sizes)
    return pd.DataFrame({"ID": np.arange(len(sequence)) * 3 + 11, "sequence_ID": sequence})


# ---------------------------------------------------------------------------------------------
# load_catalog: columns and values


def test_catalog_has_normalised_columns_and_keeps_extras(fake_dataset):
    catalog = load_catalog(fake_dataset)
    assert list(catalog.columns[:len(NORMALISED_COLUMNS)]) == list(NORMALISED_COLUMNS)
    assert len(catalog) == 24
    assert {"true_redshift", "true_mass_ratio"} <= set(catalog.columns)
    assert catalog["ID"].dtype == np.int64 and catalog["sequence_ID"].dtype == np.int64
    assert catalog["ID"].is_monotonic_increasing and catalog.index.tolist() == list(range(24))
    assert set(catalog["split"]) <= {"train", "validation", "test"}
    assert set(catalog["stage"]) <= {"pre", "ongoing", "post", "non"}
    assert set(catalog["source_folder"]) == {"train"}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in catalog["image_path"])
    expected_z = catalog["snapnum"].map(SNAPSHOT_REDSHIFTS)
    np.testing.assert_allclose(catalog["redshift"], expected_z)
    np.testing.assert_allclose(catalog["redshift"], catalog["true_redshift"])


def test_merger_time_sign_and_label_follow_stage(make_fake_dataset):
    catalog = load_catalog(make_fake_dataset(n=80, seed=5, image_size=8))
    by_stage = {s: g for s, g in catalog.groupby("stage")}
    assert set(by_stage) == {"pre", "ongoing", "post", "non"}
    assert (by_stage["pre"]["merger_time"] < 0).all()
    assert (by_stage["post"]["merger_time"] > 0).all()
    assert by_stage["ongoing"]["merger_time"].abs().le(0.1).all()
    assert by_stage["non"]["merger_time"].isna().all()
    assert (catalog["label"] == (catalog["stage"] != "non")).all()
    # merger_time is -time_before or +time_after, whichever the catalogue gives
    mergers = catalog[catalog["label"] == 1]
    expected = np.where(mergers["time_before_merger"].notna(), -mergers["time_before_merger"],
                        mergers["time_after_merger"])
    np.testing.assert_allclose(mergers["merger_time"], expected)


def test_negative_sentinel_times_read_like_nan_and_csv_like_fits(make_fake_dataset):
    with_nan = load_catalog(make_fake_dataset("nan", n=40, seed=2, image_size=8))
    with_sentinel = load_catalog(make_fake_dataset("sentinel", n=40, seed=2, image_size=8, time_sentinel=-1.0,
                                                   catalog_format="csv"))
    assert (with_sentinel["time_before_merger"] == -1).any()  # the sentinel really was written
    for column in ("ID", "split", "stage", "label", "sequence_ID", "snapnum"):
        assert with_nan[column].tolist() == with_sentinel[column].tolist()
    np.testing.assert_allclose(with_nan["merger_time"], with_sentinel["merger_time"])


# ---------------------------------------------------------------------------------------------
# Splits


@pytest.mark.parametrize("test_fraction", [0.0, 0.15], ids=["no_test_folder", "test_folder"])
@pytest.mark.parametrize("seed", [0, 1, 7, 42])
def test_no_sequence_crosses_splits(make_fake_dataset, seed, test_fraction):
    dataset = make_fake_dataset(n=60, seed=seed, test_fraction=test_fraction, image_size=8)
    catalog = load_catalog(dataset, split_seed=seed)
    assert catalog["sequence_ID"].ge(0).sum() > 10  # there are sequences to keep together
    assert _groups_cross_splits(catalog) == []
    if test_fraction:
        assert (catalog.loc[catalog["source_folder"] == "test", "split"] == "test").all()
        assert (catalog.loc[catalog["source_folder"] == "train", "split"] != "test").all()


def test_splits_are_deterministic_from_seed(make_fake_dataset):
    dataset = make_fake_dataset(n=60, seed=3, image_size=8)
    first, again = load_catalog(dataset, split_seed=11), load_catalog(dataset, split_seed=11)
    assert first["split"].tolist() == again["split"].tolist()
    other = load_catalog(dataset, split_seed=12)
    assert first["split"].tolist() != other["split"].tolist()


def test_assign_splits_ignores_row_order():
    catalog = _synthetic_catalog(150, seed=4)
    shuffled = catalog.sample(frac=1, random_state=0)
    pd.testing.assert_series_equal(assign_splits(catalog, 9).sort_index(),
                                   assign_splits(shuffled, 9).sort_index())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_fractions_close_to_75_15_10(seed):
    catalog = _synthetic_catalog(250, seed=seed)
    assert len(catalog) > 400
    split = assign_splits(catalog, seed)
    fractions = split.value_counts(normalize=True)
    assert fractions["train"] == pytest.approx(0.75, abs=0.03)
    assert fractions["validation"] == pytest.approx(0.15, abs=0.03)
    assert fractions["test"] == pytest.approx(0.10, abs=0.03)
    assert _groups_cross_splits(catalog.assign(split=split)) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_split_keeps_class_balance(seed):
    catalog = _synthetic_catalog(250, seed=seed)
    catalog["label"] = (catalog["sequence_ID"] >= 0).astype(int)  # sequences are mergers, lone objects not
    split = assign_splits(catalog, seed)
    overall = catalog["label"].mean()
    for name in ("train", "validation", "test"):
        assert catalog.loc[split == name, "label"].mean() == pytest.approx(overall, abs=0.05), name
    assert _groups_cross_splits(catalog.assign(split=split)) == []


def test_with_test_folder_validation_is_15_of_90_of_train_folder():
    catalog = _synthetic_catalog(300, seed=8)
    catalog["source_folder"] = np.where(catalog.index % 10 == 0, "test", "train")
    catalog.loc[catalog["source_folder"] == "test", "sequence_ID"] = -1  # test objects share no sequence
    split = assign_splits(catalog, 3)
    train_folder = split[catalog["source_folder"] == "train"]
    assert (split[catalog["source_folder"] == "test"] == "test").all()
    assert set(train_folder) == {"train", "validation"}
    assert (train_folder == "validation").mean() == pytest.approx(15 / 90, abs=0.03)


def test_sequence_in_both_folders_goes_to_test_with_warning():
    catalog = pd.DataFrame({"ID": [1, 2, 3, 4, 5, 6], "sequence_ID": [7, 7, 8, -1, -1, 9],
                            "source_folder": ["train", "test", "train", "train", "train", "train"]})
    with pytest.warns(DatasetWarning, match="share a sequence"):
        split = assign_splits(catalog, 0)
    assert split[0] == "test" and catalog.attrs["moved_to_test"] == [1]


def test_bad_fractions_rejected():
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(_synthetic_catalog(10, 0), 0, fractions=(0.5, 0.5))


# ---------------------------------------------------------------------------------------------
# Images and PSF


@pytest.mark.parametrize("hdu", [0, 1])
def test_image_in_hdu0_or_hdu1_loads_as_2d_float32(tmp_path, hdu):
    image = np.arange(36, dtype=np.float64).reshape(6, 6)
    path = tmp_path / f"objID_1_hdu{hdu}.fits"
    write_fake_image(path, image, hdu=hdu)
    with fits.open(path) as hdus:
        assert hdus[hdu].data.ndim == (2 if hdu == 0 else 3)
    loaded = load_image(path)
    assert loaded.dtype == np.float32 and loaded.shape == (6, 6)
    np.testing.assert_array_equal(loaded, image)


def test_hdu1_dataset_reads_like_hdu0(make_fake_dataset):
    catalog = load_catalog(make_fake_dataset(n=6, seed=1, image_hdu=1, image_size=12))
    assert load_image(catalog["image_path"][0]).shape == (12, 12)


@pytest.mark.parametrize("content", [b"", b"not a fits file at all" * 200, "truncated"])
def test_corrupt_image_error_names_file(tmp_path, content):
    path = tmp_path / "objID_99.fits"
    if content == "truncated":
        write_fake_image(path, np.ones((64, 64), np.float32))
        content = path.read_bytes()[:4000]
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="objID_99.fits") as err:
        load_image(path)
    assert "corrupt" in str(err.value)


def test_missing_empty_and_cube_images_raise(tmp_path):
    with pytest.raises(DatasetError, match="objID_1.fits.*does not exist"):
        load_image(tmp_path / "objID_1.fits")
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    with pytest.raises(DatasetError, match="empty.fits.*no HDU"):
        load_image(tmp_path / "empty.fits")
    fits.PrimaryHDU(np.zeros((2, 5, 5), np.float32)).writeto(tmp_path / "cube.fits")
    with pytest.raises(DatasetError, match=r"cube.fits.*\(2, 5, 5\)"):
        load_image(tmp_path / "cube.fits")


def test_nonfinite_pixel_policy(tmp_path):
    image = np.ones((5, 5), np.float32)
    image[1, 2], image[3, 3] = np.nan, np.inf
    path = tmp_path / "objID_5.fits"
    write_fake_image(path, image)
    with pytest.raises(DatasetError, match="objID_5.fits: 2 of 25 pixels"):
        load_image(path)
    with pytest.warns(DatasetWarning, match="2 NaN/inf pixels set to 0"):
        zeroed = load_image(path, nonfinite="zero")
    assert zeroed[1, 2] == 0 and zeroed[3, 3] == 0 and zeroed.sum() == 23
    assert np.isnan(load_image(path, nonfinite="keep")[1, 2])


def test_psf_normalised_or_none(fake_dataset, tmp_path):
    psf = load_psf(fake_dataset)
    assert psf.dtype == np.float32 and psf.ndim == 2
    assert psf.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)
    raw = fits.getdata(fake_dataset / "psf" / "psf_i.fits")
    assert raw.sum() > 2  # the file itself is not normalised; load_psf did it
    assert load_psf(tmp_path) is None


def test_validate_images_reports_size_and_nonfinite(make_fake_dataset):
    dataset = make_fake_dataset(n=8, seed=2)  # folder-sized images
    catalog = load_catalog(dataset)
    assert validate_images(catalog, progress=False)["shape_ok"].all()
    bad = np.full((10, 10), np.nan, np.float32)
    write_fake_image(Path(catalog["image_path"][0]), bad)
    Path(catalog["image_path"][1]).write_bytes(b"junk")
    with pytest.warns(DatasetWarning, match="1 unreadable images, 1 with a size other"):
        report = validate_images(catalog, progress=False)
    assert report["n_nonfinite"][0] == 100 and not report["shape_ok"][0]
    assert catalog["image_path"][1] in report["error"][1]
    assert report["shape_ok"][2:].all()


# ---------------------------------------------------------------------------------------------
# Bad datasets: clear errors


def test_missing_catalogue_and_folder(tmp_path, fake_dataset):
    with pytest.raises(DatasetError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
    _catalog_file(fake_dataset).unlink()
    with pytest.raises(DatasetError, match="no catalogue catalog_merger_challenge_TNG_train"):
        load_catalog(fake_dataset)


def test_duplicate_ids_raise(fake_dataset):
    _edit_catalog(fake_dataset, lambda t: pd.concat([t, t.iloc[[3]]]))
    with pytest.raises(DatasetError, match=r"catalog_merger_challenge_TNG_train.fits: 1 IDs occur more than once"):
        load_catalog(fake_dataset)


def test_missing_column_raises(fake_dataset):
    _edit_catalog(fake_dataset, lambda t: t.drop(columns="sequence_ID"))
    with pytest.raises(DatasetError, match=r"lacks required column\(s\) \['sequence_ID'\]"):
        load_catalog(fake_dataset)


def test_orphan_image_raises_or_is_dropped_with_warning(fake_dataset):
    orphan = fake_dataset / "train" / "snapnum_50_57" / "objID_999999.fits"
    write_fake_image(orphan, np.ones((4, 4), np.float32))
    with pytest.raises(DatasetError, match="1 images in .* have no row.*objID_999999.fits"):
        load_catalog(fake_dataset)
    with pytest.warns(DatasetWarning, match="ignored 1 images without a catalogue row"):
        catalog = load_catalog(fake_dataset, on_missing="drop")
    assert len(catalog) == 24 and catalog.attrs["dropped"]["images_without_row"] == [str(orphan.resolve())]
    assert catalog["label"].dtype == np.int64 and catalog["snapnum"].dtype == np.int64


def test_orphan_row_raises_or_is_dropped_with_warning(fake_dataset):
    full = load_catalog(fake_dataset)
    lost = full.iloc[5]
    Path(lost["image_path"]).unlink()
    with pytest.raises(DatasetError, match=f"1 catalogue rows .* have no image .*IDs {lost['ID']}"):
        load_catalog(fake_dataset)
    with pytest.warns(DatasetWarning, match="dropped 1 catalogue rows without an image"):
        catalog = load_catalog(fake_dataset, on_missing="drop")
    assert len(catalog) == 23 and lost["ID"] not in set(catalog["ID"])
    assert catalog.attrs["dropped"]["rows_without_image"] == [lost["ID"]]


def test_image_in_wrong_redshift_folder_raises(fake_dataset):
    catalog = load_catalog(fake_dataset)
    path = Path(catalog["image_path"][0])
    wrong = "snapnum_78_91" if path.parent.name != "snapnum_78_91" else "snapnum_50_57"
    (path.parent.parent / wrong).mkdir(exist_ok=True)
    path.rename(path.parent.parent / wrong / path.name)
    with pytest.raises(DatasetError, match="does not match their catalogue snapnum"):
        load_catalog(fake_dataset)


def test_unknown_snapnum_raises(fake_dataset):
    def edit(t):
        t.loc[0, "snapnum"] = 33
        return t
    _edit_catalog(fake_dataset, edit)
    with pytest.raises(DatasetError, match="snapnum outside the challenge's 50-91: 33"):
        load_catalog(fake_dataset)


def _first_merger_edit(stage_flags: dict, times: dict | None = None):
    def edit(t):
        row = t.index[t["is_major_merger"] == 1][0]
        for column, value in {**stage_flags, **(times or {})}.items():
            t.loc[row, column] = value
        return t
    return edit


@pytest.mark.parametrize("flags, times, message", [
    ({"is_pre_merger": 0, "is_ongoing_merger": 0, "is_post_merger": 0}, None, "without any stage flag"),
    ({"is_pre_merger": 1, "is_ongoing_merger": 0, "is_post_merger": 1}, None, "more than one stage flag"),
    ({"is_pre_merger": 1, "is_ongoing_merger": 0, "is_post_merger": 0},
     {"time_before_merger": np.nan, "time_after_merger": 0.2}, "pre-mergers whose merger time is outside"),
    ({}, {"time_before_merger": np.nan, "time_after_merger": -1.0}, "neither time_before_merger"),
])
def test_inconsistent_stage_raises(fake_dataset, flags, times, message):
    _edit_catalog(fake_dataset, _first_merger_edit(flags, times))
    with pytest.raises(DatasetError, match=message):
        load_catalog(fake_dataset)


def test_nonmerger_with_stage_flag_counts_as_nonmerger_with_warning(fake_dataset):
    def edit(t):
        row = t.index[t["is_major_merger"] == 0][0]
        t.loc[row, "is_post_merger"] = 1
        t.loc[row, "time_after_merger"] = 0.2
        return t
    _edit_catalog(fake_dataset, edit)
    with pytest.warns(DatasetWarning, match="1 non-mergers .* carry stage flags"):
        catalog = load_catalog(fake_dataset)
    flagged = catalog[catalog["ID"] == catalog.attrs["nonmergers_with_merger_info"][0]].iloc[0]
    assert flagged["stage"] == "non" and flagged["label"] == 0 and np.isnan(flagged["merger_time"])


def test_badly_named_fits_file_is_ignored_with_warning(fake_dataset):
    stray = fake_dataset / "train" / "snapnum_58_66" / "stacked_preview.fits"
    write_fake_image(stray, np.ones((4, 4), np.float32))
    with pytest.warns(DatasetWarning, match="ignored 1 FITS files not named objID_<ID>.fits.*stacked_preview"):
        assert len(load_catalog(fake_dataset)) == 24


def test_both_times_given_resolved_by_stage_flag(fake_dataset):
    def edit(t):
        pre = t.index[t["is_pre_merger"] == 1][0]
        t.loc[pre, ["time_before_merger", "time_after_merger"]] = [0.5, 0.0]
        return t
    _edit_catalog(fake_dataset, edit)
    catalog = load_catalog(fake_dataset)
    pre = catalog[(catalog["stage"] == "pre") & (catalog["time_after_merger"] == 0.0)]
    assert len(pre) == 1 and pre["merger_time"].item() == -0.5


def test_non_numeric_time_raises(make_fake_dataset):
    dataset = make_fake_dataset(n=10, seed=1, image_size=8, catalog_format="csv")
    path = dataset / "catalog_merger_challenge_TNG_train.csv"
    table = pd.read_csv(path)
    table["time_after_merger"] = table["time_after_merger"].astype(object).where(table["time_after_merger"].notna(),
                                                                                 "unknown")
    table.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="time_after_merger must hold numbers.*unknown"):
        load_catalog(dataset)
