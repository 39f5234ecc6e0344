"""Converters from published labelled galaxy image sets to the pipeline's labelled-dataset layout.

Each module reads one source as a user has it after downloading it (its own folder layout and
catalogues) and writes the dataset through :func:`galmerge.ingest.ingest`, adding what that source
knows (redshift, vote, groups of objects that must share a split) and listing every defect of the
source with its reason.

- :mod:`galmerge.datasets.sdss_darg2010`: SDSS colour cutouts of Darg et al. (2010) mergers and
  Galaxy Zoo 1 non-mergers (the AStemo/CS_Project repository).
"""
