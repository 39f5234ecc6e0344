"""The mock generator: challenge layout, catalogue columns, determinism, grouped test split, PSF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from galmerge.data.cosmology import SNAPNUM_FOLDERS
from galmerge.mock import CATALOGUE_NAMES, PSF_PATH, generate_mock, scene
from galmerge.mock.plan import plan_catalogue

CHALLENGE = ["ID", "snapnum", "sequence_ID", "is_major_merger", "is_pre_merger", "is_ongoing_merger",
             "is_post_merger", "time_before_merger", "time_after_merger"]


@pytest.fixture(scope="module")
def mock48(tmp_path_factory):
    out = tmp_path_factory.mktemp("mock") / "mock48"
    catalogue = generate_mock(out, n=48, seed=3, workers=2, progress=False)
    return out, catalogue


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_same_seed_gives_identical_files_whatever_the_workers(mock48, tmp_path):
    out, _ = mock48
    again = tmp_path / "again"
    generate_mock(again, n=48, seed=3, workers=1, progress=False)
    first, second = _tree_bytes(out), _tree_bytes(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


@pytest.mark.slow
def test_other_seed_gives_other_images(tmp_path):
    a = generate_mock(tmp_path / "a", n=6, seed=1, workers=1, progress=False)
    b = generate_mock(tmp_path / "b", n=6, seed=2, workers=1, progress=False)
    assert not np.allclose(a["true_main_mag"].to_numpy(), b["true_main_mag"].to_numpy(), equal_nan=True)


def test_layout_and_catalogue_files(mock48):
    out, catalogue = mock48
    train = Table.read(out / CATALOGUE_NAMES["train"]).to_pandas()
    test = Table.read(out / CATALOGUE_NAMES["test"]).to_pandas()
    assert len(train) + len(test) == 48 and len(test) > 0
    for split, table in (("train", train), ("test", test)):
        assert list(table.columns[:len(CHALLENGE)]) == CHALLENGE
        for ident, snapnum in zip(table["ID"], table["snapnum"]):
            folder = next(name for name, (lo, hi, _) in SNAPNUM_FOLDERS.items() if lo <= snapnum <= hi)
            assert (out / split / folder / f"objID_{ident}.fits").is_file()
    n_images = len(list(out.glob("*/snapnum_*/objID_*.fits")))
    assert n_images == 48
    assert catalogue["ID"].is_unique and catalogue["ID"].dtype == np.int64


def test_image_sizes_match_their_folders(mock48):
    out, _ = mock48
    for path in out.glob("*/snapnum_*/objID_*.fits"):
        size = SNAPNUM_FOLDERS[path.parent.name][2]
        with fits.open(path) as hdus:
            assert hdus[0].data.shape == (size, size)
            assert hdus[0].data.dtype == np.dtype(">f4")
            assert np.isfinite(hdus[0].data).all()
            assert hdus[0].header["PIXSCALE"] == pytest.approx(0.168)
            assert hdus[0].header["ZEROPT"] == 27.0


def test_stages_and_times_are_consistent(mock48):
    _, cat = mock48
    stage = np.select([cat.is_pre_merger == 1, cat.is_ongoing_merger == 1, cat.is_post_merger == 1],
                      ["pre", "ongoing", "post"], "non")
    assert {"pre", "post", "non"} <= set(stage)
    flags = cat[["is_pre_merger", "is_ongoing_merger", "is_post_merger"]].sum(axis=1)
    assert (flags == cat.is_major_merger).all()
    mergers, non = cat[cat.is_major_merger == 1], cat[cat.is_major_merger == 0]
    finite = np.isfinite(mergers.time_before_merger).astype(int) + np.isfinite(mergers.time_after_merger).astype(int)
    assert (finite == 1).all()
    assert non.time_before_merger.isna().all() and non.time_after_merger.isna().all()
    t = mergers.time_after_merger.fillna(-mergers.time_before_merger)
    assert t.between(-0.8, 0.3).all()
    assert (t[stage[mergers.index] == "pre"] < -0.1).all() and (t[stage[mergers.index] == "post"] > 0.1).all()
    assert (mergers.sequence_ID >= 0).all()
    assert (cat.sequence_ID >= 0).all()  # isolated galaxies are followed through snapshots too
    assert (cat.loc[cat.true_kind == "minor", "true_mass_ratio"] > 4).all()
    assert (mergers.true_mass_ratio <= 4).all()


def test_truth_columns(mock48):
    _, cat = mock48
    for column in ("true_redshift", "true_main_n", "true_main_r_e_px", "true_main_r_e_kpc", "true_main_ellip",
                   "true_main_theta", "true_main_mag", "true_mass_ratio", "true_features", "true_psf_fwhm",
                   "true_sky_rms", "true_field_kpc"):
        assert column in cat.columns, column
    assert cat.true_main_mag.notna().all() and cat.true_psf_fwhm.between(0.45, 0.85).all()
    assert cat.true_field_kpc.between(90, 260).all()
    assert cat.snapnum.between(50, 91).all()


def test_sequences_never_cross_train_and_test(mock48):
    _, cat = mock48
    grouped = cat[cat.sequence_ID >= 0].groupby("sequence_ID")["split"].nunique()
    assert (grouped == 1).all()
    big = plan_catalogue(400, 11)
    assert (big[big.sequence_ID >= 0].groupby("sequence_ID")["split"].nunique() == 1).all()
    assert 0.07 <= (big.split == "test").mean() <= 0.13
    assert abs((big.stage != "non").mean() - 0.5) < 0.01
    # the test folder is class-stratified
    assert 0.45 <= (big[big.split == "test"].stage != "non").mean() <= 0.55


def test_sequence_ids_and_file_order_carry_no_class():
    big = plan_catalogue(3000, 5)
    label = (big.kind == "major").to_numpy()
    from sklearn.metrics import roc_auc_score

    for column in ("sequence_ID", "ID"):
        assert abs(roc_auc_score(label, big[column]) - 0.5) < 0.04, column
    # objects per sequence follow one law, whatever the class
    size = big.groupby("sequence_ID")["ID"].transform("size")
    assert abs(size[label].mean() - size[~label].mean()) < 0.2
    assert abs(roc_auc_score(label, size) - 0.5) < 0.04


def test_psf_is_odd_and_normalised(mock48):
    out, _ = mock48
    psf = fits.getdata(out / PSF_PATH)
    assert psf.shape[0] == psf.shape[1] and psf.shape[0] % 2 == 1
    assert psf.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (psf.shape[0] // 2, psf.shape[1] // 2)


def test_existing_dataset_is_not_overwritten_silently(mock48):
    out, _ = mock48
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_mock(out, n=4, seed=3, workers=1, progress=False)


def test_foreign_folders_are_not_deleted_but_an_interrupted_run_is_replaced(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "precious.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="no catalogue"):
        generate_mock(tmp_path, n=2, seed=1, workers=1, progress=False)
    assert (tmp_path / "train" / "precious.txt").exists()
    (tmp_path / ".galmerge_mock_incomplete").write_text("")
    generate_mock(tmp_path, n=2, seed=1, workers=1, progress=False)
    assert not (tmp_path / "train" / "precious.txt").exists()
    assert not (tmp_path / ".galmerge_mock_incomplete").exists()


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        generate_mock(tmp_path / "x", n=0, seed=1, progress=False)
    with pytest.raises(ValueError, match="seed"):
        generate_mock(tmp_path / "x", n=2, seed=-1, progress=False)


def test_reader_accepts_the_mock(mock48):
    data = pytest.importorskip("galmerge.data.catalog")
    out, _ = mock48
    cat = data.load_catalog(out)
    assert len(cat) == 48 and {"pre", "post", "non"} <= set(cat["stage"])
    assert data.load_psf(out).shape == (41, 41)
    # FITS text columns come back as str, so they compare with Python strings
    assert {type(v) for v in cat["true_kind"]} == {str} and "isolated" in set(cat["true_kind"])


def test_tidal_shape_follows_the_particles_deformation():
    from galmerge.mock.scene import tidal_shape

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2000, 2))
    assert tidal_shape(ref, ref, 5.0, 0.3, 0.4) == pytest.approx((0.3, 0.4), abs=1e-6)
    stretched = ref * [2.0, 1.0]  # stretched along x: a round galaxy becomes elongated along x
    e, theta = tidal_shape(stretched, ref, 10.0, 0.0, 0.0)
    assert 0.35 < e < 0.6 and min(theta, np.pi - theta) < 0.1


def test_correlated_noise_keeps_its_rms_and_correlates_neighbours():
    from galmerge.mock import observe

    rng = np.random.default_rng(1)
    noise = observe.add_noise(rng, np.zeros((200, 200)), 2.0, 1e9, corr_px=0.6)
    assert noise.std() == pytest.approx(2.0, rel=0.03)
    lag1 = np.corrcoef(noise[:, 1:].ravel(), noise[:, :-1].ravel())[0, 1]
    assert 0.2 < lag1 < 0.7
    white = observe.add_noise(rng, np.zeros((200, 200)), 2.0, 1e9)
    assert abs(np.corrcoef(white[:, 1:].ravel(), white[:, :-1].ravel())[0, 1]) < 0.03


def test_sky_structure_has_the_drawn_rms():
    from galmerge.mock import observe

    rng = np.random.default_rng(2)
    cond = {"sky_rms": 0.1, "sky_residual": 0.2, "psf_fwhm": 0.6}
    old = observe.BRIGHT_STARS_PER_ARCMIN2
    try:
        observe.BRIGHT_STARS_PER_ARCMIN2 = 0.0
        field, n_bright = observe.sky_structure(rng, 128, cond)
    finally:
        observe.BRIGHT_STARS_PER_ARCMIN2 = old
    assert n_bright == 0 and field.std() == pytest.approx(0.02, rel=1e-6)


def test_neighbours_do_not_depend_on_the_class():
    from galmerge.mock import scene

    assert np.isscalar(scene.NEIGHBOUR_PROBABILITY)


def test_library_separations_follow_kitzbichler_white(mock48):
    from galmerge.mock import orbits

    library = orbits.get_library()
    assert len(library["major"]) == orbits.N_MAJOR >= 100
    rng = np.random.default_rng(3)
    for t in (-0.6, -0.3):
        seps = []
        for orbit in library["major"]:
            c = orbit.companion[orbit.frame(t)].astype(float)
            n = orbits.random_unit_vectors(rng, 1)[0]
            seps.append(np.linalg.norm(c - np.dot(c, n) * n))
        ratio = np.median(seps) / orbits.kw08_separation_kpc(-t)
        assert 0.5 < ratio < 2.0, (t, ratio)


def test_orbit_frame_before_coalescence_has_a_companion():
    """A time just before coalescence never gets the coalescence frame, whose companion is NaN,
    even when that frame's stored time is a rounding error below 0 (n=12000, seed 3 crashed so)."""
    from galmerge.mock.orbits import FRAME_DT, Orbit

    times = np.arange(-0.84, 0.33, FRAME_DT)
    times[np.argmin(np.abs(times))] = -2.220446e-16
    companion = np.where((times > -0.5 * FRAME_DT)[:, None], np.nan, 1.0) * np.ones((len(times), 3))
    orbit = Orbit(times=times, particles=np.zeros((len(times), 4, 3), np.float16), companion=companion,
                  mass_ratio=2.0, n_primary=2)
    for t in (-0.019, -0.001, -1e-12, -0.05, -0.8):
        assert np.isfinite(orbit.companion[orbit.frame(t)]).all(), t
    assert orbit.frame(0.0) == int(np.argmin(np.abs(times)))
    assert orbit.frame(0.32) == len(times) - 1


def test_labels_follow_the_papers_definition_and_non_mergers_hold_tngs_hard_cases():
    """Mergers are exactly the major encounters within -0.8..+0.3 Gyr of coalescence; the non-merger
    class also holds earlier major pairs, later remnants, flybys and minor mergers, in the
    proportions of :func:`non_merger_mix` (merger rates times phase durations)."""
    from galmerge.mock import plan as plan_module

    big = plan_catalogue(4000, 11)
    t = big["merger_time"]
    merger = (big["kind"] == "major") & t.between(-0.8, 0.3)
    assert ((big["stage"] != "non") == merger).all()
    assert abs(merger.mean() - 0.5) < 0.01
    non = big[~merger]
    major = non.kind == "major"
    phase = np.select([major & (non.merger_time < -0.8), major & (non.merger_time > 0.3)], ["early", "late"], non.kind)
    assert set(phase) == {"early", "late", "flyby", "minor", "isolated"}
    shares = pd.Series(phase).value_counts(normalize=True)
    for kind, expected in plan_module.non_merger_mix().items():
        assert shares[kind] == pytest.approx(expected, abs=0.01), kind
    assert non.loc[non.kind == "major", "merger_time"].between(-1.6, 1.5).all()
    assert non.loc[non.kind == "flyby", "merger_time"].between(-0.3, 1.0).all()
    # the rates behind the mix: 0.05 major mergers per galaxy per Gyr (Rodriguez-Gomez et al. 2015)
    mix = plan_module.non_merger_mix()
    assert mix["late"] / mix["early"] == pytest.approx(1.2 / 0.8)
    assert sum(mix.values()) == pytest.approx(1.0)


def test_test_and_validation_hold_out_whole_orbits():
    """No library orbit of a test sequence is used by a training or validation sequence, and the
    catalogue's splitter keeps every orbit in one split (issue 20)."""
    from galmerge.data.catalog import assign_splits

    big = plan_catalogue(4000, 11)
    encounters = big[big["kind"] != "isolated"]
    by_orbit = encounters.groupby(["kind", "orbit"])["split"].nunique()
    assert (by_orbit == 1).all()
    assert (big.groupby("split_group")["split"].nunique() == 1).all()
    test_orbits = encounters.loc[encounters.split == "test", ["kind", "orbit"]].drop_duplicates()
    assert len(test_orbits[test_orbits.kind == "major"]) >= 8
    assert 0.08 <= (big.split == "test").mean() <= 0.12
    assert abs((big[big.split == "test"].stage != "non").mean() - 0.5) < 0.05
    catalog = pd.DataFrame({"ID": big["ID"], "sequence_ID": big["sequence_ID"], "split_group": big["split_group"],
                            "label": (big["stage"] != "non").astype(int), "source_folder": big["split"]})
    split = assign_splits(catalog, seed=42)
    assert (split[big["split"] == "test"] == "test").all()
    assert (catalog.assign(split=split).groupby("split_group")["split"].nunique() == 1).all()
    validation = split == "validation"
    assert 0.12 <= validation.mean() <= 0.18
    assert abs(catalog.loc[validation, "label"].mean() - 0.5) < 0.08


@pytest.mark.parametrize("seed", [3, 11])
def test_a_larger_test_fraction_holds_enough_stages_and_still_holds_out_orbits(seed):
    """The quick profile's 5000 objects with 28 % in the test folder give >= 1200 test galaxies with
    >= 400 pre- and >= 100 post-mergers (issue 23), and no orbit crosses the folders."""
    big = plan_catalogue(5000, seed, test_fraction=0.28)
    test = big[big.split == "test"]
    assert 0.26 <= len(test) / len(big) <= 0.30
    stages = test.stage.value_counts()
    assert len(test) >= 1200 and stages["pre"] >= 400 and stages["post"] >= 100
    encounters = big[big["kind"] != "isolated"]
    assert (encounters.groupby(["kind", "orbit"])["split"].nunique() == 1).all()
    assert abs((test.stage != "non").mean() - 0.5) < 0.05


@pytest.mark.parametrize("n, fraction", [(5000, 0.28), (12000, 0.14), (16000, 0.12)])
def test_test_pre_mergers_come_from_at_least_150_independent_orbits(n, fraction):
    """The test sequences are dealt one orbit each from the test block (up to half the library):
    conclusion II's power is set by galaxies, not by a few dozen orbits seen from many views."""
    from galmerge.mock import orbits

    big = plan_catalogue(n, 3, test_fraction=fraction)
    test_major = big[(big.split == "test") & (big.kind == "major")]
    assert test_major.loc[test_major.stage == "pre", "orbit"].nunique() >= 150
    assert test_major["orbit"].nunique() <= orbits.N_MAJOR // 2
    # the test block is used evenly: no orbit serves more sequences than the block forces
    per_orbit = test_major.groupby("orbit")["group"].nunique()
    sequences = test_major["group"].nunique()
    assert per_orbit.max() <= -(-sequences // per_orbit.size)
    train_major = big[(big.split == "train") & (big.kind == "major")]
    assert not set(train_major["orbit"]) & set(test_major["orbit"])
    assert (big.loc[big.kind == "isolated", "orbit"] == -1).all()


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_an_impossible_test_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        plan_catalogue(50, 0, test_fraction=fraction)


def test_diffuse_light_reads_the_annulus_in_sky_rms_units():
    from galmerge.mock import audit

    size, kpc_px = 101, 1.0
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - 50, yy - 50)
    image = np.where((r >= 12) & (r < 40), 0.3, 5.0)  # light only in the annulus counts
    sky = np.ones_like(image, bool)
    assert audit.diffuse_light(image, sky, 0.1, kpc_px) == pytest.approx(3.0)
    assert audit.diffuse_light(image, sky, 0.1, kpc_px / 4) == pytest.approx(50.0)  # 48-160 px: outside it
    assert np.isnan(audit.diffuse_light(image, sky, 0.1, np.nan))
    assert "sky_level" in audit.NOT_IN_TNG and "diffuse_light" not in audit.NOT_IN_TNG


def test_library_orbits_cover_their_windows_and_flybys_never_merge(mock48):
    from galmerge.mock import orbits

    library = orbits.get_library()
    for kind, (count, (qlo, qhi), _) in orbits.KINDS.items():
        lo, hi = orbits.WINDOWS[kind]
        assert len(library[kind]) == count
        for orbit in library[kind]:
            assert orbit.times[0] <= lo + 1e-6 and orbit.times[-1] >= hi - 1e-6, kind
            assert qlo <= orbit.mass_ratio <= qhi
            if kind == "flyby":
                assert np.isfinite(orbit.companion).all()
            else:  # the companion is gone from coalescence on
                assert np.isnan(orbit.companion[orbit.times > 0.5 * orbits.FRAME_DT]).all()


def test_disc_particle_share_is_the_light_of_an_exponential_disc_beyond_the_particles_inner_radius():
    """The discs' tidally responsive share lies under the light an exponential disc holds beyond 0.8 h
    (the particles' inner radius, orbits._disc_particles), computed here by integration, and above
    the share a disc with B/T = 1/3 would have there."""
    from scipy.integrate import quad

    beyond = quad(lambda r: r * np.exp(-r), 0.8, np.inf)[0] / quad(lambda r: r * np.exp(-r), 0, np.inf)[0]
    low, high = scene.DISC_OUTER_SHARE
    assert beyond * (1 - 1 / 3) <= low < high <= beyond
    rng = np.random.default_rng(3)
    galaxies = [scene.draw_galaxy(rng) for _ in range(400)]
    shares = np.array([g["f_outer"] for g in galaxies if g["disc"]])
    assert shares.min() >= low and shares.max() <= high and len(shares) > 200
