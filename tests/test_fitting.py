"""galmerge.sersic.stage: the fitting stage over a dataset (products contract, resume, bad inputs, Dask)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_fake_image

from galmerge.data.catalog import load_catalog, load_psf
from galmerge.sersic import stage as fitting
from galmerge.sersic.products import Products, is_complete
from galmerge.sersic.stage import StageError, run_fitting_stage
from galmerge.vocab import CHANNELS

#: tiny images, resampled to 128 (crop needs >= 128 px): the plumbing, not the science
FAST = dict(cutout_mode="resample", n_workers=0, progress=False)


@pytest.fixture
def dataset(make_fake_dataset):
    root = make_fake_dataset("ds", n=5, seed=4, image_size=64)
    return root, load_catalog(root), load_psf(root)


def _assert_same_products(a: Products, b: Products) -> None:
    """Equal cubes byte for byte; equal tables apart from wall-clock columns."""
    for kind in CHANNELS:
        assert a.cube(kind)[:].tobytes() == b.cube(kind)[:].tobytes(), kind
    for left, right in ((a.images, b.images), (a.sources, b.sources)):
        columns = [c for c in left.columns if not c.startswith("time_")]
        assert list(left.columns) == list(right.columns)
        pd.testing.assert_frame_equal(left[columns], right[columns])


@pytest.mark.slow
def test_products_hold_every_image_once_in_catalogue_order(dataset, tmp_path):
    _, catalog, psf = dataset
    products = run_fitting_stage(catalog, tmp_path / "products", psf=psf, **FAST)
    assert is_complete(tmp_path / "products") and not (tmp_path / "products" / "parts").exists()
    images = products.images
    assert images["ID"].tolist() == catalog["ID"].tolist()
    for column in ("ID", "split", "label", "stage", "redshift", "merger_time", "snapnum", "sequence_ID",
                   "status", "n_sources", "sersic_n", "sersic_rhalf", "sersic_ellip", "flag",
                   "flag_sersic", "time_image_s", "true_redshift"):
        assert column in images.columns, column
    assert (images["status"] == "ok").all()
    assert products.cube("raw").shape == (len(catalog), 128, 128)
    assert set(products.sources["ID"]) == set(catalog["ID"])
    assert (products.sources.groupby("ID")["is_primary"].sum() == 1).all()
    # the residual cube is raw - model, as the full-size residual was (resampling is linear)
    raw, model, residual = (products.cube(k)[:] for k in CHANNELS)
    np.testing.assert_allclose(residual, raw - model, atol=1e-4 * np.abs(raw).max())
    assert np.abs(model).sum() > 0


@pytest.mark.slow
def test_interrupted_run_resumes_to_identical_products(dataset, tmp_path, monkeypatch):
    _, catalog, psf = dataset
    clean = run_fitting_stage(catalog, tmp_path / "clean", psf=psf, **FAST)

    real = fitting.fit_catalog_images
    calls = []

    def dies_after_two(images, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a user's Ctrl-C (or a killed job) midway
        calls.extend(image_id for image_id, _ in images)
        return real(images, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit_catalog_images", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_fitting_stage(catalog, tmp_path / "resumed", psf=psf, images_per_task=2, **FAST)
    parts = sorted((tmp_path / "resumed" / "parts").glob("*.npz"))
    assert len(parts) == 2 and not is_complete(tmp_path / "resumed")
    with pytest.raises(Exception, match="incomplete"):
        Products(tmp_path / "resumed")

    monkeypatch.setattr(fitting, "fit_catalog_images", _recording(real, calls))
    resumed = run_fitting_stage(catalog, tmp_path / "resumed", psf=psf, **FAST)
    assert sorted(calls) == sorted(catalog["ID"].tolist())  # each image fitted exactly once overall
    _assert_same_products(clean, resumed)


def _recording(real, calls):
    """``fit_catalog_images`` that records the IDs it fits in ``calls``."""
    def fit(images, *args, **kwargs):
        calls.extend(image_id for image_id, _ in images)
        return real(images, *args, **kwargs)
    return fit


@pytest.mark.slow
def test_limit_runs_in_slices_and_finished_products_are_reused(dataset, tmp_path, monkeypatch):
    _, catalog, psf = dataset
    assert run_fitting_stage(catalog, tmp_path / "p", psf=psf, limit=3, **FAST) is None
    assert len(list((tmp_path / "p" / "parts").glob("*.npz"))) == 3
    products = run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    assert len(products) == len(catalog)

    def must_not_fit(*args, **kwargs):
        raise AssertionError("finished products must be reused, not refitted")

    monkeypatch.setattr(fitting, "fit_catalog_images", must_not_fit)
    again = run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    _assert_same_products(products, again)


@pytest.mark.slow
def test_other_options_are_recomputed_and_say_why(dataset, tmp_path):
    _, catalog, psf = dataset
    run_fitting_stage(catalog, tmp_path / "p", psf=psf, limit=1, **FAST)
    with pytest.warns(fitting.CacheWarning, match=r"discarding them \(fit_options.flag_policy: 'suspect' -> 'good'\)"):
        run_fitting_stage(catalog, tmp_path / "p", psf=psf, limit=1, flag_policy="good", **FAST)
    products = run_fitting_stage(catalog, tmp_path / "p", psf=psf, flag_policy="good", **FAST)
    assert len(products) == len(catalog)
    assert json.loads((tmp_path / "p" / "stage.json").read_text())["fit_options"]["flag_policy"] == "good"


@pytest.mark.slow
def test_fitter_and_background_are_recorded_and_a_change_refits(dataset, tmp_path):
    _, catalog, psf = dataset
    products = run_fitting_stage(catalog, tmp_path / "p", psf=psf, fitter="lm", background="flat", **FAST)
    config = fitting.stage_config(psf, "resample", {"fitter": "lm", "background": "flat"})
    assert config["fit_options"]["fitter"] == "lm" and config["fit_options"]["background"] == "flat"
    assert (products.images["status"] == "ok").all()
    assert (products.images["flag_sersic"] <= 1).all()
    # defaults are recorded too: products of the default fitter are not mistaken for LM ones
    assert fitting.stage_config(psf, "resample", {})["fit_options"]["fitter"] == "statmorph"
    with pytest.warns(fitting.CacheWarning, match="fit_options.fitter: 'lm' -> 'statmorph'"):
        again = run_fitting_stage(catalog, tmp_path / "p", psf=psf, fitter="statmorph", background="flat",
                                  **FAST)
    assert len(again) == len(catalog)


def test_the_cache_key_holds_every_default_and_the_code(monkeypatch):
    from galmerge.runs import source_fingerprint
    from galmerge.sersic import fit as sersic

    key = fitting.stage_config(None, "crop", {})
    assert key["code_fingerprint"] == source_fingerprint(fitting.FITTING_MODULES)
    assert "galmerge_version" not in key and "part_format" not in key
    # the fitters' code, the LM fitter's numerics among it, makes the products
    assert {"galmerge.sersic.fit", "galmerge.sersic.lm", "galmerge.sersic.statmorph_fitter"} <= set(
        fitting.FITTING_MODULES)
    assert set(key["libraries"]) == {"statmorph", "sep", "astropy", "scipy", "numpy"}
    # every keyword option of fit_image and every detection default is in the key
    assert set(sersic.DETECTION_DEFAULTS) <= set(key["fit_options"])
    assert {"flag_policy", "max_flux_ratio", "min_fit_area", "statmorph_mode", "fitter", "background"} \
        <= set(key["fit_options"])
    monkeypatch.setitem(sersic.DETECTION_DEFAULTS, "thresh", 2.0)
    assert "fit_options.thresh: 1.5 -> 2.0" in fitting.config_change(key, fitting.stage_config(None, "crop", {}))
    monkeypatch.setattr(fitting, "source_fingerprint", lambda modules: "0123456789ab")
    assert f"code_fingerprint: {key['code_fingerprint']!r} -> '0123456789ab'" in fitting.config_change(
        key, fitting.stage_config(None, "crop", {}))
    assert fitting.config_change(None, key) and fitting.config_change(key, dict(key)) is None


def _write_module(folder: Path, body: str) -> None:
    (folder / "fitting_code_probe.py").write_text(body)


def test_source_fingerprint_follows_the_code_not_its_docs(tmp_path, monkeypatch):
    """A temporary module stands for sersic/lm.py: a change to its code changes the fingerprint, and so the
    stage's key; a change to its docstrings or comments does not."""
    import importlib

    from galmerge.runs import source_fingerprint

    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, '"""Probe."""\nMAX_ITER = 150\n\n\ndef step(x):\n    return x + 1\n')
    importlib.invalidate_caches()
    first = source_fingerprint(["fitting_code_probe"])
    assert len(first) == 12 and int(first, 16) >= 0
    _write_module(tmp_path, '"""Probe, documented anew."""\nMAX_ITER = 150  # why 150\n\n\n'
                  'def step(x):\n    """One step."""\n    return x + 1\n')
    assert source_fingerprint(["fitting_code_probe"]) == first
    _write_module(tmp_path, '"""Probe."""\nMAX_ITER = 151\n\n\ndef step(x):\n    return x + 1\n')
    changed = source_fingerprint(["fitting_code_probe"])
    assert changed != first
    # in the stage's key: the probe's change is named as a change of the code
    monkeypatch.setattr(fitting, "FITTING_MODULES", (*fitting.FITTING_MODULES, "fitting_code_probe"))
    _write_module(tmp_path, '"""Probe."""\nMAX_ITER = 150\n\n\ndef step(x):\n    return x + 1\n')
    old = fitting.stage_config(None, "crop", {})
    _write_module(tmp_path, '"""Probe."""\nMAX_ITER = 151\n\n\ndef step(x):\n    return x + 1\n')
    assert fitting.config_change(old, fitting.stage_config(None, "crop", {})).startswith("code_fingerprint: ")
    with pytest.raises(ValueError, match="no module named 'galmerge.no_such_module'"):
        source_fingerprint(["galmerge.no_such_module"])


@pytest.mark.slow
def test_finished_products_recompute_when_a_default_or_the_code_changes(dataset, tmp_path, monkeypatch):
    from galmerge.sersic import fit as sersic

    _, catalog, psf = dataset
    run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    fitted = []
    monkeypatch.setattr(fitting, "fit_catalog_images", _recording(fitting.fit_catalog_images, fitted))
    run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    assert fitted == []  # same key: reused
    monkeypatch.setitem(sersic.DETECTION_DEFAULTS, "minarea", 6)
    with pytest.warns(fitting.CacheWarning, match="fit_options.minarea: 5 -> 6"):
        run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    assert sorted(fitted) == sorted(catalog["ID"])
    fitted.clear()
    # an edit of the fitting code (sersic/lm.py, say) changes the fingerprint: everything is refitted
    (tmp_path / "code").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.setattr(fitting, "FITTING_MODULES", (*fitting.FITTING_MODULES, "fitting_code_probe"))
    _write_module(tmp_path / "code", "MAX_ITER = 150\n")
    run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    fitted.clear()
    _write_module(tmp_path / "code", "MAX_ITER = 151\n")
    with pytest.warns(fitting.CacheWarning, match="code_fingerprint: '[0-9a-f]{12}' -> '[0-9a-f]{12}'"):
        products = run_fitting_stage(catalog, tmp_path / "p", psf=psf, **FAST)
    assert sorted(fitted) == sorted(catalog["ID"]) and len(products) == len(catalog)


@pytest.mark.slow
def test_bad_images_get_a_status_and_the_run_carries_on(make_fake_dataset, tmp_path):
    root = make_fake_dataset("bad", n=6, seed=5, image_size=64)
    catalog = load_catalog(root)
    paths = [Path(p) for p in catalog["image_path"]]
    noise = np.random.default_rng(0).normal(0.0, 0.01, (64, 64)).astype(np.float32)
    hot = noise.copy()
    hot[32, 32] = 100.0
    write_fake_image(paths[0], np.full((64, 64), np.nan, np.float32))   # all NaN
    write_fake_image(paths[1], np.zeros((64, 64), np.float32))          # blank
    write_fake_image(paths[2], np.zeros((2, 64, 64), np.float32))       # 3-D
    write_fake_image(paths[3], hot)                                      # one hot pixel on noise
    products = run_fitting_stage(catalog, tmp_path / "p", **FAST)
    images = products.images.set_index("ID")
    ids = catalog["ID"].tolist()
    assert images.loc[ids[0], "status"] == "bad_input" and "finite" in images.loc[ids[0], "message"]
    assert images.loc[ids[1], "status"] == "bad_input" and "constant" in images.loc[ids[1], "message"]
    assert images.loc[ids[2], "status"] == "bad_input" and "shape" in images.loc[ids[2], "message"]
    assert images.loc[ids[3], "status"] == "all_fits_failed"
    assert (images.loc[ids[4:], "status"] == "ok").all()  # the good ones after them were fitted
    assert images.loc[ids[:3], "sersic_n"].isna().all()
    assert len(products) == len(catalog) and not products.cube("model")[:4].any()


@pytest.mark.slow
def test_dask_workers_give_the_same_products_as_in_process(make_fake_dataset, tmp_path):
    root = make_fake_dataset("dask", n=2, seed=6, image_size=64)
    catalog, psf = load_catalog(root), load_psf(root)
    local = run_fitting_stage(catalog, tmp_path / "local", psf=psf, **FAST)
    dask = run_fitting_stage(catalog, tmp_path / "dask", psf=psf,
                             **{**FAST, "n_workers": 1})
    _assert_same_products(local, dask)


def test_catalogue_problems_are_clear_errors(dataset, tmp_path):
    _, catalog, _ = dataset
    with pytest.raises(StageError, match="duplicate"):
        run_fitting_stage(pd.concat([catalog, catalog.iloc[:1]]), tmp_path / "p", **FAST)
    with pytest.raises(StageError, match="lacks"):
        run_fitting_stage(catalog.drop(columns="split"), tmp_path / "p", **FAST)
    with pytest.raises(ValueError, match="cutout_mode"):
        run_fitting_stage(catalog, tmp_path / "p", **{**FAST, "cutout_mode": "zoom"})
    with pytest.raises(ValueError, match="fit_region"):
        run_fitting_stage(catalog, tmp_path / "p", fit_region="cutout", **FAST)  # FAST resamples


def test_crop_fit_box_is_the_central_crop_grown_by_the_margin():
    assert fitting.crop_fit_box((320, 320)) == (96 - fitting.FIT_MARGIN, 224 + fitting.FIT_MARGIN,
                                              96 - fitting.FIT_MARGIN, 224 + fitting.FIT_MARGIN)
    assert fitting.crop_fit_box((128, 160), margin=0) == (0, 128, 16, 144)
