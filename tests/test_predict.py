"""galmerge.predict: scoring new cutouts with a finished run's networks, bad files reported."""


import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.modeling.models import Sersic2D

from galmerge.nets.training import train_network
from galmerge.predict import main, predict
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
