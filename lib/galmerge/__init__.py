"""galmerge: galaxy-merger classification with CNNs on raw images, Sérsic models and residuals.

Reproduces and extends Chudy et al. (2025), "Galaxy mergers classification using CNNs
trained on Sérsic models, residuals and raw images".

Modules (one idea each):

- :mod:`galmerge.vocab`      the vocabulary: input kinds, channels, splits, stages, bins, the paper's numbers
- :mod:`galmerge.runs`       a run's outputs: paths, scores, thresholds, networks, histories, summary, JSON
- :mod:`galmerge.data`       read a dataset in the merger-challenge layout, assign splits
- :mod:`galmerge.mock`       write a physically grounded mock dataset in that layout
- :mod:`galmerge.sersic`     SEP segmentation + statmorph Sérsic fit of every source of one image
- :mod:`galmerge.fitting`    the fitting stage over a dataset (Dask, resumable)
- :mod:`galmerge.products`   the on-disk products of the fitting stage (cubes + tables)
- :mod:`galmerge.cnn`        the paper's network
- :mod:`galmerge.training`   tf.data input pipeline and training loop
- :mod:`galmerge.metrics`    precision = recall threshold, bootstrap, balanced resampling
- :mod:`galmerge.occlusion`  occlusion heatmaps
- :mod:`galmerge.evaluation` scores joined with the images table, Tables 1-2, binned metrics
- :mod:`galmerge.conclusions` the paper's three conclusions judged on a run
- :mod:`galmerge.config`     typed parameters (paper defaults) and the profiles that override them
- :mod:`galmerge.figures`    one function per figure (tables in, Figure out)
- :mod:`galmerge.captions`   every figure's caption (notebooks and REPORT.md)
- :mod:`galmerge.plotting`   shared figure helpers (stretch, network styles, saving)
"""

from galmerge import quiet  # noqa: F401  (sets TensorFlow's log level before any import of it)

__version__ = "0.1.0"
