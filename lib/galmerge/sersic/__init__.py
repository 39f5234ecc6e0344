"""Sérsic stage: SEP segmentation and Sérsic fits of every source (``fit``, through the fitter interface
of ``fitters``: ``statmorph_fitter``, and ``lm_fitter`` over ``lm``), the Dask stage over a dataset (``stage``),
its products (``products``) and notebook 01's diagnostics of them (``diagnostics``)."""
