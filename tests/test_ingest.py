"""galmerge.ingest: real pixels (crops of scikit-image's Hubble Deep Field) in FITS, PNG and colour
JPEG with made-up labels, broken files of every kind, the labelled-dataset reader of galmerge.data.catalog,
and an end-to-end smoke run on an ingested folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

import galmerge.data.catalog as gdata
from galmerge import ingest
from galmerge.data.summary import summary_counts
from galmerge.demo_cutouts import hubble_deep_field, write_hdf_cutouts

REPO = Path(__file__).resolve().parents[1]
MIN_SIDE = gdata.MIN_IMAGE_SIDE


@pytest.fixture(scope="module")
def field():
    return hubble_deep_field()


def _crop(field, y, x, size=140):
    return np.ascontiguousarray(field[y:y + size, x:x + size])


# --------------------------------------------------------------------------- reading images


def test_colour_jpeg_channels(tmp_path, field):
    crop = _crop(field, 100, 200)
    Image.fromarray(crop).save(tmp_path / "a.png")  # lossless, so channels compare exactly
    red = ingest.read_image(tmp_path / "a.png", channel="r")
    assert red.image.shape == (140, 140) and red.colour and not red.linear_flux
    np.testing.assert_array_equal(red.image, crop[..., 0].astype(np.float32))
    blue = ingest.read_image(tmp_path / "a.png", channel="b").image
    np.testing.assert_array_equal(blue, crop[..., 2].astype(np.float32))
    lum = ingest.read_image(tmp_path / "a.png", channel="luminance").image
    expected = crop.astype(np.float32) @ np.array(ingest.LUMINANCE_WEIGHTS, np.float32)
    np.testing.assert_allclose(lum, expected, rtol=1e-5)
    # JPEG is lossy (and subsamples colour): its red channel is still nearer the original red than blue
    Image.fromarray(crop).save(tmp_path / "a.jpg", quality=95)
    jpeg = ingest.read_image(tmp_path / "a.jpg").image
    assert np.abs(jpeg - crop[..., 0]).mean() < 0.5 * np.abs(jpeg - crop[..., 2]).mean()


def test_fits_hdu0_and_hdu1_cube_are_linear(tmp_path, field):
    plane = _crop(field, 0, 0)[..., 0].astype(np.float32) * 0.01
    fits.PrimaryHDU(plane).writeto(tmp_path / "a.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(plane[None])]).writeto(tmp_path / "b.fits")
    for name in ("a.fits", "b.fits"):
        loaded = ingest.read_image(tmp_path / name)
        assert loaded.linear_flux and not loaded.colour and loaded.file_format == "fits"
        np.testing.assert_array_equal(loaded.image, plane)


@pytest.mark.parametrize("name, writer, kind", [
    ("empty.fits", lambda p: p.write_bytes(b""), "empty"),
    ("text.png", lambda p: p.write_text("not a png"), "unreadable"),
    ("truncated.fits", lambda p: p.write_bytes(b"SIMPLE  =                    T" + b" " * 50), "unreadable"),
    ("nan.fits", lambda p: fits.PrimaryHDU(np.where(np.eye(140) > 0, np.nan, 1.0 + np.arange(140.0))).writeto(p),
     "non_finite"),
    ("cube.fits", lambda p: fits.PrimaryHDU(np.ones((3, 140, 140), np.float32)).writeto(p), "wrong_dimensions"),
    ("blank.png", lambda p: Image.fromarray(np.full((140, 140), 7, np.uint8)).save(p), "blank"),
    ("header_only.fits", lambda p: fits.PrimaryHDU().writeto(p), "empty"),
])
def test_broken_files_give_their_reason(tmp_path, name, writer, kind):
    path = tmp_path / name
    writer(path)
    with pytest.raises(ingest.ImageProblem) as err:
        ingest.read_image(path)
    assert err.value.kind == kind, str(err.value)


def test_nonfinite_zero_option(tmp_path):
    image = np.arange(140.0 * 140).reshape(140, 140)
    image[3, 4] = np.nan
    fits.PrimaryHDU(image).writeto(tmp_path / "n.fits")
    loaded = ingest.read_image(tmp_path / "n.fits", nonfinite="zero")
    assert loaded.image[3, 4] == 0 and np.isfinite(loaded.image).all()


def test_resampling_conserves_flux(field):
    image = field[:300, :250, 0].astype(np.float32)
    out, scale = ingest.resample_to_scale(image, 0.396, 0.168)  # SDSS -> HSC pixels
    assert out.shape == (round(300 * 0.396 / 0.168), round(250 * 0.396 / 0.168))
    assert np.isclose(out.sum(dtype=np.float64), image.sum(dtype=np.float64), rtol=1e-5)
    assert abs(scale - 0.168) / 0.168 < 1 / 300
    down, _ = ingest.resample_to_scale(image, 0.168, 0.336)  # 2x2 block sums
    np.testing.assert_allclose(down[0, 0], image[:2, :2].sum(), rtol=1e-5)


# --------------------------------------------------------------------------- the whole ingest


def _broken_folder(root: Path, field) -> Path:
    """Six good images in three formats plus every kind of problem; returns the labels table."""
    images = root / "in"
    (images / "sub").mkdir(parents=True)
    rows = []
    for i in range(6):
        crop = _crop(field, 40 * i, 50 * i)
        name = ["sub/g{}.jpg", "g{}.png", "g{}.fits"][i % 3].format(i)
        if name.endswith(".fits"):
            fits.PrimaryHDU(crop[..., 0].astype(np.float32)).writeto(images / name)
        else:
            Image.fromarray(crop).save(images / name)
        rows.append((name, i % 2))
    (images / "empty.jpg").write_bytes(b"")
    (images / "garbage.png").write_text("garbage")
    fits.PrimaryHDU(np.full((140, 140), np.inf, np.float32)).writeto(images / "inf.fits")
    Image.fromarray(_crop(field, 0, 0, size=60)).save(images / "small.png")
    Image.fromarray(_crop(field, 300, 300)).save(images / "badlabel.png")
    Image.fromarray(_crop(field, 310, 300)).save(images / "twice.png")
    Image.fromarray(_crop(field, 320, 300)).save(images / "orphan.png")
    (images / "notes.txt").write_text("not an image")
    rows += [("empty.jpg", 1), ("garbage.png", 0), ("inf.fits", 1), ("small.png", 0), ("badlabel.png", "maybe"),
             ("twice.png", 1), ("twice.png", 0), ("missing.jpg", 1)]
    table = pd.DataFrame(rows, columns=["filename", "label"])
    table["survey"] = "HDF"  # an unknown column, kept
    table["ID"] = range(len(table))  # a column named like one the catalogue writes: kept as user_ID
    table.to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


EXPECTED_PROBLEMS = {"empty.jpg": "empty", "garbage.png": "unreadable", "inf.fits": "non_finite",
                     "small.png": "too_small", "badlabel.png": "bad_label", "twice.png": "duplicate_row",
                     "missing.jpg": "row_without_file", "orphan.png": "file_without_row", "notes.txt": "ignored"}


def test_ingest_raises_listing_every_problem(tmp_path, field):
    labels = _broken_folder(tmp_path, field)
    with pytest.raises(ingest.IngestError) as err:
        ingest.ingest(tmp_path / "in", labels, tmp_path / "out", progress=False)
    for name in EXPECTED_PROBLEMS:
        if name != "notes.txt":
            assert name in str(err.value)
    assert "--on-missing drop" in str(err.value)
    assert not (tmp_path / "out" / "catalog_merger_challenge_TNG_train.csv").exists()
    problems = pd.read_csv(tmp_path / "out" / ingest.PROBLEMS_FILE)
    assert dict(zip(problems["filename"], problems["problem"])) == EXPECTED_PROBLEMS


def test_ingest_drop_accounts_for_every_file_and_row(tmp_path, field):
    labels = _broken_folder(tmp_path, field)
    summary = ingest.ingest(tmp_path / "in", labels, tmp_path / "out", on_missing="drop", progress=False)
    out = tmp_path / "out"
    catalog_file = out / "catalog_merger_challenge_TNG_train.csv"
    written = pd.read_csv(catalog_file)
    problems = pd.read_csv(out / ingest.PROBLEMS_FILE)
    assert summary["n_ingested"] == len(written) == 6
    # every table row and every file is either ingested or listed with its reason
    table = pd.read_csv(labels)
    accounted = set(written["filename"]) | set(problems["filename"])
    assert set(table["filename"]) <= accounted
    files = {p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*") if p.is_file()}
    assert files <= accounted
    assert summary["n_left_out"] == len(EXPECTED_PROBLEMS) - 1
    assert set(written["file_format"]) == {"jpeg", "png", "fits"}
    assert written.set_index("file_format")["linear_flux"].groupby(level=0).all().to_dict() == \
        {"fits": True, "jpeg": False, "png": False}
    assert (written["survey"] == "HDF").all() and "user_ID" in written
    # the dataset loads with the pipeline's reader, every image 2-D float32 and big enough
    catalog = gdata.load_catalog(out)
    assert len(catalog) == 6 and set(catalog["stage"]) <= {"non", gdata.STAGE_UNKNOWN}
    assert (catalog["snapnum"] == -1).all() and catalog["redshift"].isna().all()
    report = gdata.validate_images(catalog, progress=False)
    assert report["shape_ok"].all() and (report["error"] == "").all()
    assert not any(gdata.available_information(catalog).values())
    counts = summary_counts(catalog)  # mergers of unknown stage are counted, not lost
    assert counts["n_unknown"] == counts["n_mergers"] == int(catalog["label"].sum()) > 0
    # an earlier ingest is replaced only when asked
    with pytest.raises(ingest.IngestError, match="--overwrite"):
        ingest.ingest(tmp_path / "in", labels, out, on_missing="drop", progress=False)
    ingest.ingest(tmp_path / "in", labels, out, on_missing="drop", overwrite=True, progress=False)


def test_ingest_resamples_to_target_scale(tmp_path, field):
    labels = write_hdf_cutouts(tmp_path / "in", n=3, size=150, formats=("fits",), seed=1)
    table = pd.read_csv(labels)
    table["pixel_scale"] = [0.2, 0.168, 0.1]  # the last would shrink below 128 px
    table.to_csv(labels, index=False)
    summary = ingest.ingest(tmp_path / "in", labels, tmp_path / "out", target_scale=0.168 * 1.2,
                            on_missing="drop", progress=False)
    written = pd.read_csv(tmp_path / "out" / "catalog_merger_challenge_TNG_train.csv")
    assert summary["n_ingested"] == 1 and written["ny"].iat[0] == round(150 * 0.2 / (0.168 * 1.2))
    problems = pd.read_csv(tmp_path / "out" / ingest.PROBLEMS_FILE)
    assert sorted(problems["problem"]) == ["too_small", "too_small"]
    with pytest.raises(ingest.IngestError, match="pixel scale"):
        ingest.ingest(tmp_path / "in", _without_scale(labels, tmp_path), tmp_path / "out2", target_scale=0.168,
                      progress=False)


def _without_scale(labels: Path, tmp_path: Path) -> Path:
    path = tmp_path / "plain.csv"
    pd.read_csv(labels).drop(columns="pixel_scale").to_csv(path, index=False)
    return path


def test_cli_exit_codes(tmp_path, field):
    labels = _broken_folder(tmp_path, field)
    assert ingest.main(["--images", str(tmp_path / "in"), "--labels", str(labels), "--out", str(tmp_path / "o"),
                        "--no-progress"]) == 2
    # the failed ingest left only its problem list: a second ingest replaces it without --overwrite
    assert ingest.main(["--images", str(tmp_path / "in"), "--labels", str(labels), "--out", str(tmp_path / "o"),
                        "--no-progress", "--on-missing", "drop", "--channel", "luminance"]) == 0
    assert json.loads((tmp_path / "o" / ingest.INGEST_FILE).read_text())["channel"] == "luminance"


# --------------------------------------------------------------------------- labelled catalogues


def test_labelled_catalogue_optional_columns_and_groups(tmp_path, field):
    labels = write_hdf_cutouts(tmp_path / "in", n=24, size=130, formats=("png",), seed=2)
    table = pd.read_csv(labels)
    table["label"] = [1, 0] * 12
    table["stage"] = ["pre", "", "post", ""] * 6  # empty: unknown (for a merger) / non
    table["merger_time"] = [-0.5, None, None, None] * 6
    table["redshift"] = np.linspace(0.1, 0.9, 24)
    table["group"] = [f"pair{i // 3}" for i in range(24)]  # groups of 3 must stay together
    table.to_csv(labels, index=False)
    ingest.ingest(tmp_path / "in", labels, tmp_path / "out", progress=False)
    catalog = gdata.load_catalog(tmp_path / "out", split_seed=5)
    assert catalog.groupby("group")["split"].nunique().max() == 1
    assert set(catalog["stage"]) == {"pre", "post", "non"}
    assert np.allclose(catalog.loc[catalog["stage"] == "pre", "merger_time"], -0.5)
    assert catalog.loc[catalog["label"] == 0, "merger_time"].isna().all()
    info = gdata.available_information(catalog)
    assert info["stage"] and info["merger_time"] and info["redshift"] and not info["snapnum"]


def test_labelled_catalogue_rejects_inconsistent_rows(tmp_path):
    folder = tmp_path / "ds"
    (folder / "train" / "images").mkdir(parents=True)
    for i in (1, 2):
        fits.PrimaryHDU(np.random.default_rng(i).normal(size=(130, 130)).astype(np.float32)).writeto(
            folder / "train" / "images" / f"objID_{i}.fits")
    catalog_file = folder / "catalog_merger_challenge_TNG_train.csv"
    pd.DataFrame({"ID": [1, 2], "label": [1, 2]}).to_csv(catalog_file, index=False)
    with pytest.raises(gdata.DatasetError, match="label must be 0/1"):
        gdata.load_catalog(folder)
    pd.DataFrame({"ID": [1, 2], "label": [1, 0], "stage": ["non", "non"]}).to_csv(catalog_file, index=False)
    with pytest.raises(gdata.DatasetError, match="stage 'non'"):
        gdata.load_catalog(folder)
    pd.DataFrame({"ID": [1, 2], "label": [1, 0], "stage": ["post", ""], "merger_time": [-0.5, None]}).to_csv(
        catalog_file, index=False)
    with pytest.raises(gdata.DatasetError, match="outside the stage's window"):
        gdata.load_catalog(folder)
    pd.DataFrame({"ID": [1], "label": [1]}).to_csv(catalog_file, index=False)
    with pytest.raises(gdata.DatasetError, match="have no row"):
        gdata.load_catalog(folder)
    assert len(gdata.load_catalog(folder, on_missing="drop")) == 1


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_ingested_folder_runs_through_the_smoke_profile(tmp_path):
    """HDF crops in three formats -> ingest -> run_all.py --profile smoke: every notebook runs, the
    analyses that need merger times and stages say they are not available, and 08_transfer, given
    this very run as the source of networks, reproduces its own Table 1 row for row (same networks,
    same threshold, same galaxies: the transfer plumbing adds nothing)."""
    labels = write_hdf_cutouts(tmp_path / "in", n=32, size=136, formats=("jpeg", "png", "fits"), seed=4)
    (tmp_path / "in" / "images" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    pd.concat([pd.read_csv(labels), pd.DataFrame({"filename": ["images/broken.jpg"], "label": [1]})]).to_csv(
        labels, index=False)
    dataset = tmp_path / "hdf"
    env = dict(os.environ)
    subprocess.run([sys.executable, "-m", "galmerge.ingest", "--images", str(tmp_path / "in"), "--labels",
                    str(labels), "--out", str(dataset), "--on-missing", "drop", "--no-progress"],
                   check=True, env=env, cwd=REPO, timeout=300)
    run_dir = tmp_path / "smoke-hdf"
    result = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--profile", "smoke", "--data", str(dataset),
                             "--out", str(run_dir), "-p", "input_kinds=[raw]", "-p", f"transfer_models={run_dir}"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, f"run_all.py failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data"]["n_objects"] == 32 and summary["data"]["n_display_images"] > 0
    assert summary["merger_time"]["stages_available"] is False
    report = (run_dir / "REPORT.md").read_text()
    assert "not available for this dataset" in report and "not physical" in report and "## Transfer" in report
    problems = pd.read_csv(dataset / ingest.PROBLEMS_FILE)
    assert problems["filename"].tolist() == ["images/broken.jpg"]
    table = pd.read_csv(run_dir / "tables" / "transfer_table1.csv").set_index("setting")
    metrics = ["n", "threshold", "accuracy", "precision", "recall", "auc"]
    pd.testing.assert_series_equal(table.loc["trained here", metrics], table.loc["transfer", metrics],
                                   check_names=False, atol=1e-6)


# --------------------------------------------------------------------------- several bands


def _rgb(size=140, seed=0):
    """A colour image whose three channels differ (blue, green and red levels of one scene)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - size / 2
    blob = np.exp(-(xx ** 2 + yy ** 2) / 200)
    planes = [20 + 60 * blob * w + rng.normal(0, 3, blob.shape) for w in (1.0, 2.0, 3.0)]  # R, G, B
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def test_bands_keep_every_channel_in_band_order(tmp_path):
    """gri: g is the blue channel, r the green one, i the red one (Lupton et al. 2004); the primary image
    stays the red channel, byte for byte as without bands."""
    images = tmp_path / "images"
    images.mkdir()
    rgb = _rgb()
    Image.fromarray(rgb).save(images / "a.png")
    loaded = ingest.read_image(images / "a.png", bands="gri")
    np.testing.assert_array_equal(loaded.bands_image, np.moveaxis(rgb[..., ::-1], -1, 0).astype(np.float32))
    np.testing.assert_array_equal(loaded.image, rgb[..., 0].astype(np.float32))
    assert ingest.read_image(images / "a.png").bands_image is None
    (tmp_path / "labels.csv").write_text("filename,label\na.png,1\n")
    plain = ingest.ingest(images, tmp_path / "labels.csv", tmp_path / "plain", progress=False)
    summary = ingest.ingest(images, tmp_path / "labels.csv", tmp_path / "gri", progress=False, bands="gri")
    assert plain["bands"] is None and summary["bands"] == "gri"
    path = tmp_path / "gri" / "train" / "images" / "objID_1.fits"
    bands, cube = ingest.read_bands_image(path)
    assert bands == "gri" and cube.shape == (3, 140, 140)
    np.testing.assert_array_equal(cube[2], fits.getdata(path))  # i = red = the primary image
    np.testing.assert_array_equal(cube[0], rgb[..., 2])  # g = blue
    plain_path = tmp_path / "plain" / "train" / "images" / "objID_1.fits"
    assert fits.getheader(path, 0)["BANDS"] == "gri" and "BANDS" not in fits.getheader(plain_path, 0)
    np.testing.assert_array_equal(fits.getdata(path), fits.getdata(plain_path))
    catalog = gdata.load_catalog(tmp_path / "gri")
    assert catalog["bands"].tolist() == ["gri"]
    assert "bands" not in gdata.load_catalog(tmp_path / "plain")
    with pytest.raises(ValueError, match="no BANDS HDU.*--bands"):
        ingest.read_bands_image(tmp_path / "plain" / "train" / "images" / "objID_1.fits")


def test_bands_need_colour_images_and_three_band_names(tmp_path):
    Image.fromarray(_rgb()[..., 0]).save(tmp_path / "grey.png")
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(140, 140)).astype(np.float32)).writeto(tmp_path / "f.fits")
    for name in ("grey.png", "f.fits"):
        with pytest.raises(ingest.ImageProblem, match="need a colour") as err:
            ingest.read_image(tmp_path / name, bands="gri")
        assert err.value.kind == "wrong_dimensions"
    for bad in ("gr", "ggi", "gqi", "griz"):
        with pytest.raises(ValueError, match="three distinct letters"):
            ingest.check_bands(bad)
    (tmp_path / "labels.csv").write_text("filename,label\ngrey.png,1\n")
    with pytest.raises(ingest.IngestError, match="--bands"):
        ingest.ingest(tmp_path, tmp_path / "labels.csv", tmp_path / "out", bands="rgb", progress=False)


def test_bands_are_resampled_like_the_image(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(_rgb(200)).save(images / "a.png")
    (tmp_path / "labels.csv").write_text("filename,label,pixel_scale\na.png,0,0.2\n")
    ingest.ingest(images, tmp_path / "labels.csv", tmp_path / "out", target_scale=0.25, bands="gri", progress=False)
    path = tmp_path / "out" / "train" / "images" / "objID_1.fits"
    _, cube = ingest.read_bands_image(path)
    assert cube.shape == (3, 160, 160)
    np.testing.assert_allclose(cube[2], fits.getdata(path))
    np.testing.assert_allclose(cube.sum(axis=(1, 2)), np.moveaxis(_rgb(200)[..., ::-1], -1, 0).sum(axis=(1, 2)),
                               rtol=1e-5)


def test_jpeg_encoding_goes_into_the_catalogue(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(_rgb()).save(images / "q95.jpeg", quality=95)
    Image.fromarray(_rgb()).save(images / "q60.jpeg", quality=60, subsampling=0)
    Image.fromarray(_rgb()).save(images / "lossless.png")
    (tmp_path / "labels.csv").write_text("filename,label\nq95.jpeg,1\nq60.jpeg,0\nlossless.png,0\n")
    ingest.ingest(images, tmp_path / "labels.csv", tmp_path / "out", progress=False)
    catalog = gdata.load_catalog(tmp_path / "out").set_index("filename")
    assert catalog.loc["q95.jpeg", "jpeg_qtables"] != catalog.loc["q60.jpeg", "jpeg_qtables"]
    assert catalog.loc["q60.jpeg", "jpeg_subsampling"] == 0 and catalog.loc["q95.jpeg", "jpeg_subsampling"] == 2
    assert pd.isna(catalog.loc["lossless.png", "jpeg_qtables"])


def test_ids_do_not_follow_a_class_sorted_label_file(tmp_path, field):
    """Label files are often sorted by class: the IDs the ingest deals must not carry that order."""
    images = tmp_path / "in"
    images.mkdir()
    rows = []
    for i in range(40):
        Image.fromarray(_crop(field, 5 * i, 7 * i, size=MIN_SIDE)).save(images / f"g{i:02d}.png")
        rows.append((f"g{i:02d}.png", int(i >= 20)))  # the first 20 rows non-mergers, the last 20 mergers
    pd.DataFrame(rows, columns=["filename", "label"]).to_csv(tmp_path / "labels.csv", index=False)
    ingest.ingest(images, tmp_path / "labels.csv", tmp_path / "out", progress=False)
    written = pd.read_csv(tmp_path / "out" / "catalog_merger_challenge_TNG_train.csv")
    assert sorted(written["ID"]) == list(range(1, 41))
    # rank-sum AUC of the ID against the label: 0 or 1 for IDs in table order, near 0.5 for dealt ones
    ranks = written["ID"].rank()
    mergers = written["label"] == 1
    auc = (ranks[mergers].sum() - mergers.sum() * (mergers.sum() + 1) / 2) / (mergers.sum() * (~mergers).sum())
    assert 0.2 < auc < 0.8
    again = tmp_path / "again"
    ingest.ingest(images, tmp_path / "labels.csv", again, progress=False)  # the same IDs every time
    pd.testing.assert_series_equal(pd.read_csv(again / "catalog_merger_challenge_TNG_train.csv")["ID"], written["ID"])
