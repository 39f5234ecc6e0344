"""A physically grounded mock of the merger-challenge dataset (HSC i-band cutouts of TNG galaxies).

``generate_mock(out_dir, n, seed, workers=None)`` (CLI: ``python -m galmerge.mock --out DIR
--n N --seed S [--workers W]``) writes exactly the challenge layout::

    DIR/train/snapnum_<lo>_<hi>/objID_<ID>.fits     float32 (N, N) image in HDU 0 (counts, zero point 27)
    DIR/test/snapnum_<lo>_<hi>/objID_<ID>.fits      ~10 % of the objects, whole sequences,
                                                    class-stratified (merger fraction as in train)
    DIR/catalog_merger_challenge_TNG_train.fits     FITS binary tables: the challenge columns
    DIR/catalog_merger_challenge_TNG_test.fits      (ID, snapnum, sequence_ID, is_*_merger,
                                                     time_before/after_merger) + true_* columns
    DIR/psf/psf_i.fits                              nominal i-band PSF (41x41, sum 1)

Image headers record PIXSCALE, ZEROPT, GAIN, SKYRMS, PSFFWHM, PSFBETA (no dates or
checksums, so the same (n, seed) gives byte-identical files; every object is seeded from
(seed, ID) and every sequence from (seed, sequence), so the number of workers does not matter).

Geometry: like the real challenge, pixels are HSC's 0.168 arcsec and the side N is fixed
per folder (128/160/192/320 px), so a cutout spans 100-250 kpc (about 160 kpc on average)
rather than exactly 160 kpc; each object's width is the catalogue column ``true_field_kpc``.

The restricted N-body orbit library (256 integrations: 128 major, 64 minor, 64 flybys) is built
once and cached in ``$GALMERGE_CACHE`` (default ``~/.cache/galmerge``); it depends on no seed.

What the classes share and what they do not (issue 12; ``benchmarks/mock_audit.py`` measures
it): every galaxy is drawn by one rendering path; chance neighbours, field sources, stars,
PSF, correlated noise and sky residuals follow the same laws in every cutout; object IDs,
``sequence_ID`` (a random permutation; isolated galaxies form sequences too) and file order
carry no class; both classes have the same redshift law. What differs is physics: companions
whose separation follows Kitzbichler & White (2008) against time, tidal tails and bridges,
tidally stretched and unrelaxed, elongated remnants (mergers' primaries more elliptical, as in
the paper's Fig 9). The non-merger class holds TNG's hard cases too (issue 20): major pairs more
than 0.8 Gyr before coalescence, major remnants more than 0.3 Gyr after, flybys and minor
mergers, in proportions from merger rates (:mod:`~galmerge.mock.plan`). Test and validation
sequences use library orbits that no training sequence uses (catalogue column ``split_group``).

Measured (``benchmarks/mock_audit.py --data`` on n=4000, seed 11, generated with --workers 2 in
737 s on the shared 2-core machine at load 10-20, 5.4 objects/s; in the same speed run the mock
before issue 12 went as fast, 1.0x, and 1.34x slower in an earlier one): every statistic TNG
would not show has AUC 0.49-0.53 (sky rms 0.520 and noise correlation 0.529 are the largest:
faint tidal light below the detection threshold raises both, as it would in TNG); mergers'
primaries are more elliptical (truth +0.049, AUC 0.57; SEP moments of the central segment
+0.032, AUC 0.57; statmorph Sérsic fits of 80 primaries +0.035); the median projected
separation of pre-mergers is 24, 15, 9 and 3 kpc at -0.7, -0.5, -0.3 and -0.1 Gyr against
23, 16, 10 and 3 kpc from Kitzbichler & White (2008); the nine-statistic baseline of
:mod:`galmerge.analysis.baseline` scores 0.654 +- 0.018 in sequence-grouped 5-fold cross-validation.

Modules: :mod:`~galmerge.mock.plan` (sequences, stages, snapshots, test split),
:mod:`~galmerge.mock.orbits` (restricted N-body orbit library), :mod:`~galmerge.mock.scene`
(galaxies, features, field; the physics choices are listed there),
:mod:`~galmerge.mock.render` (Sérsic and light painting), :mod:`~galmerge.mock.observe`
(PSF, sky, Poisson noise), :mod:`~galmerge.mock.generate` (parallel writing).

Truth columns (all prefixed ``true_``): redshift, kpc_per_pixel, field_kpc, psf_fwhm (arcsec),
psf_beta, sky_rms (counts/pixel), depth (5-sigma point-source mag), gain, kind ('major',
'minor', 'flyby', 'isolated': the physics; a 'major' object is a merger only within -0.8..+0.3
Gyr), mass_ratio, orbit (library index within the kind, -1 none), separation_kpc (projected,
kpc), companion_in_field, encounter_time (Gyr from coalescence, or from a flyby's pericentre;
NaN for isolated galaxies), features (comma-separated:
spiral, bar, clumps, neighbour, companion, satellite, double_nucleus, tidal, remnant,
minor_debris, major_merger, minor_merger, flyby), neighbour / neighbour_mag / neighbour_sep_px, the
main galaxy's (``main_``) and companion's (``comp_``) Sérsic x, y (pixels), mag, n, r_e_px,
r_e_kpc, ellip (1 - b/a), theta (radians, CCW from +x, astropy Sersic2D convention),
n_field_galaxies, n_stars, n_bright_stars (i < 16 stars whose wings reach the cutout),
noise_corr_px (Gaussian sigma of the noise correlation, pixels) and sky_residual (rms of the
smooth sky residual, in units of sky_rms).
"""

from galmerge.mock.generate import CATALOGUE_NAMES, PSF_PATH, generate_mock

__all__ = ["generate_mock", "CATALOGUE_NAMES", "PSF_PATH"]
