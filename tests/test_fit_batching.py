"""Issue 23 item 4: the sources of several images in one LM batch (fit_images, the stage's chunks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmerge.data.catalog import load_catalog, load_psf
from galmerge.sersic import stage as fitting
from galmerge.sersic.fit import fit_image, fit_images
from galmerge.sersic.products import is_complete
from galmerge.vocab import CHANNELS

galsim = pytest.importorskip("galsim")
from galmerge.sersic import truth as sersic_truth  # noqa: E402  (needs galsim)

#: The LM fitter in process with the quick profile's fitting options.
LM = dict(cutout_mode="crop", n_workers=0, progress=False, fitter="lm", min_fit_area=25)
COMPARED = ["sersic_amplitude", "sersic_rhalf", "sersic_n", "sersic_xc", "sersic_yc", "sersic_ellip",
            "sersic_theta", "sersic_chi2_dof", "sersic_sky", "sersic_n_fixed", "sersic_ln_n_sigma", "flag_sersic",
            "used_in_model", "chi_mean", "chi_rms"]


@pytest.fixture(scope="module")
def galaxies():
    """Three GalSim images of different kinds: isolated, with neighbours, bright with Poisson noise."""
    return [sersic_truth.render_truth_set(1, kind, seed=7)[0] for kind in ("isolated", "neighbours", "bright")]


def _items(galaxies):
    return [dict(image=g["image"], seed=k) for k, g in enumerate(galaxies)]


def test_batched_fits_equal_the_fits_image_by_image(galaxies):
    """One LM batch for three images gives each source exactly its own image's fit, model and residual."""
    psf, gain = galaxies[0]["psf"], galaxies[2]["gain"]
    batched = fit_images(_items(galaxies), psf=psf, gain=gain, fitter="lm")
    alone = [fit_image(g["image"], psf=psf, gain=gain, fitter="lm", seed=k) for k, g in enumerate(galaxies)]
    assert sum(len(r.sources) for r in alone) > len(alone)  # the neighbours' image adds sources to the batch
    for one, many in zip(alone, batched):
        assert many.status == one.status == "ok"
        pd.testing.assert_frame_equal(many.sources[COMPARED], one.sources[COMPARED], check_exact=True)
        np.testing.assert_array_equal(many.model, one.model)
        np.testing.assert_array_equal(many.residual, one.residual)
        assert many.timing["time_fitter_s"] > 0 and many.timing["time_total_s"] >= many.timing["time_fitter_s"]


def test_each_image_keeps_its_own_sky_prior(galaxies):
    """A batch mixes images with and without a measured sky level: each source is fitted with its own
    image's prior (the bright image's level is not measured, so its sky is fitted freely)."""
    from galmerge.sersic.fitters import FitJob
    from galmerge.sersic.lm_fitter import LMFitter

    g = galaxies[0]
    data, c = g["image"], (g["image"].shape[0] - 1) / 2
    y, x = np.mgrid[:data.shape[0], :data.shape[1]]
    segmap = (np.hypot(x - c, y - c) < 12).astype(np.int32)
    job = FitJob(data=data, segmap=segmap, labels=np.array([1]), x_centroids=np.array([c]),
                 y_centroids=np.array([c]), fluxes=np.array([data[segmap == 1].sum()]),
                 bad=np.zeros(data.shape, bool), sigma=np.full(data.shape, g["sigma"]), gain=None, psf=g["psf"],
                 seed=0)
    held = FitJob(**{**job.__dict__, "sky_error": 0.0})  # sky not fitted: held at 0
    fitter = LMFitter()
    free_alone, held_alone = fitter.fit(job)[0], fitter.fit(held)[0]
    free_batched, held_batched = (fits[0] for fits in fitter.fit_many([job, held]))
    assert held_alone["sersic_sky"] == 0.0 and free_alone["sersic_sky"] != 0.0
    for alone, batched in ((free_alone, free_batched), (held_alone, held_batched)):
        for key in ("sersic_rhalf", "sersic_n", "sersic_sky", "flag_sersic"):
            assert batched[key] == alone[key], key


def test_a_bad_image_in_a_batch_is_its_own_error(galaxies):
    g = galaxies[0]
    items = [dict(image=g["image"]), dict(image=np.zeros((2, 8, 8))), dict(image=np.full((64, 64), 3.0))]
    results = fit_images(items, psf=g["psf"], fitter="lm", errors="return")
    assert results[0].status == "ok"
    assert isinstance(results[1], ValueError) and "2-D" in str(results[1])
    assert results[2].status == "bad_input"
    with pytest.raises(ValueError, match="2-D"):
        fit_images(items, psf=g["psf"], fitter="lm")
    alone = fit_image(g["image"], psf=g["psf"], fitter="lm")
    pd.testing.assert_frame_equal(results[0].sources[COMPARED], alone.sources[COMPARED], check_exact=True)


@pytest.fixture
def lm_dataset(make_fake_dataset):
    root = make_fake_dataset("lm", n=5, seed=8, image_size=160)
    return load_catalog(root), load_psf(root)


def _assert_same_products(a, b):
    for kind in CHANNELS:
        assert a.cube(kind)[:].tobytes() == b.cube(kind)[:].tobytes(), kind
    for left, right in ((a.images, b.images), (a.sources, b.sources)):
        columns = [c for c in left.columns if not c.startswith("time_")]
        pd.testing.assert_frame_equal(left[columns], right[columns], check_exact=True)


@pytest.mark.slow
def test_chunked_tasks_give_the_products_of_one_image_per_task(lm_dataset, tmp_path):
    catalog, psf = lm_dataset
    one = fitting.run_fitting_stage(catalog, tmp_path / "one", psf=psf, images_per_task=1, **LM)
    three = fitting.run_fitting_stage(catalog, tmp_path / "three", psf=psf, images_per_task=3, **LM)
    assert (one.images["status"] == "ok").all() and (one.images["n_used"] >= 1).all()
    _assert_same_products(one, three)
    # the CPU time of a chunk is shared among its images: every image gets a positive share
    assert (three.images["time_cpu_s"] > 0).all() and (three.images["time_fitter_s"] > 0).all()


@pytest.mark.slow
def test_a_killed_chunked_run_resumes_to_the_same_products(lm_dataset, tmp_path, monkeypatch):
    catalog, psf = lm_dataset
    clean = fitting.run_fitting_stage(catalog, tmp_path / "clean", psf=psf, images_per_task=2, **LM)
    real = fitting.fit_catalog_images
    fitted = []

    def killed_in_the_second_chunk(images, *args, **kwargs):
        if fitted:
            raise KeyboardInterrupt  # the run is killed while the second chunk is being fitted
        fitted.extend(image_id for image_id, _ in images)
        return real(images, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit_catalog_images", killed_in_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        fitting.run_fitting_stage(catalog, tmp_path / "resumed", psf=psf, images_per_task=2, **LM)
    parts = sorted(p.stem for p in (tmp_path / "resumed" / "parts").glob("*.npz"))
    assert parts == sorted(str(i) for i in fitted) and len(parts) == 2  # the first chunk's parts only
    assert not is_complete(tmp_path / "resumed")

    def recording(images, *args, **kwargs):
        fitted.extend(image_id for image_id, _ in images)
        return real(images, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit_catalog_images", recording)
    # resumed in other chunks (3 per task): the fits do not depend on which images share a batch
    resumed = fitting.run_fitting_stage(catalog, tmp_path / "resumed", psf=psf, images_per_task=3, **LM)
    assert sorted(fitted) == sorted(catalog["ID"].tolist())  # each image fitted exactly once overall
    _assert_same_products(clean, resumed)


def test_chunks_keep_the_catalogue_order():
    paths = {i: f"{i}.fits" for i in (5, 3, 9, 1, 7)}
    assert fitting._chunks(paths, 2) == [[(5, "5.fits"), (3, "3.fits")], [(9, "9.fits"), (1, "1.fits")],
                                         [(7, "7.fits")]]
    assert fitting._chunks(paths, 0) == [[(i, p)] for i, p in paths.items()]
