"""Cosmology, TNG snapshot redshifts and the geometry of the merger-challenge cutouts.

The paper assumes Planck 2015 (Planck Collaboration 2016): h = 0.677, Omega_m = 0.3089,
flat. Cutouts span 160 kpc; the challenge stores them in four redshift folders of fixed
pixel size (Margalef-Bentabol et al. 2024).
"""

from __future__ import annotations

import numpy as np
from astropy.cosmology import FlatLambdaCDM

#: The paper's cosmology (Sect. 1): Planck 2015, h = 0.677, Omega_m = 0.3089.
COSMOLOGY = FlatLambdaCDM(H0=67.7, Om0=0.3089, name="Planck15 (Chudy et al.)")

#: HSC pixel scale (arcsec per pixel).
HSC_PIXEL_SCALE = 0.168
#: Physical width of every cutout (kpc).
FIELD_KPC = 160.0

#: Redshift of IllustrisTNG snapshots 50-91, the range of the merger challenge.
#: Source: the ``Redshift`` attribute of the TNG snapshot headers, as published in the
#: TNG data release (Nelson et al. 2019, https://www.tng-project.org/data/docs/specifications/).
SNAPSHOT_REDSHIFTS = {
    50: 0.9972942257819404, 51: 0.9505313515850327, 52: 0.9230008161779089,
    53: 0.8868969375752482, 54: 0.8514709006246495, 55: 0.8167099790118506,
    56: 0.7910682489463392, 57: 0.7574413726158526, 58: 0.7326361820223115,
    59: 0.7001063537185233, 60: 0.6761104112134777, 61: 0.6446418406845371,
    62: 0.6214287452425136, 63: 0.5985432881875667, 64: 0.5759808451078874,
    65: 0.5463921831410221, 66: 0.5245658204339230, 67: 0.5030475232448832,
    68: 0.4818329434209512, 69: 0.4609177941806475, 70: 0.4402978492477432,
    71: 0.41996894199726653, 72: 0.3999269646135635, 73: 0.38016786726023866,
    74: 0.36068765726181673, 75: 0.3478538418581776, 76: 0.32882972420595435,
    77: 0.31007412012783386, 78: 0.2977176845174465, 79: 0.2733533465784399,
    80: 0.2613432561610123, 81: 0.24354018155467028, 82: 0.22598838626019768,
    83: 0.21442503551449454, 84: 0.19728418237600986, 85: 0.1803852617057493,
    86: 0.1692520332436107, 87: 0.15274876890238098, 88: 0.14187620396956202,
    89: 0.12575933241126092, 90: 0.10986994045882548, 91: 0.09940180263022191,
}

#: The challenge's redshift folders: name -> (first snapnum, last snapnum, image side in pixels).
SNAPNUM_FOLDERS = {
    "snapnum_50_57": (50, 57, 128),   # z 0.76-1.0
    "snapnum_58_66": (58, 66, 160),   # z 0.52-0.76
    "snapnum_67_77": (67, 77, 192),   # z 0.31-0.52
    "snapnum_78_91": (78, 91, 320),   # z 0.1-0.31
}


def snapnum_to_redshift(snapnum):
    """Redshift of TNG snapshot(s) ``snapnum`` (int or array of ints, 50-91).

    Raises
    ------
    ValueError
        For a snapshot outside 50-91.
    """
    snaps = np.asarray(snapnum)
    flat = snaps.ravel()
    unknown = sorted({int(s) for s in flat if int(s) not in SNAPSHOT_REDSHIFTS})
    if unknown:
        raise ValueError(f"TNG snapshot(s) {unknown} outside the merger-challenge range 50-91")
    z = np.array([SNAPSHOT_REDSHIFTS[int(s)] for s in flat], dtype=float).reshape(snaps.shape)
    return float(z) if z.ndim == 0 else z


def folder_for_snapnum(snapnum: int) -> str:
    """Name of the challenge folder (``snapnum_<lo>_<hi>``) that holds snapshot ``snapnum``."""
    for name, (lo, hi, _) in SNAPNUM_FOLDERS.items():
        if lo <= int(snapnum) <= hi:
            return name
    raise ValueError(f"TNG snapshot {snapnum} outside the merger-challenge range 50-91")


def image_size_for_snapnum(snapnum: int) -> int:
    """Side in pixels of the challenge cutouts of snapshot ``snapnum``."""
    return SNAPNUM_FOLDERS[folder_for_snapnum(snapnum)][2]


def kpc_per_arcsec(z) -> np.ndarray | float:
    """Proper transverse scale at redshift ``z`` (kpc per arcsec), in the paper's cosmology."""
    value = COSMOLOGY.kpc_proper_per_arcmin(z).value / 60.0
    return float(value) if np.ndim(value) == 0 else value


def kpc_per_pixel(z, pixel_scale: float = HSC_PIXEL_SCALE):
    """Proper kpc per pixel at redshift ``z`` for a pixel of ``pixel_scale`` arcsec."""
    return kpc_per_arcsec(z) * pixel_scale
