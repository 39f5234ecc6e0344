"""Data in: the dataset reader, cosmology, dataset summaries (the mock generator is :mod:`galmerge.mock`)."""
