"""The rotational asymmetry map as extra input channels of the network (not in the paper).

A merger's most robust signature in one image is its departure from point symmetry: the
asymmetry coefficient A of Conselice, Bershady & Jangren (2000, ApJ 529, 886) sums
``|I - I_180|``, the image less itself turned by 180 degrees about its centre, and A > 0.35 is
the classic merger criterion (Conselice 2003, ApJS 147, 1). A convolutional network can only
learn that comparison through its dense layers, which pair pixels on opposite sides of the
centre one weight at a time, and on a few thousand training images it does not: on the quick
run's mock, nine image statistics (A among them) beat CNN1 (``benchmarks/seed_variance.py``).
Handing the network the map ``I - I_180`` makes the comparison local, one pixel and its
mirror image in the same place, so that the convolutions see it directly.

:class:`RotationalAsymmetryMap` appends, for every input channel, that map min-max normalised to
[0, 1] per image (as :func:`galmerge.nets.training.normalise_images` does to the images), so a
network on C channels sees 2 C. It is a layer, not a preprocessing step: the saved network takes
the same inputs as before, and prediction, occlusion and transfer need no change.

The turn is about the centre of the crop (between the central four pixels of an even side), not
about the galaxy's asymmetry-minimising centre as A is: a half-pixel offset of the galaxy leaves a
dipole at its core, which the network sees in every galaxy alike.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="galmerge")
class RotationalAsymmetryMap(keras.layers.Layer):
    """Append ``x - rot180(x)`` per channel, min-max normalised to [0, 1] per image (a constant map
    becomes 0). Input (batch, height, width, C); output (batch, height, width, 2 C): the input
    channels first, then their maps in the same order."""

    def call(self, images):
        turned = ops.flip(ops.flip(images, axis=1), axis=2)
        difference = images - turned
        low = ops.min(difference, axis=(1, 2), keepdims=True)
        span = ops.max(difference, axis=(1, 2), keepdims=True) - low
        safe_span = ops.where(span > 0, span, ops.ones_like(span))
        scaled = ops.where(span > 0, (difference - low) / safe_span, ops.zeros_like(difference))
        return ops.concatenate([images, scaled], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])
