"""Several bands (issue 32 item 1): per-band products from one structural model, C-channel networks, and
the single-band products left exactly as they were."""

import numpy as np
import pandas as pd
import pytest

from galmerge.ingest import write_image_file
from galmerge.sersic.products import (
    Products,
    ProductsError,
    add_band_cubes,
    band_cubes,
    remove_band_cubes,
    write_products,
)


def _blob(size=128, dx=0.0, sigma=8.0, amplitude=50.0):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return (amplitude * np.exp(-((xx - dx) ** 2 + yy ** 2) / (2 * sigma ** 2))).astype(np.float32)


def test_band_scales_from_one_structural_model():
    """g = 0.5 model + sky 2, r = 0.8 model + sky 3, i (fitted): each band's model is its scale times the
    i-band model; the sky stays in the residual; the fitted band keeps its own model and residual."""
    model = _blob()
    rng = np.random.default_rng(0)
    residual_i = rng.normal(0, 0.1, model.shape).astype(np.float32)
    cube = np.stack([0.5 * model + 2, 0.8 * model + 3, model + residual_i])
    made = band_cubes(cube, model, residual_i, fitted_band=2)
    np.testing.assert_allclose(made["scales"], [0.5, 0.8, 1.0], rtol=1e-5)
    assert made["raw"].shape == made["model"].shape == made["residual"].shape == (128, 128, 3)
    np.testing.assert_array_equal(made["model"][..., 2], model)
    np.testing.assert_array_equal(made["residual"][..., 2], residual_i)
    np.testing.assert_allclose(made["residual"][..., 0], 2.0, atol=1e-4)
    np.testing.assert_allclose(made["model"][..., 1], 0.8 * model, rtol=1e-5)


def test_a_companion_of_another_colour_stays_in_the_residual():
    """A blue companion that the i-band model lacks: the g residual holds it, the i residual does not."""
    primary, companion = _blob(), _blob(dx=30, sigma=4)
    cube = np.stack([0.3 * primary + companion, 0.6 * primary + 0.3 * companion, primary])
    made = band_cubes(cube, primary, np.zeros_like(primary), fitted_band=2)
    g = made["residual"][..., 0]
    assert g[64, 64 + 30] > 0.8 * companion.max()
    assert np.abs(g[64, 64 - 30]) < 0.05 * companion.max()


def test_no_model_gives_zero_scales():
    cube = np.stack([_blob()] * 3)
    made = band_cubes(cube, np.zeros((128, 128), np.float32))
    assert (made["scales"] == 0).all() and (made["model"] == 0).all()
    np.testing.assert_array_equal(made["residual"], made["raw"])


@pytest.fixture()
def band_products(tmp_path):
    """Products of four images (one of them failed in the stage) and their band files (gri, primary = i)."""
    n = 4
    rng = np.random.default_rng(1)
    cubes = {"raw": [], "model": [], "residual": []}
    rows = []
    for k in range(n):
        model = _blob(160, dx=5 * k)
        bands = np.stack([0.4 * model, 0.7 * model, model]) + rng.normal(0, 0.5, (3, 160, 160)).astype(np.float32)
        path = tmp_path / f"objID_{k}.fits"
        write_image_file(path, bands[2], bands="gri", bands_image=bands)
        crop = slice(16, 144)
        cubes["raw"].append(bands[2][crop, crop])
        cubes["model"].append(model[crop, crop])
        cubes["residual"].append(bands[2][crop, crop] - model[crop, crop])
        rows.append({"ID": k, "image_path": str(path), "channel": "r"})
    cubes = {k: np.stack(v).astype(np.float32) for k, v in cubes.items()}
    images = pd.DataFrame({"ID": np.arange(n), "split": ["train", "train", "validation", "test"],
                           "label": [0, 1, 1, 1], "status": ["ok", "ok", "ok", "error"]})
    path = write_products(tmp_path / "products", images, pd.DataFrame({"ID": [0]}), cubes)
    return path, pd.DataFrame(rows), cubes


def test_add_band_cubes_and_read_them_as_channels(band_products):
    path, catalog, cubes = band_products
    with Products(path) as before:
        assert before.bands is None and before.input_channels("stack") == ("raw", "model", "residual")
    products = add_band_cubes(path, catalog, "gri", progress=False)
    with products:
        assert products.bands == "gri"
        assert products.input_channels("raw") == ("raw_bands",)
        assert products.read(products.input_channels("raw"), [0, 2, 0]).shape == (3, 128, 128, 3)
        assert products.read(products.input_channels("stack"), slice(0, 2)).shape == (2, 128, 128, 9)
        assert products.read(products.input_channels("model"), 1).shape == (128, 128, 3)
        np.testing.assert_array_equal(products.read("raw_bands", 1)[..., 2], cubes["raw"][1])  # i = the primary
        np.testing.assert_array_equal(products.read("residual_bands", 1)[..., 2], cubes["residual"][1])
        np.testing.assert_array_equal(products.read(["raw"], [1, 0]), cubes["raw"][[1, 0]][..., None])  # unchanged
        scales = products.band_scales()
        np.testing.assert_allclose(scales[:3], [[0.4, 0.7, 1.0]] * 3, atol=0.01)
        assert (scales[3] == 0).all() and not products.read("raw_bands", 3).any()  # failed in the stage: zeros
        assert products.read(products.input_channels("raw"), np.array([], dtype=int)).shape == (0, 128, 128, 3)
    add_band_cubes(path, catalog, "gri", progress=False).close()  # the same bands again: kept as they are
    with remove_band_cubes(path) as products:
        assert products.bands is None and products.input_channels("raw") == ("raw",)
        with pytest.raises(ProductsError, match="one band"):
            products.cube("raw_bands")


def test_files_without_bands_are_a_clear_error(band_products, tmp_path):
    path, catalog, _ = band_products
    with pytest.raises(ProductsError, match="objID_0.fits: bands 'gri', the run asks for 'grz'"):
        add_band_cubes(path, catalog, "grz", progress=False)
    write_image_file(tmp_path / "plain.fits", _blob(160))
    plain = catalog.assign(image_path=[str(tmp_path / "plain.fits")] + catalog["image_path"].tolist()[1:])
    with pytest.raises(ProductsError, match=r"plain\.fits.*--bands"):
        add_band_cubes(path, plain, "gri", progress=False)
    with Products(path) as products:
        assert products.bands is None  # a failed call leaves no bands behind


@pytest.mark.slow
def test_a_network_on_three_bands(band_products, tmp_path):
    from galmerge.nets.training import predict_scores, train_network

    path, catalog, _ = band_products
    add_band_cubes(path, catalog, "gri", progress=False).close()
    result = train_network(path, "raw", tmp_path / "train", epochs=1, batch_size=2, filters=2, dense_units=(4, 4),
                           seed=0, verbose=0, progress=False)
    from galmerge.runs import read_config, read_network

    model = read_network(tmp_path / "train")
    assert tuple(model.input_shape[1:]) == (128, 128, 3)
    assert read_config(tmp_path / "train")["parameters"]["channels"] == ["raw_bands"]
    scores = predict_scores(model, path, [0, 1, 2], "raw")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert result.n_params > 0


def test_occlusion_reads_and_fills_every_band(band_products):
    from galmerge.nets import occlusion

    path, catalog, _ = band_products
    with add_band_cubes(path, catalog, "gri", progress=False) as products:
        image = occlusion.network_inputs(products, "stack", [1])[0]
        assert image.shape == (128, 128, 9) and image.min() >= 0 and image.max() <= 1
        patch = occlusion.fill_for_kind("stack", image, seed=0)((8, 8, 9))
        assert not patch[..., 3:6].any() and patch[..., :3].any() and patch[..., 6:].any()  # model bands: zeros
        assert occlusion.fill_for_kind("model", occlusion.network_inputs(products, "model", [1])[0]) == 0.0
