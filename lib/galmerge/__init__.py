"""galmerge: galaxy-merger classification with CNNs on raw images, Sérsic models and residuals.

Reproduces and extends Chudy et al. (2025), "Galaxy mergers classification using CNNs
trained on Sérsic models, residuals and raw images".

The package reads as the pipeline, one subpackage per stage (each module holds one idea):

- foundation:  :mod:`galmerge.vocab` (names, bins, the paper's numbers), :mod:`galmerge.config`
  (typed parameters and profiles), :mod:`galmerge.runs` (the one reader and writer of a run's files),
  :mod:`galmerge.quiet` (TensorFlow's log level, set before anything imports it)
- commands a user types: :mod:`galmerge.ingest` (cutouts -> labelled dataset), :mod:`galmerge.predict`
  (score new cutouts with a run's networks), :mod:`galmerge.demo_cutouts`, :mod:`galmerge.mock`
- :mod:`galmerge.mock`      a physically grounded mock of the merger-challenge dataset (orbits, scenes,
  rendering, observing) and its audit
- :mod:`galmerge.data`      data in: ``catalog`` (read a dataset, assign splits), ``cosmology``,
  ``summary`` (tables of a catalogue)
- :mod:`galmerge.sersic`    the Sérsic stage: ``fit`` (SEP + one image's fits), ``fitters`` (one fitter
  interface, by name: ``statmorph_fitter``, and ``lm_fitter`` over ``lm``, the batched Levenberg-Marquardt
  fitter), ``truth`` (GalSim truth), ``stage`` (Dask over a dataset), ``products``, ``diagnostics``
  (notebook 01's tables)
- :mod:`galmerge.nets`      the networks: ``cnn``, ``training``, ``occlusion``, ``transfer``
- :mod:`galmerge.analysis`  ``metrics`` (threshold, bootstraps), ``evaluation`` (Tables 1-2, binned
  metrics), ``conclusions`` (the paper's three claims judged), ``baseline`` (non-CNN statistics)
- :mod:`galmerge.report`    ``figures``, ``captions``, ``plotting`` (styles), ``markdown`` (REPORT.md)
"""

from galmerge import quiet  # noqa: F401  (sets TensorFlow's log level before any import of it)

__version__ = "0.1.0"
