"""The rotational asymmetry map that ``asymmetry_channel`` hands the network (galmerge.nets.asymmetry)."""

from __future__ import annotations

import numpy as np

from galmerge.nets import cnn


def _layer_output(images: np.ndarray) -> np.ndarray:
    from galmerge.nets.asymmetry import RotationalAsymmetryMap

    return np.asarray(RotationalAsymmetryMap()(images.astype(np.float32)))


def _centred_grid(side: int):
    # pixel centres about the point the 180-degree turn keeps fixed (between the central pixels)
    y, x = np.mgrid[:side, :side] - (side - 1) / 2
    return y, x


def test_a_point_symmetric_galaxy_has_an_empty_map():
    # an elliptical exponential profile centred where the turn is centred: I(r) = I(-r) exactly
    y, x = _centred_grid(64)
    galaxy = np.exp(-np.hypot(x, y / 0.6) / 5.0)
    out = _layer_output(galaxy[None, :, :, None])
    np.testing.assert_array_equal(out[0, ..., 0], galaxy.astype(np.float32))  # the image passes unchanged
    assert np.all(out[0, ..., 1] == 0.0)  # a constant map (zero difference) becomes 0


def test_an_off_centre_companion_appears_with_its_mirror_image_of_opposite_sign():
    y, x = _centred_grid(64)
    galaxy = np.exp(-np.hypot(x, y) / 5.0)
    companion = np.zeros_like(galaxy)
    companion[10, 50] = 3.0  # a point source 22 px from the centre
    out = _layer_output((galaxy + companion)[None, :, :, None])[0, ..., 1]
    # the difference is +3 at the companion and -3 at its mirror (53, 13); normalised to [0, 1]
    assert out[10, 50] == 1.0 and out[53, 13] == 0.0
    others = np.delete(out.ravel(), [10 * 64 + 50, 53 * 64 + 13])
    np.testing.assert_allclose(others, 0.5, atol=1e-6)  # zero difference sits half-way


def test_the_map_is_the_image_less_its_180_degree_turn_per_channel_and_image():
    rng = np.random.default_rng(4)
    images = rng.random((3, 16, 16, 2)).astype(np.float32)
    out = _layer_output(images)
    assert out.shape == (3, 16, 16, 4)
    for n in range(3):
        for c in range(2):
            difference = images[n, ..., c] - np.rot90(images[n, ..., c], 2)
            expected = (difference - difference.min()) / (difference.max() - difference.min())
            np.testing.assert_allclose(out[n, ..., 2 + c], expected, atol=1e-6)
            np.testing.assert_array_equal(out[n, ..., c], images[n, ..., c])


def test_network_with_the_map_counts_its_parameters_and_survives_saving(tmp_path):
    from galmerge.nets.training import MODEL_FILE
    from galmerge.runs import read_network

    kernels = cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, 2)
    model = cnn.build_model(input_shape=(128, 128, 3), filters=4, kernel_sizes=kernels, dense_units=(8, 4),
                            input_bin=2, asymmetry_channel=True)
    assert model.input_shape == (None, 128, 128, 3)  # the saved network takes the same inputs
    assert model.get_layer("conv1").kernel.shape[2] == 6  # but its first layer sees 2 C channels
    assert cnn.count_trainable_params(model) == cnn.trainable_parameter_count(
        (128, 128, 3), 4, kernels, (8, 4), input_bin=2, asymmetry_channel=True)
    images = np.random.default_rng(0).random((2, 128, 128, 3)).astype(np.float32)
    model.save(tmp_path / MODEL_FILE)
    loaded = read_network(tmp_path)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
