"""The paper's network: layer order, output, parameter count (and the paper's discrepancy)."""

from __future__ import annotations

import pytest

from galmerge.nets import cnn


def test_paper_width_has_7594241_trainable_parameters_with_valid_padding():
    model = cnn.build_model()  # the paper's widths; built, never trained
    assert cnn.DEFAULT_PADDING == "valid"
    assert cnn.count_trainable_params(model) == 7_594_241
    assert cnn.trainable_parameter_count() == 7_594_241
    # the paper's quoted count is not what its layer list gives (documented in galmerge.nets.cnn)
    assert cnn.count_trainable_params(model) != cnn.PAPER_QUOTED_TRAINABLE_PARAMS
    # non-trainable: the moving mean and variance of 3 x 128 + 512 + 128 batch-norm channels
    assert model.count_params() - 7_594_241 == 2 * (3 * 128 + 512 + 128)


@pytest.mark.parametrize("kwargs", [
    dict(input_shape=(128, 128, 1), filters=32, dense_units=(128, 32)),
    dict(input_shape=(128, 128, 3), filters=[4, 6, 8], kernel_sizes=(5, 3, 3), dense_units=(16, 8)),
    dict(input_shape=(64, 64, 2), filters=3, kernel_sizes=(7, 5), dense_units=(10,), padding="same"),
])
def test_arithmetic_count_matches_the_built_model(kwargs):
    model = cnn.build_model(**kwargs)
    assert cnn.count_trainable_params(model) == cnn.trainable_parameter_count(
        kwargs["input_shape"], kwargs["filters"], kwargs.get("kernel_sizes", cnn.PAPER_KERNEL_SIZES),
        kwargs["dense_units"], kwargs.get("padding", cnn.DEFAULT_PADDING))


def test_same_padding_would_give_a_far_larger_network():
    assert cnn.trainable_parameter_count(padding="same") > 2 * cnn.PAPER_QUOTED_TRAINABLE_PARAMS


def test_feature_map_sizes_of_the_paper_network():
    assert cnn.feature_map_sizes(128) == [(116, 58), (48, 24), (16, 8)]


def test_layer_order_output_and_compilation():
    model = cnn.build_model(filters=4, dense_units=(8, 4))
    names = [layer.__class__.__name__ for layer in model.layers[1:]]
    block = ["Conv2D", "ReLU", "BatchNormalization", "Dropout", "MaxPooling2D"]
    dense = ["Dense", "ReLU", "BatchNormalization", "Dropout"]
    assert names == block * 3 + ["Flatten"] + dense * 2 + ["Dense"]
    assert [layer.kernel_size for layer in model.layers if layer.__class__.__name__ == "Conv2D"] == \
           [(13, 13), (11, 11), (9, 9)]
    assert all(layer.rate == 0.2 for layer in model.layers if layer.__class__.__name__ == "Dropout")
    output = model.layers[-1]
    assert output.units == 1 and output.activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)
    assert model.loss == "binary_crossentropy"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(3e-4)


def test_mixed_precision_keeps_a_float32_output():
    model = cnn.build_model(filters=2, dense_units=(4, 2), mixed_precision=True)
    assert model.get_layer("conv1").compute_dtype == "float16"
    assert model.get_layer("conv1").variable_dtype == "float32"
    assert model.get_layer("merger_probability").compute_dtype == "float32"
    assert model.optimizer.__class__.__name__ == "LossScaleOptimizer"


@pytest.mark.parametrize("kwargs, message", [
    (dict(filters=[4, 4]), "3 kernel sizes"),
    (dict(input_shape=(20, 20, 1)), "too small"),
    (dict(padding="full"), "padding"),
    (dict(dropout=1.0), "dropout"),
])
def test_invalid_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cnn.build_model(**kwargs)


def test_binned_input_network_keeps_the_128px_input_and_counts_its_parameters():
    kernels = cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, 2)
    assert kernels == (7, 6, 5)
    assert cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, 1) == cnn.PAPER_KERNEL_SIZES
    model = cnn.build_model(filters=4, kernel_sizes=kernels, dense_units=(8, 4), input_bin=2)
    assert model.input_shape == (None, 128, 128, 1)
    assert cnn.count_trainable_params(model) == cnn.trainable_parameter_count(
        filters=4, kernel_sizes=kernels, dense_units=(8, 4), input_bin=2)
    with pytest.raises(ValueError, match="input_bin"):
        cnn.build_model(filters=4, kernel_sizes=kernels, dense_units=(8, 4), input_bin=3)
    with pytest.raises(ValueError, match="input_bin"):
        cnn.scaled_kernels((13,), 0)
