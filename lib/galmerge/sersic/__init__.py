"""Sérsic stage: SEP segmentation and Sérsic fits of every source, the Dask stage over a dataset, its products."""
