"""galmerge.predict: scoring new cutouts with a finished run's networks, bad files reported."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.modeling.models import Sersic2D

from galmerge.nets.training import train_network
from galmerge.predict import InputRules, find_images, main, predict, prepare_inputs, read_for_fit, run_input_rules
from galmerge.runs import Run, write_stage_record
from galmerge.sersic.products import write_products
from galmerge.sersic.stage import stage_config


def _galaxy(size, seed, companion=False):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    c = size / 2
    image = Sersic2D(amplitude=5, r_eff=6, n=1.5, x_0=c, y_0=c, ellip=0.3, theta=0.5)(x, y)
    if companion:
        image += Sersic2D(amplitude=3, r_eff=4, n=1, x_0=c + 20, y_0=c - 12)(x, y)
    return (image + rng.normal(0, 0.05, image.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run folder with a products folder and a tiny raw network trained for one epoch."""
    run = tmp_path_factory.mktemp("run")
    n = 24
    labels = np.arange(n) % 2
    splits = np.array(["train"] * 16 + ["validation"] * 4 + ["test"] * 4)
    cubes = {k: np.stack([_galaxy(128, i, bool(labels[i])) for i in range(n)]) for k in ("raw", "model", "residual")}
    images = pd.DataFrame({"ID": np.arange(n, dtype=np.int64), "split": splits, "label": labels})
    products = write_products(Run(run).products, images, pd.DataFrame({"ID": [0]}), cubes)
    write_stage_record(products, stage_config(None, "crop", {}))
    train_network(products, "raw", Run(run).train_dir("raw"), epochs=1, batch_size=8, filters=2,
                  dense_units=(4, 4), seed=0, verbose=0)
    Run(run).write_table("thresholds", pd.DataFrame({"kind": ["raw"], "threshold": [0.42]}), index=False)
    return run


@pytest.fixture()
def cutouts(tmp_path):
    folder = tmp_path / "cutouts"
    folder.mkdir()
    fits.PrimaryHDU(_galaxy(160, 1)).writeto(folder / "good_160.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(_galaxy(128, 2, True)[None])]).writeto(folder / "good_hdu1.fits")
    (folder / "corrupt.fits").write_bytes(b"SIMPLE  =   this is not a FITS file")
    fits.PrimaryHDU(np.zeros((2, 3, 40, 40), np.float32)).writeto(folder / "four_d.fits")
    fits.PrimaryHDU(_galaxy(64, 3)).writeto(folder / "too_small.fits")
    return folder


@pytest.mark.slow
def test_good_files_scored_broken_files_listed(tiny_run, cutouts):
    table = predict(tiny_run, [cutouts], progress=False)
    by_name = {p.split("/")[-1]: row for p, row in zip(table["file"], table.to_dict("records"))}
    assert set(by_name) == {"good_160.fits", "good_hdu1.fits", "corrupt.fits", "four_d.fits", "too_small.fits"}
    for name in ("good_160.fits", "good_hdu1.fits"):
        row = by_name[name]
        assert row["status"] == "ok"
        assert 0.0 <= row["score_raw"] <= 1.0
        assert row["threshold_raw"] == 0.42
        assert row["merger_raw"] == (row["score_raw"] >= 0.42)
    for name in ("corrupt.fits", "four_d.fits", "too_small.fits"):
        row = by_name[name]
        assert row["status"] in ("bad_input", "error"), row
        assert np.isnan(row["score_raw"]) and pd.isna(row["merger_raw"])
        assert row["message"]


@pytest.mark.slow
def test_scores_match_the_training_pipeline(tiny_run, tmp_path):
    """A 128x128 cutout scored by predict equals the saved test score of the same image."""
    from galmerge.sersic.products import Products
    with Products(Run(tiny_run).products) as products:
        row = int(products.rows("test")[0])
        image = products.read("raw", row)[..., 0]
        image_id = int(products.images["ID"].iloc[row])
    fits.PrimaryHDU(image).writeto(tmp_path / "same.fits")
    saved = Run(tiny_run).scores("raw", "test").set_index("ID")
    table = predict(tiny_run, [tmp_path / "same.fits"], progress=False)
    assert table.loc[0, "score_raw"] == pytest.approx(saved.loc[image_id, "score"], abs=1e-5)


@pytest.mark.slow
def test_cli_writes_csv_and_reports_broken(tiny_run, cutouts, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(["--models", str(tiny_run), "--images", str(cutouts), "--out", str(out), "--no-progress"])
    assert code == 0
    assert len(pd.read_csv(out)) == 5
    err = capsys.readouterr().err
    assert "corrupt.fits" in err and "3 file(s) could not be scored" in err


def test_missing_run_is_a_clear_error(tmp_path, cutouts, capsys):
    code = main(["--models", str(tmp_path / "nothing"), "--images", str(cutouts), "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "stage.json" in capsys.readouterr().err


# --------------------------------------------------------------------------- every format ingest reads


def _display(image: np.ndarray, sky: float = 0.5) -> np.ndarray:
    """A float image on a sky level as 8-bit display levels (asinh stretch, clipped), as survey colour
    JPEGs are (the sky keeps the noise off the black clip, where SEP would find hundreds of "sources")."""
    return np.clip(255 * np.arcsinh(np.clip(image + sky, 0, None) * 3) / np.arcsinh(18), 0, 255).astype(np.uint8)


def write_colour(path, size=160, seed=0, companion=False, quality=95):
    """A colour cutout whose three channels differ (red brightest, as the i band of a gri composite)."""
    from PIL import Image

    red = _display(_galaxy(size, seed, companion))
    rgb = np.stack([red, (red * 0.6).astype(np.uint8), (red * 0.3).astype(np.uint8)], axis=-1)
    kwargs = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    Image.fromarray(rgb).save(path, **kwargs)
    return path


def test_find_images_reads_every_ingest_format(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    write_colour(folder / "a.jpeg")
    write_colour(folder / "sub" / "b.png")
    write_colour(folder / "c.tiff")
    fits.PrimaryHDU(_galaxy(128, 1)).writeto(folder / "d.fits")
    (folder / "notes.txt").write_text("not an image")
    names = [p.relative_to(folder).as_posix() for p in find_images([folder])]
    assert names == ["a.jpeg", "c.tiff", "d.fits", "sub/b.png"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_images([tmp_path / "nowhere"])


def test_jpeg_gets_the_inputs_the_ingest_and_stage_give_it(tmp_path):
    """A JPEG read by predict gives bit for bit the cubes of the same JPEG ingested, then fitted by the stage."""
    from galmerge.ingest import ingest
    from galmerge.sersic.stage import fit_catalog_image

    images = tmp_path / "images"
    images.mkdir()
    write_colour(images / "pair.jpeg", size=160, seed=4, companion=True)
    (tmp_path / "labels.csv").write_text("filename,label\npair.jpeg,1\n")
    ingest(images, tmp_path / "labels.csv", tmp_path / "dataset", progress=False)
    options = {"fitter": "lm"}
    expected = fit_catalog_image(0, str(tmp_path / "dataset" / "train" / "images" / "objID_1.fits"),
                                 fit_options=options)
    table, cubes = prepare_inputs([images / "pair.jpeg"], fit_options=options, progress=False)
    row = table.iloc[0]
    assert (row["file_format"], row["channel"], row["linear_flux"], row["status"]) == ("jpeg", "r", False, "ok")
    for name in ("raw", "model", "residual"):
        np.testing.assert_array_equal(cubes[name][0], expected[name])


def test_channel_rule_is_the_ingests(tmp_path):
    from PIL import Image

    from galmerge.ingest import read_image

    path = write_colour(tmp_path / "c.png", size=128, seed=2)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for channel in ("r", "g", "luminance"):
        read = read_for_fit(path, InputRules(channel=channel), scratch, index=0)
        assert read["channel"] == channel and read["linear_flux"] is False
        np.testing.assert_array_equal(fits.getdata(read["fit_path"]), read_image(path, channel=channel).image)
        Path(read["fit_path"]).unlink()
    Image.fromarray(_display(_galaxy(128, 3))).save(tmp_path / "grey.png")
    assert read_for_fit(tmp_path / "grey.png", InputRules(channel="g"), scratch, 1)["channel"] == "grey"


def test_unusable_files_are_listed_with_the_ingests_reasons(tmp_path):
    from PIL import Image

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.jpeg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a JPEG")
    write_colour(folder / "small.png", size=64)
    Image.fromarray(np.full((140, 140), 7, np.uint8)).save(folder / "blank.png")
    table, cubes = prepare_inputs(find_images([folder]), progress=False)
    reasons = dict(zip(table["file"].map(lambda f: Path(f).name), table["message"]))
    assert set(table["status"]) == {"bad_input"}
    assert "empty" in reasons["empty.jpeg"] and "unreadable" in reasons["text.jpg"]
    assert "too_small" in reasons["small.png"] and "blank" in reasons["blank.png"]
    assert all(name in message for name, message in reasons.items())
    assert not cubes["raw"].any()


def test_resampled_run_needs_the_new_files_pixel_scale(tmp_path):
    path = write_colour(tmp_path / "a.jpeg", size=200)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    read = read_for_fit(path, InputRules(target_scale=0.2), scratch)
    assert read["fit_path"] is None and "--pixel-scale" in read["message"]
    read = read_for_fit(path, InputRules(target_scale=0.2, pixel_scale=0.15), scratch)
    assert fits.getdata(read["fit_path"]).shape == (150, 150)  # 200 px * 0.15 / 0.2


def test_run_input_rules_from_the_runs_summary(tmp_path):
    run = Run(tmp_path / "run")
    assert run_input_rules(run) == InputRules(source=run_input_rules(run).source)
    run.update_summary("data", {"input": {"channel": "luminance", "target_scale": 0.168, "nonfinite": "zero"}})
    rules = run_input_rules(run)
    assert (rules.channel, rules.target_scale, rules.nonfinite) == ("luminance", 0.168, "zero")


@pytest.mark.slow
def test_jpegs_scored_by_the_runs_networks(tiny_run, tmp_path, capsys):
    folder = tmp_path / "jpegs"
    folder.mkdir()
    for seed in range(3):
        write_colour(folder / f"g{seed}.jpeg", size=128 + 32 * seed, seed=seed, companion=bool(seed % 2))
    (folder / "empty.jpeg").write_bytes(b"")
    out = tmp_path / "scores.csv"
    code = main(["--models", str(tiny_run), "--images", str(folder), "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_csv(out)
    good = table[table["file"].str.endswith(("g0.jpeg", "g1.jpeg", "g2.jpeg"))]
    assert len(good) == 3 and (good["status"] == "ok").all() and (good["file_format"] == "jpeg").all()
    assert good["score_raw"].between(0, 1).all() and (good["channel"] == "r").all()
    captured = capsys.readouterr()
    assert "channel 'r'" in captured.out and "empty.jpeg" in captured.err


# --------------------------------------------------------------------------- several bands


def test_bands_of_a_jpeg_are_made_as_the_runs_products_make_them(tmp_path):
    """With bands, a JPEG gets the per-band cubes that ingest --bands, the stage and add_band_cubes give it."""
    from galmerge.data.catalog import load_catalog
    from galmerge.ingest import ingest
    from galmerge.sersic.products import add_band_cubes, write_products
    from galmerge.sersic.stage import fit_catalog_image

    images = tmp_path / "images"
    images.mkdir()
    write_colour(images / "pair.jpeg", size=160, seed=4, companion=True)
    (tmp_path / "labels.csv").write_text("filename,label\npair.jpeg,1\n")
    ingest(images, tmp_path / "labels.csv", tmp_path / "dataset", progress=False, bands="gri")
    catalog = load_catalog(tmp_path / "dataset")
    options = {"fitter": "lm"}
    fitted = fit_catalog_image(0, catalog.loc[0, "image_path"], fit_options=options)
    frame = pd.DataFrame({"ID": catalog["ID"], "split": ["test"], "label": [1], "status": [fitted["row"]["status"]]})
    write_products(tmp_path / "products", frame, pd.DataFrame({"ID": [0]}), {k: fitted[k][None] for k in
                                                                             ("raw", "model", "residual")})
    with add_band_cubes(tmp_path / "products", catalog, "gri", progress=False) as products:
        expected = {k: products.read(k, 0) for k in ("raw_bands", "model_bands", "residual_bands")}
    rules = InputRules(bands="gri")
    table, cubes = prepare_inputs([images / "pair.jpeg"], fit_options=options, progress=False, rules=rules)
    assert table.loc[0, "status"] == "ok"
    for name, value in expected.items():
        np.testing.assert_array_equal(cubes[name][0], value)
    np.testing.assert_array_equal(cubes["raw"][0], fitted["raw"])
    grey = tmp_path / "grey.png"
    from PIL import Image

    Image.fromarray(_display(_galaxy(140, 1))).save(grey)
    table, cubes = prepare_inputs([grey], progress=False, rules=rules)
    assert table.loc[0, "status"] == "bad_input" and "colour" in table.loc[0, "message"]
    assert cubes["raw_bands"].shape == (1, 128, 128, 3) and not cubes["raw_bands"].any()


@pytest.mark.slow
def test_jpegs_scored_by_a_three_band_network(tmp_path):
    from galmerge.sersic.products import add_band_cubes

    run = tmp_path / "run"
    folder = tmp_path / "cutouts"
    folder.mkdir()
    n = 12
    labels = np.arange(n) % 2
    files = [write_colour(folder / f"g{i}.jpeg", size=140, seed=i, companion=bool(labels[i])) for i in range(n)]
    options = {"fitter": "lm"}
    table, cubes = prepare_inputs(files, fit_options=options, progress=False)
    images = pd.DataFrame({"ID": np.arange(n), "split": ["train"] * 8 + ["validation"] * 2 + ["test"] * 2,
                           "label": labels, "status": table["status"]})
    products = write_products(Run(run).products, images, pd.DataFrame({"ID": [0]}), cubes)
    write_stage_record(products, stage_config(None, "crop", options))
    from galmerge.ingest import read_image, write_image_file

    catalog = []
    for i, path in enumerate(files):  # the band files the ingest would write
        loaded = read_image(path, bands="gri")
        write_image_file(tmp_path / f"objID_{i}.fits", loaded.image, bands="gri", bands_image=loaded.bands_image)
        catalog.append({"ID": i, "image_path": str(tmp_path / f"objID_{i}.fits"), "channel": "r"})
    add_band_cubes(products, pd.DataFrame(catalog), "gri", progress=False).close()
    train_network(products, "stack", Run(run).train_dir("stack"), epochs=1, batch_size=4, filters=2,
                  dense_units=(4, 4), seed=0, verbose=0, progress=False)
    Run(run).write_table("thresholds", pd.DataFrame({"kind": ["stack"], "threshold": [0.5]}), index=False)
    scored = predict(run, [folder], progress=False)
    assert scored.attrs["input_rules"]["bands"] == "gri"
    assert (scored["status"] == "ok").all() and scored["score_stack"].between(0, 1).all()
