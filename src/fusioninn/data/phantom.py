"""A synthetic brain-tumour phantom: the embedded default data set of fusioninn.

Skull-stripped brains on an exactly-zero background: a folded cortex (a grey-matter ribbon that lines
the sulci and the interhemispheric fissure), white matter, deep grey matter, CSF in the sulci and in the
lateral and third ventricles, and a glioma with a necrotic core (BraTS label 1), an enhancing rim
(label 4) and surrounding oedema (label 2) — or, in about a third of the cases, a non-enhancing core
(label 1) as in lower-grade gliomas. Position, size and shape of the brain, the folds, the ventricles and
the tumour are random per case. Five sequences carry their characteristic contrasts (relative to white
matter, see :data:`TISSUE_CONTRAST`): T1, T1ce (enhancing rim brightest), T2 (CSF and oedema bright),
FLAIR (CSF dark, oedema brightest), DWI-ADC (CSF bright, cellular tumour darkest). Scanner realism:
smooth multiplicative bias field, Rician noise, partial-volume blur, per-case intensity scaling and, in
the 3-D volumes, small negative values at the brain edge like the interpolation ringing of real BraTS
files.

The geometry is one model evaluated on axial planes: the brain outline, the fold angles and depths and
the ventricle and tumour cross-sections are functions of the height ``z``, so 3-D volumes are coherent
across slices, while :func:`phantom_slices` draws one plane of a fresh random brain per slice and stays
fast (per-plane angle tables, precomputed coordinate grids and texture banks).

Array orientation. A 2-D slice is shown the radiological way: rows run anterior → posterior, columns
from the patient's right to left. Volumes are stored like the BraTS releases, ``vol[i, j, k]`` with
``i`` → Left, ``j`` → Posterior, ``k`` → Superior (an LPS affine), so ``vol[:, :, k].T`` is the slice.

Example:
    >>> from fusioninn.data.phantom import phantom_slices
    >>> ps = phantom_slices(4, seed=1)
    >>> ps.images.shape, ps.images.dtype, ps.seg.shape
    ((4, 2, 240, 240), dtype('float32'), (4, 240, 240))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = [
    "CONTRAST_SPREAD",
    "check_contrast_spread",
    "SEQUENCES",
    "TISSUES",
    "TISSUE_CONTRAST",
    "RAW_WHITE_MATTER",
    "SEG_OF_TISSUE",
    "PhantomSlices",
    "phantom_slices",
    "phantom_slice_at",
    "phantom_affine",
    "phantom_subject",
    "phantom_tissue_slices",
    "tissue_means",
    "write_phantom_subjects",
]

SEQUENCES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair", "adc")
#: What 2-D slices can also render: a PET-like image (FDG-style uptake at PET resolution), for tests of
#: fusion across modalities (an MRI + PET pair, e.g. ``phantom:50:4242`` with ``--pair t1,pet``).
SLICE_SEQUENCES: tuple[str, ...] = (*SEQUENCES, "pet")

# Tissue codes of the phantom (finer than the BraTS labels).
BG, CSF, GM, WM, DEEP, OEDEMA, NECROSIS, ENHANCING, NONENH = range(9)
TISSUES: tuple[str, ...] = (
    "background", "csf", "grey_matter", "white_matter", "deep_grey", "oedema", "necrosis", "enhancing",
    "non_enhancing",
)
#: BraTS label of each tissue code: necrotic / non-enhancing core 1, oedema 2, enhancing tumour 4.
SEG_OF_TISSUE = np.array([0, 0, 0, 0, 0, 2, 1, 4, 1], dtype=np.uint8)

#: Mean intensity of each tissue relative to white matter, per sequence (order of :data:`TISSUES`).
#: T1/T1ce/T2/FLAIR grey-matter and CSF ratios were set from the two real samples (see docs/data.md and
#: benchmarks/phantom_stats.py); tumour ratios from the samples' labelled regions where present, else
#: from textbook appearance; ADC from typical values in 1e-6 mm²/s (CSF ~3000, GM ~850, WM ~720,
#: oedema ~1400, necrosis ~2200, cellular enhancing tumour ~560).
TISSUE_CONTRAST: dict[str, np.ndarray] = {
    #                    bg   csf   gm    wm   deep  oed   nec   enh  nonenh
    "t1": np.array([0.0, 0.30, 0.66, 1.0, 0.82, 0.64, 0.36, 0.72, 0.62], dtype=np.float32),
    "t1ce": np.array([0.0, 0.36, 0.70, 1.0, 0.84, 0.64, 0.40, 1.50, 0.64], dtype=np.float32),
    "t2": np.array([0.0, 2.40, 1.22, 1.0, 1.10, 1.75, 1.90, 1.50, 1.90], dtype=np.float32),
    "flair": np.array([0.0, 0.32, 1.06, 1.0, 1.00, 1.60, 0.95, 1.45, 1.45], dtype=np.float32),
    "adc": np.array([0.0, 4.17, 1.18, 1.0, 1.08, 1.94, 3.06, 0.78, 1.67], dtype=np.float32),
}
#: White-matter level in raw scanner-like units (ADC in 1e-6 mm²/s), before the per-case scaling.
#: FDG-PET-like uptake relative to white matter (grey matter and deep grey about 2.5x white matter, CSF
#: and necrosis nearly cold, an active enhancing rim hottest, oedema below white matter), used by the
#: ``pet`` slice sequence only; the image is then blurred to PET resolution (Gaussian sigma
#: :data:`PET_BLUR_MM` mm, i.e. about 6 mm FWHM) and carries less texture than the MR sequences.
PET_UPTAKE = np.array([0.0, 0.15, 2.5, 1.0, 2.3, 0.7, 0.2, 3.2, 1.3], dtype=np.float32)
PET_BLUR_MM = 2.5
RAW_WHITE_MATTER: dict[str, float] = {"t1": 560.0, "t1ce": 550.0, "t2": 480.0, "flair": 370.0, "adc": 720.0}

_TEXTURE_AMP = np.array([0, 0.04, 0.05, 0.035, 0.04, 0.08, 0.12, 0.14, 0.10], dtype=np.float32)
_NBINS = 1024  # angle bins of the per-plane tables
_EXTENT = (240.0, 240.0, 155.0)  # field of view in mm: columns (L-R), rows (A-P), height (I-S)


@dataclass
class PhantomSlices:
    """A batch of 2-D phantom slices.

    Attributes:
        images: float32 (n, 2, H, W) in [0, 1], min-max normalised per slice and per sequence, background 0.
        seg: uint8 (n, H, W), BraTS labels 0/1/2/4.
        sequences: the two sequence names, in channel order.
    """

    images: np.ndarray
    seg: np.ndarray
    sequences: tuple[str, str]

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ----------------------------------------------------------------------------------------------------
# Random anatomy of one case


@dataclass
class _Case:
    a: float  # brain semi-axes (mm): left-right, anterior-posterior, inferior-superior
    b: float
    c: float
    box_p: float  # superellipse exponent of the height profile (flat top and bottom)
    outline: np.ndarray  # (4, 3): harmonic order m = 2..5 → amplitude, phase, z-drift
    sulci: np.ndarray  # (n, 6): angle, z-slope, wiggle amp, wiggle freq, wiggle phase, depth (mm)
    gm_thickness: float
    csf_width: float
    csf_surface: float
    fissure_tilt: float
    vent: np.ndarray  # (7,): x offset, y offset, z centre, semi-axes a, b, c, rotation
    deep: np.ndarray  # (4,): thalamus x, y, size; lentiform x
    tumour: np.ndarray  # (3,) centre mm relative to brain centre (x, y, z)
    tumour_r: float
    tumour_shape: np.ndarray  # (2, 4, 3): core/oedema x harmonic (2..5) x (amplitude, phase, z-coupling)
    necrotic_fraction: float  # of the core radius; 0 → non-enhancing core
    oedema_factor: float
    has_tumour: bool


def _sample_case(rng: np.random.Generator, tumour: bool = True) -> _Case:
    a = rng.uniform(58.0, 72.0)
    b = rng.uniform(76.0, 88.0)
    c = rng.uniform(58.0, 68.0)
    outline = np.stack(
        [rng.uniform(0.0, 0.035, 4), rng.uniform(0, 2 * np.pi, 4), rng.uniform(-1.5, 1.5, 4)], axis=1
    )
    n_sulci = int(rng.integers(60, 80))
    base = np.sort(rng.uniform(-np.pi, np.pi, n_sulci))
    sulci = np.stack(
        [
            base,
            rng.uniform(-0.5, 0.5, n_sulci),
            rng.uniform(0.02, 0.10, n_sulci),
            rng.uniform(2.0, 6.0, n_sulci),
            rng.uniform(0, 2 * np.pi, n_sulci),
            rng.uniform(8.0, 26.0, n_sulci),
        ],
        axis=1,
    )
    vent_scale = rng.uniform(0.7, 1.5)
    vent = np.array(
        [
            rng.uniform(6.0, 10.0) * vent_scale**0.5,
            rng.uniform(-10.0, 2.0),
            rng.uniform(0.05, 0.2),
            rng.uniform(3.5, 6.0) * vent_scale,
            rng.uniform(20.0, 28.0),
            rng.uniform(14.0, 20.0),
            rng.uniform(0.12, 0.30),
        ]
    )
    deep = np.array([rng.uniform(9.0, 13.0), rng.uniform(4.0, 10.0), rng.uniform(0.85, 1.15),
                     rng.uniform(18.0, 24.0)])
    # tumour centre: inside the inner 60 % of the brain, in the mid-height band where BraTS tumours sit
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    rho = rng.uniform(0.15, 0.6)
    centre = direction * rho * np.array([a, b, c])
    centre[2] = np.clip(centre[2], -0.45 * c, 0.5 * c)
    shape = np.stack(
        [
            np.stack([rng.uniform(0, 0.12, 4), rng.uniform(0, 2 * np.pi, 4), rng.uniform(-2, 2, 4)], 1)
            for _ in range(2)
        ]
    )
    enhancing = rng.random() < 0.65
    return _Case(
        a=a, b=b, c=c, box_p=rng.uniform(2.2, 3.0), outline=outline, sulci=sulci,
        gm_thickness=rng.uniform(2.5, 4.0), csf_width=rng.uniform(1.0, 2.2),
        csf_surface=rng.uniform(0.0, 1.2),
        fissure_tilt=rng.uniform(-0.04, 0.04), vent=vent, deep=deep, tumour=centre,
        tumour_r=rng.uniform(5.0, 20.0), tumour_shape=shape,
        necrotic_fraction=rng.uniform(0.3, 0.7) if enhancing else 0.0,
        oedema_factor=rng.uniform(1.3, 2.3), has_tumour=tumour,
    )


# ----------------------------------------------------------------------------------------------------
# Precomputed grids


@dataclass(frozen=True)
class _Grid:
    H: int
    W: int
    dy: float
    dx: float
    r: np.ndarray  # (2H, 2W) distance (mm) from the centre pixel (H, W)
    bins: np.ndarray  # (2H, 2W) int16 angle bin of atan2(y, x)
    X: np.ndarray  # (1, 2W) mm, columns
    Y: np.ndarray  # (2H, 1) mm, rows
    tex: np.ndarray  # (3, 2H, 2W) smooth unit-variance textures (coarse, medium, fine)
    noise: np.ndarray  # (4, 2H, 2W) white standard-normal bank; slices take windows at random offsets

    def crop(self, big: np.ndarray, ci: int, cj: int) -> np.ndarray:
        return big[..., self.H - ci : 2 * self.H - ci, self.W - cj : 2 * self.W - cj]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


@functools.lru_cache(maxsize=8)
def _grid(H: int, W: int) -> _Grid:
    dy = _EXTENT[1] / H
    dx = _EXTENT[0] / W
    Y = ((np.arange(2 * H) - H) * dy).astype(np.float32)[:, None]
    X = ((np.arange(2 * W) - W) * dx).astype(np.float32)[None, :]
    r = np.hypot(Y, X).astype(np.float32)
    theta = np.arctan2(Y, X)
    bins = ((theta + np.pi) * (_NBINS / (2 * np.pi))).astype(np.int16) % _NBINS
    rng = np.random.default_rng(20240315)  # fixed: the texture bank is part of the phantom's definition
    scale = 1.0 / min(dx, dy)
    tex = np.stack(
        [_smooth_noise(rng, (2 * H, 2 * W), s * scale) for s in (9.0, 3.0, 1.0)]
    )
    # drawing fresh normals costs ~1 ms per 240x240 image; windows of a fixed bank at random offsets
    # (and signs) are as good for Rician noise and keep phantom_slices above 200 slices/s
    noise = rng.standard_normal((4, 2 * H, 2 * W), dtype=np.float32)
    for arr in (r, bins, X, Y, tex, noise):
        arr.setflags(write=False)
    return _Grid(H, W, dy, dx, r, bins, X, Y, tex, noise)


_BIN_CENTRES = (-np.pi + (np.arange(_NBINS) + 0.5) * (2 * np.pi / _NBINS)).astype(np.float64)


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


# ----------------------------------------------------------------------------------------------------
# Geometry of one axial plane


def _tissue_plane(
    case: _Case, z: float, grid: _Grid, centre: tuple[int, int], tex: np.ndarray
) -> np.ndarray:
    """Tissue codes (H, W) uint8 of the plane at height ``z`` mm (relative to the brain centre).

    ``centre`` is the brain centre pixel (row, col); ``tex`` (2, H, W) smooth fields that bend the folds.
    """
    H, W = grid.H, grid.W
    tissue = np.zeros((H, W), dtype=np.uint8)
    zn = z / case.c
    if abs(zn) >= 1.0:
        return tissue
    ci, cj = centre
    zscale = (1.0 - abs(zn) ** case.box_p) ** (1.0 / case.box_p)
    th = _BIN_CENTRES
    # brain outline: ellipse times low-order harmonics that drift with height
    r_ell = case.a * case.b / np.sqrt((case.b * np.cos(th)) ** 2 + (case.a * np.sin(th)) ** 2)
    m = np.arange(2, 6)[:, None]
    o = case.outline
    harmon = (o[:, 0:1] * np.cos(m * th[None] + o[:, 1:2] + o[:, 2:3] * zn)).sum(0)
    r_mid = (r_ell * (1.0 + harmon)).astype(np.float32)  # outline at mid-height
    # sulci: angle (drifting and wiggling with height) → per-bin angular distance and depth of the nearest
    s = case.sulci
    ang = s[:, 0] + s[:, 1] * zn + s[:, 2] * np.sin(s[:, 3] * zn + s[:, 4])
    order = np.argsort(_wrap(ang))
    srt = _wrap(ang)[order]
    ext = np.concatenate([srt[-1:] - 2 * np.pi, srt, srt[:1] + 2 * np.pi])
    ext_id = np.concatenate([order[-1:], order, order[:1]])
    right = np.searchsorted(ext, th)
    d_left, d_right = th - ext[right - 1], ext[right] - th
    pick = np.where(d_left < d_right, right - 1, right)
    nearest = ext_id[pick]
    d_ang = np.minimum(d_left, d_right).astype(np.float32)
    depth_tab = (s[nearest, 5] * (0.4 + 0.6 * zscale)).astype(np.float32)

    r = grid.crop(grid.r, ci, cj)
    bins = grid.crop(grid.bins, ci, cj)
    r_mid_px = r_mid[bins]
    depth = r_mid_px * np.float32(zscale) - r  # mm below the surface, in-plane (positive inside)
    inside = depth > 0
    # ... and from above/below: the superellipse height at this in-plane radius, minus |z|, tabulated
    # in u = r / r_mid so the top and bottom of the brain get a cortex ribbon too
    u_tab = np.linspace(0.0, 1.0, 257)
    v_tab = (case.c * (1.0 - u_tab**case.box_p) ** (1.0 / case.box_p) - abs(z)).astype(np.float32)
    u_idx = np.minimum(r * (256.0 / np.maximum(r_mid_px, 1e-3)), 256.0).astype(np.int16)
    depth = np.minimum(depth, v_tab[u_idx])
    if not inside.any():
        return tissue
    # folds bend: shift the angle bin by a smooth field, more at depth
    wiggle = (tex[0] * 14.0).astype(np.int16)
    wb = (bins + wiggle) & (_NBINS - 1)
    d_sulc = r * d_ang[wb]  # mm to the nearest sulcus (arc length)
    sdepth = depth_tab[wb]
    half = 0.5 * case.csf_width
    gm_t = case.gm_thickness
    tissue[inside] = WM
    # interhemispheric fissure along the midline, front and back (all the way above the corpus callosum)
    X = grid.X[:, grid.W - cj : 2 * grid.W - cj]
    Y = grid.Y[grid.H - ci : 2 * grid.H - ci, :]
    xm = np.abs(X - case.fissure_tilt * Y)
    # the corpus callosum joins the hemispheres below ~0.35 c; above it the fissure runs front to back
    y_cc = 0.38 * case.b * zscale * min(max((0.4 - zn) / 0.25, 0.0), 1.0)
    fiss_zone = np.abs(Y) > y_cc
    gm = inside & ((depth < gm_t) | ((d_sulc < half + gm_t) & (depth < sdepth + gm_t)))
    gm |= inside & fiss_zone & (xm < half + gm_t)
    tissue[gm] = GM
    # the deep structures lie within 50 mm of the centre: work on that window only (speed)
    i0, i1 = max(ci - int(50 / grid.dy), 0), min(ci + int(50 / grid.dy) + 1, H)
    j0, j1 = max(cj - int(50 / grid.dx), 0), min(cj + int(50 / grid.dx) + 1, W)
    Xw, Yw = X[:, j0:j1], Y[i0:i1]
    tw, inw = tissue[i0:i1, j0:j1], inside[i0:i1, j0:j1]
    # deep grey: thalami and lentiform nuclei (ellipses at their heights)
    dp = case.deep
    for zc, zr, xc, yc, ra, rb in (
        (-0.05, 0.28, dp[0], dp[1], 7.0 * dp[2], 12.0 * dp[2]),
        (0.05, 0.25, dp[3], -6.0, 5.0 * dp[2], 13.0 * dp[2]),
    ):
        q = 1.0 - ((zn - zc) / zr) ** 2
        if q > 0:
            k = math.sqrt(q)
            ell = ((np.abs(Xw) - xc) / (ra * k)) ** 2 + ((Yw - yc) / (rb * k)) ** 2 < 1.0
            tw[ell & inw] = DEEP
    # CSF: sulci, fissure, a thin surface layer, lateral and third ventricles
    csf = inside & (((d_sulc < half) & (depth < sdepth)) | (depth < case.csf_surface))
    csf |= inside & fiss_zone & (xm < half)
    tissue[csf] = CSF
    v = case.vent
    q = 1.0 - ((zn - v[2]) * case.c / v[5]) ** 2
    cw = np.zeros(tw.shape, dtype=bool)
    if q > 0:
        k = math.sqrt(q)
        for side in (-1.0, 1.0):
            u = Xw - side * v[0]
            w = Yw - v[1]
            cr, sr = math.cos(side * v[6]), math.sin(side * v[6])
            uu = cr * u + sr * w
            ww = -sr * u + cr * w
            # a wider frontal horn (negative y is anterior)
            width = v[3] * k * (1.0 + 0.5 * (ww < 0))
            cw |= (uu / width) ** 2 + (ww / (v[4] * k)) ** 2 < 1.0
    if abs(zn + 0.1) < 0.25:
        cw |= (np.abs(Xw) < 1.6) & (np.abs(Yw - 3.0) < 11.0)
    tw[cw & inw] = CSF
    if case.has_tumour:
        _tumour_plane(case, z, grid, centre, tissue, inside)
    return tissue


def _tumour_plane(
    case: _Case, z: float, grid: _Grid, centre: tuple[int, int], tissue: np.ndarray, inside: np.ndarray
) -> None:
    R = case.tumour_r
    R_oed = R * case.oedema_factor
    dz = z - case.tumour[2]
    if abs(dz) >= 1.6 * R_oed:
        return
    ci = int(round(centre[0] + case.tumour[1] / grid.dy))
    cj = int(round(centre[1] + case.tumour[0] / grid.dx))
    ci = min(max(ci, 0), grid.H)
    cj = min(max(cj, 0), grid.W)
    # work on the tumour's bounding window only (harmonics add at most 4 x 0.18 to the radius)
    ext = 1.75 * R_oed
    i0, i1 = max(ci - int(ext / grid.dy) - 1, 0), min(ci + int(ext / grid.dy) + 2, grid.H)
    j0, j1 = max(cj - int(ext / grid.dx) - 1, 0), min(cj + int(ext / grid.dx) + 2, grid.W)
    if i0 >= i1 or j0 >= j1:
        return
    win = (slice(grid.H - ci + i0, grid.H - ci + i1), slice(grid.W - cj + j0, grid.W - cj + j1))
    r2 = grid.r[win] ** 2 + dz * dz
    bins = grid.bins[win]
    tissue = tissue[i0:i1, j0:j1]
    inside = inside[i0:i1, j0:j1]
    th = _BIN_CENTRES
    m = np.arange(2, 6)[:, None]
    radii = []
    for part, base in ((0, R), (1, R_oed)):
        sh = case.tumour_shape[part]
        tab = (1.0 + (sh[:, 0:1] * np.cos(m * th[None] + sh[:, 1:2] + sh[:, 2:3] * dz / R_oed)).sum(0))
        radii.append(((base * tab) ** 2).astype(np.float32)[bins])
    core = inside & (r2 < radii[0])
    oed = inside & (r2 < radii[1]) & ~core
    # oedema spreads along white matter and spares most of the cortex
    oed &= (tissue == WM) | (tissue == DEEP) | ((tissue == GM) & (r2 < 0.6 * radii[1]))
    tissue[oed] = OEDEMA
    if case.necrotic_fraction > 0:
        nec = core & (r2 < radii[0] * case.necrotic_fraction**2)
        tissue[core] = ENHANCING
        tissue[nec] = NECROSIS
    else:
        tissue[core] = NONENH


# ----------------------------------------------------------------------------------------------------
# Intensities


def _blur2d(img: np.ndarray) -> np.ndarray:
    """Partial-volume blur: a [1, 2, 1]/4 binomial filter along the last two axes (edges replicated)."""
    out = img * 0.5
    out[..., 1:, :] += 0.25 * img[..., :-1, :]
    out[..., :-1, :] += 0.25 * img[..., 1:, :]
    out[..., 0, :] += 0.25 * img[..., 0, :]
    out[..., -1, :] += 0.25 * img[..., -1, :]
    res = out * 0.5
    res[..., :, 1:] += 0.25 * out[..., :, :-1]
    res[..., :, :-1] += 0.25 * out[..., :, 1:]
    res[..., :, 0] += 0.25 * out[..., :, 0]
    res[..., :, -1] += 0.25 * out[..., :, -1]
    return res


def _bias_1d(rng: np.random.Generator, n: int, strength: float) -> np.ndarray:
    t = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    c1, c2 = rng.uniform(-strength, strength, 2)
    return 1.0 + c1 * t + c2 * (t * t - 1.0 / 3.0)


def _seq_gain(rng: np.random.Generator) -> tuple[float, float]:
    """(scale, noise sigma relative to white matter) of one sequence of one case."""
    return float(np.exp(rng.normal(0.0, 0.2))), float(rng.uniform(0.015, 0.04))


def _seq_rng(key: tuple[int, ...], seq: str) -> np.random.Generator:
    # one generator per sequence, so a sequence's image does not depend on which others are rendered
    return np.random.default_rng([*key, 100 + SLICE_SEQUENCES.index(seq)])


#: Default half-width of the per-case, per-tissue contrast factor (uniform in 1 ± this).
CONTRAST_SPREAD = 0.07


def _contrast_table(seq: str, rng: np.random.Generator, spread: float = CONTRAST_SPREAD) -> np.ndarray:
    # per-case variation of each tissue's intensity, as between patients, scanners and protocols
    base = PET_UPTAKE if seq == "pet" else TISSUE_CONTRAST[seq]
    return (base * rng.uniform(1.0 - spread, 1.0 + spread, base.shape)).astype(np.float32)


def check_contrast_spread(spread: float) -> float:
    """``spread`` as a float, refused (:class:`DataError`) unless 0 <= spread < 1 (NaN included)."""
    spread = float(spread)
    if not 0.0 <= spread < 1.0:
        raise DataError(f"contrast spread must be in [0, 1), got {spread}")
    return spread


def _check_sequences(sequences: Sequence[str], allowed: tuple[str, ...] = SEQUENCES) -> tuple[str, ...]:
    seqs = tuple(sequences)
    bad = [s for s in seqs if s not in allowed]
    if bad:
        raise DataError(f"unknown sequence {bad[0]!r}; the phantom has {', '.join(allowed)}")
    return seqs


def _pet_blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur (edges replicated): the point spread of a PET scanner."""
    radius = max(1, int(np.ceil(3 * sigma_px)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma_px) ** 2)
    k /= k.sum()
    out = np.pad(img, ((radius, radius), (0, 0)), mode="edge")
    out = sum(w * out[i : i + img.shape[0]] for i, w in enumerate(k))
    out = np.pad(out, ((0, 0), (radius, radius)), mode="edge")
    return sum(w * out[:, i : i + img.shape[1]] for i, w in enumerate(k)).astype(np.float32)


def _minmax(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per-image min-max to [0, 1] over the last two axes; constant images become zeros."""
    flat = img.reshape(*img.shape[:-2], -1)
    lo = flat.min(-1)[..., None, None]
    span = flat.max(-1)[..., None, None] - lo
    if out is None:
        out = np.empty(img.shape, dtype=np.float32)
    np.subtract(img, lo, out=out, casting="unsafe")
    # a division (not a multiplication by 1/span) so the maximum lands exactly on 1
    np.divide(out, np.where(span > 0, span, 1.0), out=out, casting="unsafe")
    out *= span > 0
    return out


# ----------------------------------------------------------------------------------------------------
# 2-D slices


def _plane_z(case: _Case, rng: np.random.Generator) -> float:
    """Height of a training plane: through the tumour when there is one, else in the mid-brain band."""
    if case.has_tumour:
        return float(case.tumour[2] + rng.uniform(-0.6, 0.6) * case.tumour_r)
    return float(rng.uniform(-0.45, 0.5) * case.c)


def _slice_geometry(rng: np.random.Generator, grid: _Grid, tumour: bool) -> tuple[np.ndarray, np.ndarray]:
    """Tissue codes (H, W) and the texture windows (3, H, W) of one slice of a fresh random brain."""
    H, W = grid.H, grid.W
    case = _sample_case(rng, tumour=tumour)
    z = _plane_z(case, rng)
    ci = int(round(H * rng.uniform(0.5, 0.58)))
    cj = int(round(W * rng.uniform(0.46, 0.54)))
    offsets = rng.integers(0, [H, W], size=(3, 2))
    tex = np.stack([grid.tex[k, oi : oi + H, oj : oj + W] for k, (oi, oj) in enumerate(offsets)])
    return _tissue_plane(case, z, grid, (ci, cj), tex), tex


def _one_slice(
    rng: np.random.Generator,
    grid: _Grid,
    sequences: tuple[str, ...],
    tumour: bool,
    key: tuple[int, ...],
    spread: float = CONTRAST_SPREAD,
) -> tuple[np.ndarray, np.ndarray]:
    H, W = grid.H, grid.W
    tissue, tex = _slice_geometry(rng, grid, tumour)
    amp = _TEXTURE_AMP[tissue]
    texture = 1.0 + amp * (0.6 * tex[1] + 0.4 * tex[2])
    brain = tissue > 0
    out = np.empty((len(sequences), H, W), dtype=np.float32)
    for k, seq in enumerate(sequences):
        srng = _seq_rng(key, seq)
        scale, sigma = _seq_gain(srng)
        img = _contrast_table(seq, srng, spread)[tissue] * texture
        if seq != "pet":
            img = _blur2d(img)
        img *= np.outer(_bias_1d(srng, H, 0.12), _bias_1d(srng, W, 0.12))
        (o1, o2), (o3, o4) = srng.integers(0, [H, W], size=(2, 2))
        b1, b2 = srng.integers(0, 4, 2)
        img += grid.noise[b1, o1 : o1 + H, o2 : o2 + W] * sigma
        n2 = grid.noise[b2, o3 : o3 + H, o4 : o4 + W] * sigma
        img = np.sqrt(img * img + n2 * n2) * scale
        if seq == "pet":  # PET resolution: a wide point spread (over image and noise) instead of partial volume
            img = _pet_blur(img, PET_BLUR_MM * W / _EXTENT[0])
        if seq != "pet":  # the PET spread reaches past the brain outline (it is not skull-stripped MR)
            img *= brain
        out[k] = img
    return out, SEG_OF_TISSUE[tissue]


def phantom_slices(
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (240, 240),
    sequences: tuple[str, str] = ("t1ce", "flair"),
    tumour: bool = True,
    contrast_spread: float = CONTRAST_SPREAD,
) -> PhantomSlices:
    """``n`` axial phantom slices, each from a fresh random brain, as min-max normalised pairs.

    Slice ``i`` depends only on ``(seed, i)`` and ``size``: the first ``k`` slices of a longer call equal a
    shorter call. With ``tumour=True`` (default) every slice cuts through the tumour, as the slices the
    paper selected (BraTS slices showing tumour labels) do.

    Args:
        n: number of slices (>= 0).
        seed: random seed.
        size: (H, W) in pixels; the field of view is 240 × 240 mm whatever the size.
        sequences: names from :data:`SLICE_SEQUENCES` (the MR sequences and ``pet``); one channel per name
            (two by default, but any number).
        tumour: whether the brains carry a tumour.
        contrast_spread: per-brain factor on each tissue's contrast, uniform in 1 ± this (default 0.07; see
            :func:`phantom_subject`).

    Returns:
        :class:`PhantomSlices` with ``images`` float32 (n, len(sequences), H, W) in [0, 1] (background
        exactly 0) and ``seg`` uint8 (n, H, W) with labels 0/1/2/4.
    """
    seqs = _check_sequences(sequences, SLICE_SEQUENCES)
    spread = check_contrast_spread(contrast_spread)
    if n < 0:
        raise DataError(f"number of slices must be >= 0, got {n}")
    H, W = (int(size[0]), int(size[1]))
    if H < 8 or W < 8:
        raise DataError(f"phantom slices must be at least 8 x 8 pixels, got {H} x {W}")
    grid = _grid(H, W)
    images = np.empty((n, len(seqs), H, W), dtype=np.float32)
    seg = np.empty((n, H, W), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        raw, seg[i] = _one_slice(rng, grid, seqs, tumour, (seed, i), spread)
        _minmax(raw, out=images[i])
    return PhantomSlices(images=images, seg=seg, sequences=seqs)  # type: ignore[arg-type]


def phantom_slice_at(
    i: int,
    seed: int = 0,
    size: tuple[int, int] = (240, 240),
    sequences: Sequence[str] = ("t1ce", "flair"),
    tumour: bool = True,
    contrast_spread: float = CONTRAST_SPREAD,
) -> np.ndarray:
    """Slice ``i`` of ``phantom_slices(n, seed, size, sequences, tumour, contrast_spread).images`` (any
    ``n > i``) on its own: float32 (len(sequences), H, W), generated without the slices before it (for lazy
    datasets)."""
    seqs = _check_sequences(sequences)
    spread = check_contrast_spread(contrast_spread)
    if i < 0:
        raise DataError(f"slice index must be >= 0, got {i}")
    H, W = (int(size[0]), int(size[1]))
    if H < 8 or W < 8:
        raise DataError(f"phantom slices must be at least 8 x 8 pixels, got {H} x {W}")
    raw, _ = _one_slice(np.random.default_rng([seed, i]), _grid(H, W), seqs, tumour, (seed, i), spread)
    return _minmax(raw, out=np.empty(raw.shape, dtype=np.float32))


def phantom_tissue_slices(
    n: int, seed: int = 0, size: tuple[int, int] = (240, 240), tumour: bool = True
) -> np.ndarray:
    """The tissue codes (n, H, W) uint8 (see :data:`TISSUES`) behind ``phantom_slices(n, seed, size)``."""
    grid = _grid(int(size[0]), int(size[1]))
    out = np.empty((n, grid.H, grid.W), dtype=np.uint8)
    for i in range(n):
        # the same stream as phantom_slices: the geometry is drawn first from the slice's generator
        out[i] = _slice_geometry(np.random.default_rng([seed, i]), grid, tumour)[0]
    return out


def tissue_means(
    n: int = 32, seed: int = 0, sequences: Sequence[str] = SEQUENCES, size: tuple[int, int] = (240, 240)
) -> dict[str, dict[str, float]]:
    """Mean normalised intensity of each tissue in ``n`` phantom slices, per sequence.

    The table behind the contrast claims of the docs (and their test): for each sequence, the mean over
    all pixels of a tissue (in the per-slice min-max normalised images) of ``phantom_slices(n, seed)``.
    Tissues absent from every slice are left out.
    """
    seqs = _check_sequences(sequences)
    ps = phantom_slices(n, seed=seed, size=size, sequences=seqs)  # type: ignore[arg-type]
    tissue = phantom_tissue_slices(n, seed=seed, size=size)
    table: dict[str, dict[str, float]] = {}
    for k, seq in enumerate(seqs):
        img = ps.images[:, k]
        table[seq] = {
            TISSUES[t]: float(img[tissue == t].mean()) for t in range(1, len(TISSUES)) if (tissue == t).any()
        }
    return table


# ----------------------------------------------------------------------------------------------------
# 3-D volumes


def phantom_subject(
    seed: int,
    shape: tuple[int, int, int] = (240, 240, 155),
    sequences: Sequence[str] = SEQUENCES,
    tumour: bool = True,
    return_tissue: bool = False,
    contrast_spread: float = CONTRAST_SPREAD,
) -> dict[str, np.ndarray]:
    """One phantom subject as 3-D volumes in raw scanner-like units.

    Args:
        seed: random seed (the whole subject depends only on it, ``shape`` and ``contrast_spread``).
        shape: (X, Y, Z) voxels over a 240 × 240 × 155 mm field of view, stored like BraTS
            (``i`` → Left, ``j`` → Posterior, ``k`` → Superior).
        sequences: which of :data:`SEQUENCES` to render.
        tumour: whether the brain carries a tumour.
        return_tissue: also return the phantom tissue codes under ``"tissue"``.
        contrast_spread: each tissue's mean intensity in each sequence is :data:`TISSUE_CONTRAST` times
            a factor drawn per subject, uniform in 1 ± this (default 0.07). A wider spread makes a cohort
            whose subjects differ in contrast as much as patients of different scanners do.

    Returns:
        dict sequence name → int16 volume (ADC in 1e-6 mm²/s), plus ``"seg"`` uint8 (labels 0/1/2/4).
    """
    from scipy.ndimage import binary_erosion, gaussian_filter, zoom

    seqs = _check_sequences(sequences)
    spread = check_contrast_spread(contrast_spread)
    if len(shape) != 3 or min(shape) < 8:
        raise DataError(f"phantom volume shape must be three sides >= 8, got {tuple(shape)}")
    X, Y, Z = (int(s) for s in shape)
    H, W = Y, X  # a plane is (rows = posterior, cols = left)
    grid = _grid(H, W)
    dz = _EXTENT[2] / Z
    rng = np.random.default_rng([seed, 3])
    case = _sample_case(rng, tumour=tumour)
    ci = int(round(H * rng.uniform(0.52, 0.56)))
    cj = int(round(W * rng.uniform(0.48, 0.52)))
    zc = rng.uniform(0.46, 0.5) * _EXTENT[2]  # brain centre height (mm above the lowest plane)
    # smooth 3-D textures: coarse random grids zoomed up, so planes are coherent
    tex3 = []
    for step in (9.0, 3.0, 1.5):
        coarse = tuple(max(2, int(math.ceil(e / step))) for e in (_EXTENT[1], _EXTENT[0], _EXTENT[2]))
        f = zoom(rng.standard_normal(coarse).astype(np.float32), np.array((H, W, Z)) / np.array(coarse),
                 order=1, mode="nearest", grid_mode=True)[:H, :W, :Z]
        f = gaussian_filter(f, 0.5)
        tex3.append((f - f.mean()) / (f.std() + 1e-12))
    tex3a = np.stack(tex3)
    tissue = np.zeros((Z, H, W), dtype=np.uint8)
    for k in range(Z):
        z = (k + 0.5) * dz - zc
        tissue[k] = _tissue_plane(case, z, grid, (ci, cj), tex3a[:, :, :, k])
    brain = tissue > 0
    texture = 1.0 + _TEXTURE_AMP[tissue] * np.moveaxis(0.6 * tex3a[1] + 0.4 * tex3a[2], 2, 0)
    edge = brain & ~binary_erosion(brain, iterations=1)
    ring = edge & (rng.random(brain.shape) < 0.3)
    zz = np.linspace(-1, 1, Z, dtype=np.float32)[:, None, None]
    # partial-volume blur in mm: ~0.5 voxel at 1 mm
    sigma = (0.5 / dz, 0.5 / grid.dy, 0.5 / grid.dx)
    out: dict[str, np.ndarray] = {}
    for seq in seqs:
        srng = _seq_rng((seed, 3), seq)
        scale, sig = _seq_gain(srng)
        img = _contrast_table(seq, srng, spread)[tissue] * texture
        img = gaussian_filter(img, sigma)
        img *= np.outer(_bias_1d(srng, H, 0.12), _bias_1d(srng, W, 0.12))[None]
        img *= 1.0 + srng.uniform(-0.08, 0.08) * zz
        n1 = srng.standard_normal(img.shape, dtype=np.float32) * sig
        img += n1
        del n1
        n2 = srng.standard_normal(img.shape, dtype=np.float32) * sig
        img = np.sqrt(img * img + n2 * n2)
        del n2
        img *= scale * RAW_WHITE_MATTER[seq]
        img *= brain
        # interpolation ringing of real BraTS files: a few small negative values at the brain edge
        img[ring] = -srng.uniform(0.0, 0.06 * RAW_WHITE_MATTER[seq], int(ring.sum()))
        vol = np.clip(np.rint(img), -32768, 32767).astype(np.int16)
        out[seq] = np.ascontiguousarray(np.transpose(vol, (2, 1, 0)))  # (Z, H, W) → (X=W, Y=H, Z)
    out["seg"] = np.ascontiguousarray(np.transpose(SEG_OF_TISSUE[tissue], (2, 1, 0)))
    if return_tissue:
        out["tissue"] = np.ascontiguousarray(np.transpose(tissue, (2, 1, 0)))
    return out


def phantom_affine(shape: tuple[int, int, int] = (240, 240, 155)) -> np.ndarray:
    """The LPS-like affine of the phantom volumes (as in the BraTS releases): i → L, j → P, k → S."""
    X, Y, Z = shape
    dx, dy, dz = _EXTENT[0] / X, _EXTENT[1] / Y, _EXTENT[2] / Z
    return np.array(
        [[-dx, 0, 0, 0.0], [0, -dy, 0, (Y - 1) * dy], [0, 0, dz, 0.0], [0, 0, 0, 1.0]], dtype=np.float64
    )


_NAMING = {
    "brats2020": {"t1": "_t1", "t1ce": "_t1ce", "t2": "_t2", "flair": "_flair", "adc": "_adc", "seg": "_seg"},
    "brats2023": {"t1": "-t1n", "t1ce": "-t1c", "t2": "-t2w", "flair": "-t2f", "adc": "-adc", "seg": "-seg"},
}


# peak memory of phantom_subject with four sequences, measured at 128^3 (about 75 bytes per voxel)
_BYTES_PER_VOXEL = 96


def write_phantom_subjects(
    out_dir: str | Path,
    cases: int,
    seed: int = 0,
    shape: tuple[int, int, int] = (240, 240, 155),
    naming: str = "brats2020",
    sequences: Sequence[str] = ("t1", "t1ce", "t2", "flair"),
    png: bool = False,
    compress: bool = True,
    contrast_spread: float = CONTRAST_SPREAD,
) -> list[Path]:
    """Write ``cases`` phantom subjects as BraTS-layout NIfTI folders (and optional PNG slices).

    Subject ``k`` is ``phantom_subject(seed + k, shape)`` in folder ``<out_dir>/Phantom-<seed>-<k>/``
    with files ``<id>_t1ce.nii.gz`` … ``<id>_seg.nii.gz`` (``naming="brats2020"``, the 2018–2021 naming)
    or ``<id>-t1c.nii.gz``, ``-t2f``, ``-t1n``, ``-t2w``, ``-seg`` (``naming="brats2023"``). Volumes are
    int16 (seg uint8) with an LPS affine. With ``png=True`` each subject also gets ``png/`` with, per
    sequence, 8-bit PNGs of the tumour's central slice and of the brain's middle slice (per-slice
    min-max, negatives clipped). ``contrast_spread`` is :func:`phantom_subject`'s.

    Returns:
        The subject folders written.
    """
    import nibabel as nib

    from ..atomic import atomic_path, ensure_writable_dir
    from .memory import check_memory

    if naming not in _NAMING:
        raise DataError(f"unknown naming {naming!r}; use one of {', '.join(_NAMING)}")
    if cases < 0:
        raise DataError(f"number of cases must be >= 0, got {cases}")
    seqs = _check_sequences(sequences)
    spread = check_contrast_spread(contrast_spread)
    check_memory(int(np.prod(shape, dtype=np.float64)) * _BYTES_PER_VOXEL,
                 f"a phantom of {'x'.join(str(int(v)) for v in shape)} voxels")
    out = ensure_writable_dir(out_dir)
    affine = phantom_affine(shape)
    suffix = ".nii.gz" if compress else ".nii"
    written = []
    for k in range(cases):
        sid = f"Phantom-{seed}-{k:04d}" if naming == "brats2020" else f"BraTS-PHA-{seed:05d}-{k:03d}"
        subject = phantom_subject(seed + k, shape=shape, sequences=seqs, contrast_spread=spread)
        folder = ensure_writable_dir(out / sid)
        for name, vol in subject.items():
            img = nib.Nifti1Image(vol, affine)
            img.header.set_xyzt_units("mm", "sec")
            img.header.set_qform(affine, code=1)
            img.header.set_sform(affine, code=1)
            with atomic_path(folder / f"{sid}{_NAMING[naming][name]}{suffix}") as tmp:
                nib.save(img, tmp)
        if png:
            _write_pngs(folder / "png", sid, subject, seqs)
        written.append(folder)
    return written


def _write_pngs(folder: Path, sid: str, subject: dict[str, np.ndarray], seqs: Sequence[str]) -> None:
    from PIL import Image

    from ..atomic import atomic_path, ensure_writable_dir

    ensure_writable_dir(folder)
    seg = subject["seg"]
    brain = subject[seqs[0]] > 0
    zs = np.flatnonzero(seg.any(axis=(0, 1)))
    z_tumour = int(zs[len(zs) // 2]) if len(zs) else None
    zb = np.flatnonzero(brain.any(axis=(0, 1)))
    z_mid = int(zb[len(zb) // 2]) if len(zb) else seg.shape[2] // 2
    for tag, z in (("tumour", z_tumour), ("middle", z_mid)):
        if z is None:
            continue
        for seq in seqs:
            sl = np.clip(subject[seq][:, :, z].T.astype(np.float32), 0, None)
            norm = _minmax(sl)
            with atomic_path(folder / f"{sid}_{seq}_{tag}_z{z:03d}.png") as tmp:
                Image.fromarray(np.rint(norm * 255).astype(np.uint8)).save(tmp, format="PNG")
        lab = seg[:, :, z].T
        with atomic_path(folder / f"{sid}_seg_{tag}_z{z:03d}.png") as tmp:
            Image.fromarray((lab * 63).astype(np.uint8)).save(tmp, format="PNG")
