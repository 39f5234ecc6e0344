r"""SDSS colour cutouts of Darg et al. (2010) mergers and Galaxy Zoo 1 non-mergers as a labelled dataset.

From a clone of the source repository to the dataset, two commands::

    git clone https://github.com/AStemo/CS_Project && \
        git -C CS_Project checkout 3c933f02c9db91b10561d7ef43a07bbc639e55a9
    python -m galmerge.datasets.sdss_darg2010 --source CS_Project --out data/sdss_darg2010

then ``python run_all.py --profile sdss --data data/sdss_darg2010``. With ``--bands gri`` the three
bands of each colour JPEG are kept as well (:mod:`galmerge.ingest`, "Bands"), for networks trained on
all three (``run_all.py ... -p bands=gri``). (The images were deleted from
that repository at a later commit, hence the checkout.)

The source
----------
``Cutouts/Color/256/Mergers/<id>.jpeg`` and ``Cutouts/Color/256/Non_Mergers/<ID>.jpeg``: SDSS DR15
SkyServer colour JPEGs (gri composite, asinh stretch, 8 bit), 256 x 256 px at 0.396"/px, centred on
the catalogue position. ``Catalogs/darg_mergers.csv`` (``id, specz1, photoz1, ra1, dec1, vote1``):
galaxy 1 of each pair of the Darg et al. (2010, MNRAS 401, 1043) catalogue of Galaxy Zoo 1
mergers. ``Catalogs/non_mergers_subset.csv`` (Galaxy Zoo 1 table: ``ID, RAdeg, DEdeg, P_MG, zsp,
SDSS, ugriz`` magnitudes...): Galaxy Zoo 1 galaxies with merger vote below 0.2, drawn with
replacement (the same galaxy can appear under two IDs). The 64 and 128 px folders of the source
are central crops of the same images and are not read.

What is written
---------------
The dataset of :mod:`galmerge.ingest` (``--on-missing drop``, ``--channel r``,
``--pixel-scale 0.396``): one FITS image per object, the red channel of the JPEG, and the catalogue
with these columns from the source:

``redshift``
    the spectroscopic redshift (``specz1``, ``zsp``);
``merger_vote``
    the Galaxy Zoo 1 merger vote fraction (``vote1`` of Darg et al., ``P_MG``);
``group``
    objects within :data:`GROUP_RADIUS_ARCSEC` of each other (transitively) share a group, so a
    duplicate or a pair is never split between training and test;
``source_catalog, source_id, ra, dec``
    where the object comes from (degrees, J2000); ``sdss_name`` and ``r_mag`` (SDSS r model
    magnitude) for the non-mergers, ``photo_z`` for the mergers (empty for the other class).

Beside the catalogue: ``sdss_darg2010_labels.csv`` (the table given to the ingest),
``sdss_darg2010_defects.csv`` (every object or file left out or kept with a defect, with its
reason) and ``sdss_darg2010.json`` (counts and policies).

Policies
--------
i-band proxy
    The red channel of the gri composite: SDSS colour images map i, r, g to R, G, B (Lupton et al.
    2004, PASP 116, 133), so the red channel is a stretched **i** band, the band closest to the HSC
    i band of the paper and of the mock. It is not linear in flux (the ingest records
    ``linear_flux = False``).
Duplicates (``duplicate``, ``label_conflict``)
    Objects of the catalogues within :data:`DUPLICATE_RADIUS_ARCSEC` of each other are one galaxy.
    Within one class the first (one with a non-empty file first, then the lowest ID) is kept and the
    others are left out: a galaxy drawn twice is not two galaxies, and two copies would weigh it
    twice. A galaxy in both classes has no label to trust: every copy is left out.
Defects
    Empty or unreadable files, catalogue rows without a file, files without a row, rows without a
    usable position (left out: they cannot be grouped), rows without a redshift or vote (kept,
    the value empty) and objects sharing a group with one of the other class (kept,
    ``near_other_class``: the neighbour is likely in their cutout) are listed in
    ``sdss_darg2010_defects.csv`` and summarised on the terminal; nothing is dropped silently and
    no defect stops the conversion.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from galmerge import ingest
from galmerge.runs import write_json

#: Folder of the 256 px cutouts inside the source repository.
CUTOUT_FOLDER = Path("Cutouts") / "Color" / "256"
#: SDSS imaging pixel scale (arcsec/px; Gunn et al. 1998, AJ 116, 3040), the SkyServer cutouts' default.
SDSS_PIXEL_SCALE = 0.396
#: The channel kept: red, the i band of SDSS gri composites (Lupton et al. 2004).
CHANNEL = "r"
#: Objects closer than this share a group (arcsec). A 256 px cutout spans 101" (50.7" from its
#: centre to a side, 72" to a corner), so a neighbour within 60" is mostly inside the other's image.
GROUP_RADIUS_ARCSEC = 60.0
#: Objects closer than this are one galaxy (arcsec): SDSS positions of one object agree to ~0.1"
#: (Pier et al. 2003, AJ 125, 1559); the non-mergers drawn twice are 0.0" apart.
DUPLICATE_RADIUS_ARCSEC = 1.0
LABELS_FILE = "sdss_darg2010_labels.csv"
DEFECTS_FILE = "sdss_darg2010_defects.csv"
SUMMARY_FILE = "sdss_darg2010.json"
DEFECT_COLUMNS = ("source_catalog", "source_id", "filename", "defect", "action", "reason")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


class ConversionError(ValueError):
    """The source folder cannot be converted (missing catalogue, folder or column)."""


@dataclass(frozen=True)
class SourceCatalog:
    """One catalogue of the source: its file, its cutout folder, its class and its column names."""

    name: str
    path: Path
    folder: str
    label: int
    id: str
    ra: str
    dec: str
    redshift: str
    vote: str
    extra: dict = field(default_factory=dict)  # source column -> catalogue column, kept as they are


CATALOGS = (
    SourceCatalog("darg_mergers", Path("Catalogs") / "darg_mergers.csv", "Mergers", 1,
                  id="id", ra="ra1", dec="dec1", redshift="specz1", vote="vote1", extra={"photoz1": "photo_z"}),
    SourceCatalog("non_mergers_subset", Path("Catalogs") / "non_mergers_subset.csv", "Non_Mergers", 0,
                  id="ID", ra="RAdeg", dec="DEdeg", redshift="zsp", vote="P_MG",
                  extra={"SDSS": "sdss_name", "rmag": "r_mag"}),
)


# --------------------------------------------------------------------------- reading the source


def read_catalog(source: Path, spec: SourceCatalog) -> pd.DataFrame:
    """One source catalogue in the converter's columns, one row per catalogue row.

    Returns
    -------
    pandas.DataFrame
        ``source_catalog, source_id, label, ra, dec`` (degrees), ``redshift``, ``merger_vote`` and
        the ``extra`` columns; unparseable numbers become NaN (:func:`value_defects` lists them).

    Raises
    ------
    ConversionError
        The catalogue file is missing or unreadable, or lacks one of the columns needed.
    """
    path = source / spec.path
    if not path.is_file():
        raise ConversionError(f"{path}: no such catalogue; --source must be the root of a clone of "
                              "AStemo/CS_Project at commit 3c933f02c9db91b10561d7ef43a07bbc639e55a9")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as err:  # pandas raises ParserError, UnicodeDecodeError, EmptyDataError...
        raise ConversionError(f"{path}: cannot read the catalogue ({type(err).__name__}: {err})") from None
    needed = [spec.id, spec.ra, spec.dec, spec.redshift, spec.vote, *spec.extra]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ConversionError(f"{path}: missing column(s) {missing}; it has {list(raw.columns)}")
    table = pd.DataFrame({"source_catalog": spec.name, "source_id": raw[spec.id].str.strip(), "label": spec.label})
    for column, name in ((spec.ra, "ra"), (spec.dec, "dec"), (spec.redshift, "redshift"),
                         (spec.vote, "merger_vote")):
        table[name] = pd.to_numeric(raw[column], errors="coerce")
    for column, name in spec.extra.items():
        table[name] = raw[column]
    return table


def attach_files(table: pd.DataFrame, images: Path) -> pd.DataFrame:
    """Add ``filename`` (relative to ``images``): the object's cutout, ``<folder>/<ID>.jpeg`` when absent,
    and ``file_bytes``, its size (-1: no file).

    A cutout saved as .jpg or .png under the same ID is found too; a row whose file is absent keeps
    the expected name, and the ingest lists it as ``row_without_file``.
    """
    folders = {spec.name: spec.folder for spec in CATALOGS}
    found: dict[tuple[str, str], str] = {}
    for folder in set(folders.values()):
        for path in sorted((images / folder).glob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found.setdefault((folder, path.stem), f"{folder}/{path.name}")
    table = table.copy()
    table["filename"] = [found.get((folders[c], i), f"{folders[c]}/{i}.jpeg")
                         for c, i in zip(table["source_catalog"], table["source_id"])]
    table["file_bytes"] = [(images / name).stat().st_size if (images / name).is_file() else -1
                           for name in table["filename"]]
    return table


# --------------------------------------------------------------------------- positions: duplicates and groups


def sky_components(ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """Connected components of the graph linking objects closer than ``radius_arcsec``.

    Parameters
    ----------
    ra, dec : array_like
        Positions in degrees (finite).
    radius_arcsec : float
        Linking length (arcsec); links are transitive (friends of friends).

    Returns
    -------
    numpy.ndarray of int
        Component of each object, 0..K-1 (an isolated object is a component of its own).
    """
    n = len(ra)
    if n == 0:
        return np.zeros(0, dtype=int)
    coords = SkyCoord(np.asarray(ra, float) * u.deg, np.asarray(dec, float) * u.deg)
    first, second, _, _ = coords.search_around_sky(coords, radius_arcsec * u.arcsec)
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(n, n))
    _, components = connected_components(graph, directed=False)
    return components


def find_duplicates(table: pd.DataFrame) -> tuple[pd.Series, list[dict]]:
    """Which rows are kept after removing duplicates and label conflicts (module docstring).

    ``table`` needs finite ``ra``/``dec``. Returns a boolean Series (True: kept) on ``table``'s
    index and the defect rows of those left out.
    """
    order = table.assign(_id=pd.to_numeric(table["source_id"], errors="coerce"), _file=table["file_bytes"] > 0)
    order = order.sort_values(["label", "_file", "_id", "source_id"], ascending=[False, False, True, True],
                              kind="stable")
    components = pd.Series(sky_components(order["ra"], order["dec"], DUPLICATE_RADIUS_ARCSEC), index=order.index)
    keep = pd.Series(True, index=table.index)
    defects = []
    for _, members in order.groupby(components, sort=False):
        if len(members) == 1:
            continue
        first = members.iloc[0]
        conflict = members["label"].nunique() > 1
        for position, (index, row) in enumerate(members.iterrows()):
            if position == 0 and not conflict:
                continue
            keep[index] = False
            if conflict:
                others = ", ".join(f"{r.source_catalog} {r.source_id}" for r in members.itertuples()
                                   if r.Index != index)
                defects.append(_defect(row, "label_conflict", "left out",
                                       f"the same galaxy (within {DUPLICATE_RADIUS_ARCSEC:g}\") is in the other "
                                       f"class as {others}: no label to trust"))
            else:
                separation = _separation_arcsec(row, first)
                file_note = {0: "; its file is empty", -1: "; it has no file"}.get(int(row["file_bytes"]), "")
                defects.append(_defect(row, "duplicate", "left out",
                                       f"same galaxy as {first.source_catalog} {first.source_id} (kept), "
                                       f"{separation:.2f}\" apart{file_note}"))
    return keep, defects


def _separation_arcsec(a, b) -> float:
    one = SkyCoord(a["ra"] * u.deg, a["dec"] * u.deg)
    return float(one.separation(SkyCoord(b["ra"] * u.deg, b["dec"] * u.deg)).arcsec)


def _defect(row, defect: str, action: str, reason: str) -> dict:
    return {"source_catalog": row["source_catalog"], "source_id": row["source_id"], "filename": row["filename"],
            "defect": defect, "action": action, "reason": reason}


def value_defects(table: pd.DataFrame) -> tuple[pd.Series, list[dict]]:
    """Rows without a usable position (left out) or redshift / vote (kept, value empty).

    Returns a boolean Series (True: position usable) on ``table``'s index and the defect rows.
    """
    position = (table["ra"].between(0, 360) & table["dec"].between(-90, 90))
    defects = [_defect(row, "no_position", "left out", "no usable ra/dec in the catalogue: cannot be grouped "
                                                      "with its neighbours") for _, row in table[~position].iterrows()]
    for column, what in (("redshift", "spectroscopic redshift"), ("merger_vote", "merger vote")):
        for _, row in table[position & table[column].isna()].iterrows():
            defects.append(_defect(row, f"no_{column}", "kept", f"no {what} in the catalogue: left empty"))
    return position, defects


def mixed_group_notes(table: pd.DataFrame) -> list[dict]:
    """A note (kept) for each object that shares its group with an object of the other class.

    Such a neighbour lies within :data:`GROUP_RADIUS_ARCSEC`, so it is likely inside the object's
    cutout too: a non-merger next to a merger may show the merger (or be its companion). Both stay,
    in one split; the note lets a reader find them.
    """
    notes = []
    for _, members in table.groupby("group"):
        if members["label"].nunique() < 2:
            continue
        for _, row in members.iterrows():
            others = members[members["label"] != row["label"]]
            text = ", ".join(f"{o['source_catalog']} {o['source_id']} ({_separation_arcsec(row, o):.1f}\" away, "
                             f"z {o['redshift']:.4f})" for _, o in others.iterrows())
            notes.append(_defect(row, "near_other_class", "kept",
                                 f"within {GROUP_RADIUS_ARCSEC:g}\" of {text}: same group, same split; its cutout "
                                 "may show that galaxy"))
    return notes


# --------------------------------------------------------------------------- the conversion


def build_labels(source: Path) -> tuple[pd.DataFrame, list[dict], dict]:
    """The labels table for :func:`galmerge.ingest.ingest` (with ``group``), the converter's defects and
    the number of rows of each source catalogue."""
    table = pd.concat([read_catalog(source, spec) for spec in CATALOGS], ignore_index=True)
    source_rows = {name: int(n) for name, n in table["source_catalog"].value_counts().sort_index().items()}
    table = attach_files(table, source / CUTOUT_FOLDER)
    usable, defects = value_defects(table)
    kept, duplicates = find_duplicates(table[usable])
    defects += duplicates
    table = table[usable].loc[kept[kept].index].copy()
    table["group"] = sky_components(table["ra"], table["dec"], GROUP_RADIUS_ARCSEC)
    defects += mixed_group_notes(table)
    columns = ["filename", "label", "redshift", "merger_vote", "group", "source_catalog", "source_id", "ra", "dec",
               *[name for spec in CATALOGS for name in spec.extra.values()]]
    return table[columns].reset_index(drop=True), defects, source_rows


def ingest_defects(out: Path, table: pd.DataFrame, excluded: set[str]) -> list[dict]:
    """The ingest's problems (empty, unreadable, no file...) as defect rows naming the catalogue and ID.

    Files the converter left out itself (``excluded``: duplicates...) appear in the ingest's list as
    files without a row; they are listed once, with the converter's reason, and skipped here.
    """
    problems = pd.read_csv(out / ingest.PROBLEMS_FILE, dtype=str, keep_default_na=False)
    by_file = table.set_index("filename")
    folders = {spec.folder: spec.name for spec in CATALOGS}
    defects = []
    for problem in problems.itertuples():
        if problem.problem == "file_without_row" and problem.filename in excluded:
            continue
        if problem.filename in by_file.index:
            row = by_file.loc[problem.filename]
            catalog, source_id = row["source_catalog"], row["source_id"]
        else:
            folder, _, name = problem.filename.partition("/")
            catalog, source_id = folders.get(folder, ""), Path(name).stem
        action = "not an image" if problem.problem in ingest.NOT_OBJECTS else "left out"
        defects.append({"source_catalog": catalog, "source_id": source_id, "filename": problem.filename,
                        "defect": problem.problem, "action": action, "reason": problem.reason})
    return defects


def convert(source: str | Path, out: str | Path, overwrite: bool = False, progress: bool = True,
            bands: str | None = None) -> dict:
    """Convert a clone of the source repository into a labelled dataset (module docstring).

    Parameters
    ----------
    source : the root of the clone (holds ``Catalogs/`` and ``Cutouts/``).
    out : the dataset folder to write (see :func:`galmerge.ingest.ingest` for when it may exist).
    overwrite : replace an earlier dataset in ``out``.
    progress : show the ingest's progress bar.
    bands : ``'gri'`` to keep the three bands of each colour JPEG too (the composite maps g, r, i to
        blue, green, red); None (default): the red channel (i) only.

    Returns
    -------
    dict
        The content of ``sdss_darg2010.json``: counts per class, defects by kind, groups, policies.

    Raises
    ------
    ConversionError
        Missing catalogue, cutout folder or column; no image could be ingested.
    """
    t0 = time.perf_counter()
    source, out = Path(source), Path(out)
    images = source / CUTOUT_FOLDER
    missing = [str(images / spec.folder) for spec in CATALOGS if not (images / spec.folder).is_dir()]
    if missing:
        raise ConversionError(f"no cutout folder {', '.join(missing)}; --source must be the root of a clone of "
                              "AStemo/CS_Project at commit 3c933f02c9db91b10561d7ef43a07bbc639e55a9 (later commits "
                              "deleted the images)")
    table, defects, source_rows = build_labels(source)
    with tempfile.TemporaryDirectory() as scratch:
        labels = Path(scratch) / LABELS_FILE
        table.to_csv(labels, index=False)
        try:
            ingest.ingest(images, labels, out, channel=CHANNEL, pixel_scale=SDSS_PIXEL_SCALE, on_missing="drop",
                          overwrite=overwrite, progress=progress, bands=bands)
        except ingest.IngestError as err:
            raise ConversionError(str(err)) from None
        shutil.copyfile(labels, out / LABELS_FILE)
    defects += ingest_defects(out, table, {d["filename"] for d in defects})
    frame = pd.DataFrame(defects, columns=list(DEFECT_COLUMNS))
    frame.to_csv(out / DEFECTS_FILE, index=False)
    summary = {**_summary(source, out, source_rows, frame, time.perf_counter() - t0), "bands": bands}
    write_json(out / SUMMARY_FILE, summary)
    return summary


def _summary(source: Path, out: Path, source_rows: dict, defects: pd.DataFrame, seconds: float) -> dict:
    from galmerge.data.catalog import CATALOG_STEM

    written = pd.read_csv(out / (CATALOG_STEM.format(folder="train") + ".csv"), usecols=["label", "group"])
    sizes = written["group"].value_counts()
    return {
        "source": str(source.resolve()), "out": str(out.resolve()),
        "source_rows": source_rows,
        "written": {"mergers": int((written["label"] == 1).sum()), "non_mergers": int((written["label"] == 0).sum())},
        "defects": {str(k): int(v) for k, v in defects["defect"].value_counts().sort_index().items()},
        "left_out": int((defects["action"] == "left out").sum()),
        "groups": int(len(sizes)), "groups_of_two_or_more": int((sizes > 1).sum()),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "channel": CHANNEL, "pixel_scale": SDSS_PIXEL_SCALE, "group_radius_arcsec": GROUP_RADIUS_ARCSEC,
        "duplicate_radius_arcsec": DUPLICATE_RADIUS_ARCSEC,
        "channel_policy": "red channel of the SDSS gri composite: the i band (Lupton et al. 2004), stretched 8-bit "
                          "display levels, not linear in flux",
        "seconds": round(seconds, 1),
    }


def _print_summary(summary: dict, out: Path) -> None:
    written = summary["written"]
    print(f"wrote {written['mergers']} mergers and {written['non_mergers']} non-mergers to {summary['out']} "
          f"in {summary['seconds']:.0f} s; {summary['groups']} groups ({summary['groups_of_two_or_more']} of two "
          f"or more objects within {summary['group_radius_arcsec']:g}\", the largest {summary['largest_group']})")
    if summary["defects"]:
        kinds = ", ".join(f"{k}: {v}" for k, v in summary["defects"].items())
        print(f"defects ({summary['left_out']} objects left out; every one in {out / DEFECTS_FILE}): {kinds}")
    else:
        print("no defects found")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galmerge.datasets.sdss_darg2010", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="root of the clone of AStemo/CS_Project")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier dataset in --out")
    parser.add_argument("--bands", choices=("gri",), help="also keep the g, r and i bands of each colour JPEG")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = convert(args.source, args.out, overwrite=args.overwrite, progress=not args.no_progress,
                          bands=args.bands)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_summary(summary, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
