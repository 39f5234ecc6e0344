"""galmerge.datasets.sdss_darg2010: a tiny copy of the source repository's layout written here (JPEGs
of scikit-image's Hubble Deep Field crops, catalogues with the source's columns), with an empty file, a
row without a file, a file without a row, a galaxy drawn twice under two IDs, one in both classes and a
close pair; the converter's dataset, groups and defect list are checked against what was planted.
No test reads the shared data folder (a fresh clone has none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import galmerge.data.catalog as gdata
from galmerge import ingest
from galmerge.datasets import sdss_darg2010 as sdss
from galmerge.demo_cutouts import hubble_deep_field

ARCSEC = 1 / 3600  # degrees


@pytest.fixture(scope="module")
def field():
    return hubble_deep_field()


def _jpeg(path: Path, field, y: int, x: int, size: int = 136) -> np.ndarray:
    crop = np.ascontiguousarray(field[y:y + size, x:x + size])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(crop).save(path, quality=95)
    return crop


def _source(root: Path, field) -> Path:
    """The source layout with every planted defect (see the module docstring)."""
    images = root / "Cutouts" / "Color" / "256"
    (root / "Catalogs").mkdir(parents=True)
    mergers = pd.DataFrame({
        "id": [2, 3, 5, 7],
        "specz1": [0.07, 0.05, 0.09, 0.03],
        "photoz1": [0.1, 0.06, 0.08, 0.02],
        "ra1": [10.0, 20.0, 30.0, 40.0],
        "dec1": [1.0, 2.0, 3.0, 4.0],
        "vote1": [0.7, 0.5, 0.9, 0.4],
    })
    non = pd.DataFrame({
        "ID": [1, 4, 6, 8, 9, 11],
        "RA": ["48:34.1"] * 6,  # the source's broken sexagesimal column: not read
        "RAdeg": [50.0, 50.0, 40.0, 60.0, 20.0 + 30 * ARCSEC, 70.0],
        "DEdeg": [5.0, 5.0, 4.0, 6.0, 2.0, 7.0],
        "P_MG": [0.0, 0.0, 0.1, 0.05, 0.15, ""],
        "zsp": [0.04, 0.04, 0.03, 0.08, 0.05, 0.06],
        "SDSS": ["J0320+0500", "J0320+0500", "J0240+0400", "J0400+0600", "J0120+0200", "J0440+0700"],
        "rmag": [16.1, 16.1, 15.0, 17.2, 16.5, 17.9],
    })
    # 1 and 4: one galaxy drawn twice (0" apart); 6 is merger 7's position (in both classes);
    # 9 is 30" from merger 3 (a pair: same group); 11 has no vote; 8 has no file; 1 is empty.
    mergers.to_csv(root / "Catalogs" / "darg_mergers.csv", index=False)
    non.to_csv(root / "Catalogs" / "non_mergers_subset.csv", index=False)
    for i, merger_id in enumerate(mergers["id"]):
        _jpeg(images / "Mergers" / f"{merger_id}.jpeg", field, 40 * i, 30 * i)
    for i, galaxy_id in enumerate([4, 6, 9, 11]):
        _jpeg(images / "Non_Mergers" / f"{galaxy_id}.jpeg", field, 200 + 30 * i, 250)
    (images / "Non_Mergers" / "1.jpeg").write_bytes(b"")
    _jpeg(images / "Non_Mergers" / "99.jpeg", field, 300, 300)  # a file without a row
    for size in ("64", "128"):  # the source's smaller crops: never read
        _jpeg(root / "Cutouts" / "Color" / size / "Mergers" / "2.jpeg", field, 0, 0, size=int(size))
    return root


@pytest.fixture()
def converted(tmp_path, field):
    source = _source(tmp_path / "CS_Project", field)
    out = tmp_path / "sdss"
    summary = sdss.convert(source, out, progress=False)
    return source, out, summary


def test_groups_link_pairs_and_chains():
    ra = np.array([10.0, 10.0 + 50 * ARCSEC, 10.0 + 100 * ARCSEC, 10.0 + 200 * ARCSEC, 200.0])
    dec = np.array([0.0, 0.0, 0.0, 0.0, 89.99])
    groups = sdss.sky_components(ra, dec, 60.0)
    assert groups[0] == groups[1] == groups[2]  # 50" links: a chain is one group
    assert len({groups[0], groups[3], groups[4]}) == 3  # 100" from its nearest: alone
    # near the pole a degree of RA is short: 0.01 deg of dec from the pole, 180 deg of RA apart is 72"
    polar = sdss.sky_components(np.array([0.0, 180.0]), np.array([89.99, 89.99]), 60.0)
    assert polar[0] != polar[1]
    polar = sdss.sky_components(np.array([0.0, 90.0]), np.array([89.99, 89.99]), 60.0)  # 50.9" apart
    assert polar[0] == polar[1]


def test_converter_writes_every_good_object_with_its_columns(converted):
    _, out, summary = converted
    catalog = pd.read_csv(out / "catalog_merger_challenge_TNG_train.csv")
    found = dict(zip(catalog["source_catalog"] + " " + catalog["source_id"].astype(str), catalog["label"]))
    # merger 7 and non-merger 6 are one galaxy in both classes: neither is written; 4 is kept for 1 and 4
    assert found == {"darg_mergers 2": 1, "darg_mergers 3": 1, "darg_mergers 5": 1, "non_mergers_subset 4": 0,
                     "non_mergers_subset 9": 0, "non_mergers_subset 11": 0}
    assert summary["written"] == {"mergers": 3, "non_mergers": 3}
    assert summary["source_rows"] == {"darg_mergers": 4, "non_mergers_subset": 6}
    row = catalog.set_index("source_id").loc[3]
    assert row["redshift"] == 0.05 and row["merger_vote"] == 0.5 and row["photo_z"] == 0.06
    assert np.isnan(catalog.set_index("source_id").loc[11, "merger_vote"])
    assert (catalog["pixel_scale"] == sdss.SDSS_PIXEL_SCALE).all() and (catalog["channel"] == "r").all()
    assert not catalog["linear_flux"].any()
    assert json.loads((out / sdss.SUMMARY_FILE).read_text())["written"] == summary["written"]


def test_image_is_the_red_channel_of_the_256px_cutout(converted, field):
    source, out, _ = converted
    catalog = gdata.load_catalog(out)
    row = catalog[catalog["source_id"].astype(str) == "5"].iloc[0]
    image = gdata.load_image(row["image_path"])
    with Image.open(source / "Cutouts" / "Color" / "256" / "Mergers" / "5.jpeg") as jpeg:
        rgb = np.asarray(jpeg.convert("RGB"), dtype=np.float32)
    assert image.shape == (136, 136)  # the 256 folder's file, not the 64 or 128 px crops
    np.testing.assert_array_equal(image, rgb[..., 0])


def test_pair_shares_a_group_and_a_split(converted):
    _, out, summary = converted
    catalog = gdata.load_catalog(out, split_seed=3)
    by_id = catalog.assign(key=catalog["source_catalog"] + " " + catalog["source_id"].astype(str)).set_index("key")
    pair = by_id.loc[["darg_mergers 3", "non_mergers_subset 9"]]
    assert pair["group"].nunique() == 1 and pair["split"].nunique() == 1
    assert catalog["group"].nunique() == 5 == summary["groups"] and summary["groups_of_two_or_more"] == 1
    assert catalog.groupby("group")["split"].nunique().max() == 1


def test_every_defect_is_listed_with_its_reason(converted):
    _, out, summary = converted
    defects = pd.read_csv(out / sdss.DEFECTS_FILE, dtype={"source_id": str})
    listed = {(r.source_catalog, r.source_id): (r.defect, r.action) for r in defects.itertuples()}
    assert listed == {
        ("non_mergers_subset", "1"): ("duplicate", "left out"),
        ("darg_mergers", "7"): ("label_conflict", "left out"),
        ("non_mergers_subset", "6"): ("label_conflict", "left out"),
        ("non_mergers_subset", "8"): ("row_without_file", "left out"),
        ("non_mergers_subset", "99"): ("file_without_row", "left out"),
        ("non_mergers_subset", "11"): ("no_merger_vote", "kept"),
        ("darg_mergers", "3"): ("near_other_class", "kept"),  # the pair: kept, in one group
        ("non_mergers_subset", "9"): ("near_other_class", "kept"),
    }
    reasons = defects.set_index("source_id")["reason"]
    assert "same galaxy as non_mergers_subset 4" in reasons["1"] and "its file is empty" in reasons["1"]
    assert "no such file" in reasons["8"]
    assert "darg_mergers 3 (30.0\" away, z 0.0500)" in reasons["9"]
    assert summary["left_out"] == 5
    assert summary["defects"] == {"duplicate": 1, "file_without_row": 1, "label_conflict": 2,
                                  "near_other_class": 2, "no_merger_vote": 1, "row_without_file": 1}


def test_empty_file_is_listed_when_it_is_not_a_duplicate(tmp_path, field):
    source = _source(tmp_path / "src", field)
    (source / "Cutouts" / "Color" / "256" / "Mergers" / "2.jpeg").write_bytes(b"")
    (source / "Cutouts" / "Color" / "256" / "Mergers" / "3.jpeg").write_text("not a jpeg")
    summary = sdss.convert(source, tmp_path / "out", progress=False)
    defects = pd.read_csv(tmp_path / "out" / sdss.DEFECTS_FILE, dtype={"source_id": str})
    defects = defects[defects["action"] == "left out"].set_index("source_id")
    assert defects.loc["2", "defect"] == "empty" and "0 bytes" in defects.loc["2", "reason"]
    assert defects.loc["3", "defect"] == "unreadable"
    assert summary["written"] == {"mergers": 1, "non_mergers": 3}
    problems = pd.read_csv(tmp_path / "out" / ingest.PROBLEMS_FILE)
    assert {"Mergers/2.jpeg", "Mergers/3.jpeg"} <= set(problems["filename"])


def test_cli_prints_the_summary_and_rejects_a_wrong_source(tmp_path, field, capsys):
    source = _source(tmp_path / "src", field)
    assert sdss.main(["--source", str(source), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 mergers and 3 non-mergers" in printed and "label_conflict: 2" in printed
    assert sdss.main(["--source", str(source), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sdss.main(["--source", str(tmp_path), "--out", str(tmp_path / "p"), "--no-progress"]) == 2
    assert "3c933f02c9db91b10561d7ef43a07bbc639e55a9" in capsys.readouterr().err
    (source / "Catalogs" / "darg_mergers.csv").write_text("id,ra1\n2,10\n")
    with pytest.raises(sdss.ConversionError, match=r"darg_mergers.csv: missing column\(s\)"):
        sdss.convert(source, tmp_path / "q", progress=False)


def test_a_cutout_saved_under_another_extension_is_found(tmp_path, field):
    images = tmp_path / "256"
    _jpeg(images / "Mergers" / "2.jpg", field, 0, 0)
    _jpeg(images / "Non_Mergers" / "4.jpeg", field, 10, 10)
    (images / "Non_Mergers" / "5.txt").write_text("a note")
    table = pd.DataFrame({"source_catalog": ["darg_mergers", "non_mergers_subset", "non_mergers_subset"],
                          "source_id": ["2", "4", "5"]})
    found = sdss.attach_files(table, images)
    assert found["filename"].tolist() == ["Mergers/2.jpg", "Non_Mergers/4.jpeg", "Non_Mergers/5.jpeg"]
    assert (found["file_bytes"].iloc[:2] > 0).all() and found["file_bytes"].iat[2] == -1


def test_bands_gri_keeps_the_three_bands(tmp_path, field):
    """--bands gri: the primary image is still the red channel, and HDU BANDS holds g, r, i = blue, green, red."""
    source = _source(tmp_path / "CS_Project", field)
    out = tmp_path / "sdss_gri"
    summary = sdss.convert(source, out, progress=False, bands="gri")
    assert summary["bands"] == "gri"
    catalog = gdata.load_catalog(out)
    assert (catalog["bands"] == "gri").all()
    row = catalog[catalog["source_id"].astype(str) == "5"].iloc[0]
    bands, cube = ingest.read_bands_image(row["image_path"])
    with Image.open(source / "Cutouts" / "Color" / "256" / "Mergers" / "5.jpeg") as jpeg:
        rgb = np.asarray(jpeg.convert("RGB"), dtype=np.float32)
    assert bands == "gri"
    np.testing.assert_array_equal(cube, np.moveaxis(rgb[..., ::-1], -1, 0))
    np.testing.assert_array_equal(gdata.load_image(row["image_path"]), rgb[..., 0])
