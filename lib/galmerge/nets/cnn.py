"""The paper's convolutional network (Chudy et al. 2025, Sect. 3.2.2), with its width as parameters.

Architecture, as the paper lists it::

    input 128 x 128 x channels   (images already normalised to [0, 1], see galmerge.nets.training)
    3 x [Conv2D(filters, k x k) -> ReLU -> BatchNormalization -> Dropout(0.2) -> MaxPooling 2x2]
          with k = 13, 11, 9 and 128 filters each
    Flatten
    2 x [Dense(units) -> ReLU -> BatchNormalization -> Dropout(0.2)]   with 512 and 128 units
    Dense(1) -> sigmoid                                                 P(merger)
    Adam (learning rate 3e-4), binary cross-entropy, accuracy

Where this module departs from the paper's text, and why:

* **Output activation.** The paper says "a single neuron activated by a softmax function".
  A softmax over one neuron is exp(z)/exp(z) = 1 for every input, so it cannot learn; a single
  output neuron with binary cross-entropy needs a **sigmoid**, which is what is used here.
* **Padding and the parameter count.** The paper quotes 8,186,113 trainable parameters. No
  reading of its layer list gives that number: with 'valid' padding (Keras' default, no
  zero-padding) the spatial size goes 128 -> 116 -> 58 -> 48 -> 24 -> 16 -> 8, the flattened
  vector has 8 x 8 x 128 = 8192 entries and the network has **7,594,241** trainable parameters
  (7,596,289 in all, counting the batch-normalisation moving statistics); with 'same' padding
  the flattened vector has 16 x 16 x 128 = 32768 entries and the count is 20,177,153.
  'valid' is used (:data:`DEFAULT_PADDING`) because it is Keras' default and the closer of the
  two to the quoted number; :func:`trainable_parameter_count` gives the count for any width
  without building the network.
* **Binned input (quick profile only).** ``input_bin`` = b > 1 puts a fixed b x b
  average pooling in front of the first convolution, and the profiles then give kernels scaled to
  cover the same sky (:func:`scaled_kernels`: 13, 11, 9 -> 7, 6, 5 for b = 2). The network still
  takes the 128 px crop, so normalisation, occlusion and prediction are unchanged; on the 2-core CPU
  it trains about 7x faster (``benchmarks/learning_curves.py``), which buys more training images.
  The paper profile keeps b = 1, the paper's network.
* **Asymmetry channels (quick and smoke profiles).** ``asymmetry_channel`` = True appends to every input
  channel its rotational asymmetry map, the image less itself turned by 180 degrees
  (:mod:`galmerge.nets.asymmetry`, where the reason is given); the network sees 2 C channels. The
  paper profile keeps the paper's inputs.
* **Batch-normalisation statistics (quick, sdss and smoke profiles).** The paper's blocks put dropout
  before every normalisation but the first, so Keras' moving variances carry dropout's extra variance,
  which inference does not have; with ``batch_norm_recalibration`` the training re-estimates them
  after every epoch with dropout off (:mod:`galmerge.nets.batchnorm`, where the reason and the
  measurements are given). The layers and the training steps are the paper's; the paper profile keeps
  Keras' statistics.
* **Three convolutional layers.** The text lists three convolutional layers and then says
  "after the four convolutional layers"; the list (three) is followed.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

#: Trainable parameters the paper quotes for its network (Sect. 3.2.2); see the module docstring.
PAPER_QUOTED_TRAINABLE_PARAMS = 8_186_113
#: Padding of the convolutions: 'valid' (no zero-padding), the reading closest to the paper.
DEFAULT_PADDING = "valid"
#: The paper's widths.
PAPER_FILTERS = 128
PAPER_KERNEL_SIZES = (13, 11, 9)
PAPER_DENSE_UNITS = (512, 128)
PAPER_DROPOUT = 0.2
PAPER_LEARNING_RATE = 3e-4
POOL_SIZE = 2
#: Keras' default batch-normalisation momentum (the paper does not give one).
BATCH_NORM_MOMENTUM = 0.99


def _filters_per_layer(filters: int | Sequence[int], n_layers: int) -> list[int]:
    """One filter count per convolutional layer from an int or a sequence."""
    if isinstance(filters, numbers.Integral):
        per_layer = [int(filters)] * n_layers
    else:
        per_layer = [int(f) for f in filters]
    if len(per_layer) != n_layers:
        raise ValueError(f"filters has {len(per_layer)} entries but there are {n_layers} kernel sizes")
    if any(f < 1 for f in per_layer):
        raise ValueError(f"filters must be positive, got {per_layer}")
    return per_layer


def _validate(input_shape, kernel_sizes, dense_units, dropout, padding, batch_norm_momentum) -> None:
    if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    if not kernel_sizes or any(int(k) < 1 for k in kernel_sizes):
        raise ValueError(f"kernel_sizes must be positive, got {kernel_sizes}")
    if any(int(u) < 1 for u in dense_units):
        raise ValueError(f"dense_units must be positive, got {dense_units}")
    if not 0.0 <= batch_norm_momentum < 1.0:
        raise ValueError(f"batch_norm_momentum must be in [0, 1), got {batch_norm_momentum}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def feature_map_sizes(input_size: int, kernel_sizes: Sequence[int] = PAPER_KERNEL_SIZES,
                      padding: str = DEFAULT_PADDING) -> list[tuple[int, int]]:
    """Side of the feature maps after each (convolution, pooling) pair, in pixels.

    Raises ValueError when a layer would shrink the maps to nothing.
    """
    sizes, side = [], int(input_size)
    for k in kernel_sizes:
        conv = side - int(k) + 1 if padding == "valid" else side
        pooled = conv // POOL_SIZE
        if pooled < 1:
            raise ValueError(f"a {input_size}-pixel input is too small for kernels {list(kernel_sizes)} "
                             f"with {padding!r} padding (feature map of {conv} px before pooling)")
        sizes.append((conv, pooled))
        side = pooled
    return sizes


def scaled_kernels(kernel_sizes: Sequence[int], input_bin: int) -> tuple[int, ...]:
    """Kernel sides that cover the same sky on an input binned ``input_bin`` x ``input_bin``
    (rounded up: the paper's 13, 11, 9 become 7, 6, 5 for 2 x 2 binning)."""
    if int(input_bin) < 1:
        raise ValueError(f"input_bin must be >= 1, got {input_bin}")
    return tuple(-(-int(k) // int(input_bin)) for k in kernel_sizes)


def trainable_parameter_count(input_shape: Sequence[int] = (128, 128, 1),
                              filters: int | Sequence[int] = PAPER_FILTERS,
                              kernel_sizes: Sequence[int] = PAPER_KERNEL_SIZES,
                              dense_units: Sequence[int] = PAPER_DENSE_UNITS,
                              padding: str = DEFAULT_PADDING, input_bin: int = 1,
                              asymmetry_channel: bool = False) -> int:
    """Trainable parameters of :func:`build_model`'s network, by arithmetic (nothing is built).

    Convolution: k*k*c_in*c_out weights + c_out biases; dense: n_in*n_out + n_out; batch
    normalisation: 2 per channel (gamma, beta; the moving mean and variance are not trainable).
    """
    height, width, channels = (int(s) for s in input_shape)
    per_layer = _filters_per_layer(filters, len(kernel_sizes))
    if height != width:
        raise ValueError(f"square inputs only, got {height}x{width}")
    total, c_in = 0, channels * (2 if asymmetry_channel else 1)
    for k, c_out in zip(kernel_sizes, per_layer):
        total += k * k * c_in * c_out + c_out + 2 * c_out
        c_in = c_out
    side = feature_map_sizes(height // int(input_bin), kernel_sizes, padding)[-1][1]
    n_in = side * side * c_in
    for units in dense_units:
        total += n_in * units + units + 2 * units
        n_in = units
    return total + n_in + 1


def count_trainable_params(model) -> int:
    """Trainable parameters of a built Keras model."""
    import numpy as np

    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def build_model(input_shape: Sequence[int] = (128, 128, 1),
                filters: int | Sequence[int] = PAPER_FILTERS,
                kernel_sizes: Sequence[int] = PAPER_KERNEL_SIZES,
                dense_units: Sequence[int] = PAPER_DENSE_UNITS,
                dropout: float = PAPER_DROPOUT,
                padding: str = DEFAULT_PADDING,
                learning_rate: float = PAPER_LEARNING_RATE,
                batch_norm_momentum: float = BATCH_NORM_MOMENTUM,
                mixed_precision: bool = False,
                input_bin: int = 1,
                asymmetry_channel: bool = False,
                name: str = "merger_cnn"):
    """The paper's CNN, compiled (Adam, binary cross-entropy, accuracy).

    Parameters
    ----------
    input_shape : (int, int, int)
        Height, width (pixels) and channels of the input: (128, 128, 1) for raw, model or
        residual images, (128, 128, 3) for the three stacked.
    filters : int or sequence of int
        Kernels per convolutional layer, one value for all or one per layer (paper: 128).
    kernel_sizes : sequence of int
        Side of the square kernels, pixels, one per convolutional layer (paper: 13, 11, 9).
    dense_units : sequence of int
        Units of the fully connected layers (paper: 512, 128).
    dropout : float
        Dropout rate after every convolutional and dense block (paper: 0.2).
    padding : {'valid', 'same'}
        Convolution padding; 'valid' gives 7,594,241 trainable parameters at the paper's widths
        (the paper quotes 8,186,113, which no reading gives: see the module docstring).
    learning_rate : float
        Adam learning rate (paper: 3e-4).
    batch_norm_momentum : float
        Momentum of the batch-normalisation moving mean and variance used at inference (the
        paper does not say; Keras' default 0.99 needs a few hundred steps to settle, so very
        short test runs use less).
    mixed_precision : bool
        Compute in float16 with float32 variables (``mixed_float16``), with loss scaling; the
        output layer stays float32. Meant for GPUs; on a CPU it is slower, not faster.
    input_bin : int
        Average b x b pixel blocks of the input before the first convolution (default 1: the
        paper's network; the side must divide by b). Give kernels scaled to the binned pixels
        (:func:`scaled_kernels`); see the module docstring.
    asymmetry_channel : bool
        Append to each input channel its 180-degree rotational asymmetry map inside the network
        (:class:`galmerge.nets.asymmetry.RotationalAsymmetryMap`; default False, the paper's inputs).
    name : str
        Keras model name.

    Returns
    -------
    keras.Model
        Output: one sigmoid unit, P(merger), shape (batch, 1). The paper's "softmax" on a single
        neuron would output 1 for every input, hence the sigmoid.
    """
    import keras
    from keras import layers

    kernel_sizes = [int(k) for k in kernel_sizes]
    dense_units = [int(u) for u in dense_units]
    _validate(input_shape, kernel_sizes, dense_units, dropout, padding, batch_norm_momentum)
    per_layer = _filters_per_layer(filters, len(kernel_sizes))
    input_bin = int(input_bin)
    if input_bin < 1 or int(input_shape[0]) % input_bin or int(input_shape[1]) % input_bin:
        raise ValueError(f"input_bin must be >= 1 and divide the input side, got {input_bin} for {input_shape}")
    feature_map_sizes(int(input_shape[0]) // input_bin, kernel_sizes, padding)  # fail early on too small inputs
    dtype = "mixed_float16" if mixed_precision else None

    inputs = keras.Input(shape=tuple(int(s) for s in input_shape), name="image")
    x = inputs
    if asymmetry_channel:
        from galmerge.nets.asymmetry import RotationalAsymmetryMap

        x = RotationalAsymmetryMap(name="asymmetry_map")(x)
    if input_bin > 1:
        x = layers.AveragePooling2D(input_bin, name="input_bin", dtype=dtype)(x)
    for i, (n_filters, k) in enumerate(zip(per_layer, kernel_sizes), start=1):
        x = layers.Conv2D(n_filters, k, padding=padding, name=f"conv{i}", dtype=dtype)(x)
        x = layers.ReLU(name=f"conv{i}_relu", dtype=dtype)(x)
        x = layers.BatchNormalization(momentum=batch_norm_momentum, name=f"conv{i}_bn", dtype=dtype)(x)
        x = layers.Dropout(dropout, name=f"conv{i}_dropout", dtype=dtype)(x)
        x = layers.MaxPooling2D(POOL_SIZE, name=f"conv{i}_pool", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, name=f"dense{i}", dtype=dtype)(x)
        x = layers.ReLU(name=f"dense{i}_relu", dtype=dtype)(x)
        x = layers.BatchNormalization(momentum=batch_norm_momentum, name=f"dense{i}_bn", dtype=dtype)(x)
        x = layers.Dropout(dropout, name=f"dense{i}_dropout", dtype=dtype)(x)
    # float32 output: a float16 sigmoid saturates and makes the loss unstable
    outputs = layers.Dense(1, activation="sigmoid", name="merger_probability", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name)

    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model
