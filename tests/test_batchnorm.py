"""Batch-normalisation statistics re-estimated without dropout (galmerge.nets.batchnorm).

Independent truth: the statistics a normalisation layer should hold at inference are the mean and
(biased) variance of the inputs it receives at inference, computed here with numpy from the layers'
own weights, with dropout off; Keras' moving averages, trained with dropout, carry its extra
variance (Li et al. 2019), which these tests also show so that they could fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_training import TINY, synthetic_products

from galmerge.nets import batchnorm, training


def _two_norm_network(dropout=0.5, seed=0):
    """Dense -> BN -> Dropout -> Dense -> BN -> output: the second norm sees dropout during training."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(6,))
    x = layers.BatchNormalization(momentum=0.9, name="bn1")(inputs)
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.Dense(5, name="dense", kernel_initializer="glorot_normal", bias_initializer="zeros")(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn2")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def _inference_inputs_of_bn2(model, data):
    """What bn2 receives at inference (dropout off), from the layers' weights, in numpy."""
    bn1 = model.get_layer("bn1")
    gamma, beta, mean, var = (np.asarray(w) for w in bn1.get_weights())
    x = gamma * (data - mean) / np.sqrt(var + bn1.epsilon) + beta
    kernel, bias = (np.asarray(w) for w in model.get_layer("dense").get_weights())
    return x @ kernel + bias


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return (rng.normal(3.0, 2.0, (4096, 6)) * np.arange(1, 7)).astype(np.float32)


def test_recalibrated_statistics_are_those_seen_at_inference_and_dropout_inflated_the_moving_ones(data):
    model = _two_norm_network()
    for start in range(0, len(data), 64):  # Keras' own moving averages, dropout on (training mode)
        model(data[start:start + 64], training=True)
    shifted_var = np.asarray(model.get_layer("bn2").moving_variance)

    used = batchnorm.recalibrate(model, (data[s:s + 512] for s in range(0, len(data), 512)))
    assert used == len(data)
    bn1, bn2 = model.get_layer("bn1"), model.get_layer("bn2")
    # bn1 sees the data itself: the mean of equal batches' means is the mean; variances within 1 %
    np.testing.assert_allclose(bn1.moving_mean, data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance, data.var(axis=0), rtol=0.01)
    # bn2: the statistics of its inference inputs, which dropout (rate 0.5) had roughly doubled
    truth = _inference_inputs_of_bn2(model, data)
    np.testing.assert_allclose(bn2.moving_mean, truth.mean(axis=0), atol=0.02 * truth.std(axis=0).max())
    np.testing.assert_allclose(bn2.moving_variance, truth.var(axis=0), rtol=0.03)
    assert np.all(shifted_var > 1.5 * np.asarray(bn2.moving_variance))


def test_weights_rates_and_momenta_are_restored_even_when_reading_fails(data):
    model = _two_norm_network()
    kernel = model.get_layer("dense").kernel.numpy().copy()
    variance = model.get_layer("bn2").moving_variance.numpy().copy()

    def failing():
        yield data[:256]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        batchnorm.recalibrate(model, failing())
    assert model.get_layer("drop").rate == 0.5
    assert model.get_layer("bn1").momentum == model.get_layer("bn2").momentum == 0.9
    np.testing.assert_array_equal(model.get_layer("dense").kernel.numpy(), kernel)
    np.testing.assert_array_equal(model.get_layer("bn2").moving_variance.numpy(), variance)
    assert batchnorm.recalibrate(model, iter([])) == 0  # nothing to read: nothing changes
    np.testing.assert_array_equal(model.get_layer("bn2").moving_variance.numpy(), variance)


def test_training_with_recalibration_records_it_and_saves_the_corrected_network(tmp_path):
    products = synthetic_products(tmp_path / "products", n=40)
    result = training.train_network(products, "raw", tmp_path / "raw", epochs=2, seed=3,
                                    batch_norm_recalibration=True, **TINY)
    assert result.config["parameters"]["batch_norm_recalibration"] is True
    # the saved network is the one the monitor scored: its validation scores reproduce the kept epoch's
    assert result.config["results"]["val_accuracy_rescored"] == pytest.approx(result.val_accuracy_best)
    plain = training.train_network(products, "raw", tmp_path / "plain", epochs=2, seed=3, **TINY)
    assert plain.config["parameters"]["batch_norm_recalibration"] is False
    saved = [np.asarray(w) for w in training.read_network(tmp_path / "raw").get_layer("conv2_bn").get_weights()]
    kept = [np.asarray(w) for w in training.read_network(tmp_path / "plain").get_layer("conv2_bn").get_weights()]
    assert not np.allclose(saved[3], kept[3])  # different moving variances: the correction reached the file
