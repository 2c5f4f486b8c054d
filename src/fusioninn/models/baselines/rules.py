"""Training-free fusion rules that image-fusion papers compare against.

Every rule is a plain function ``fuse_<name>(x1, x2)`` on two co-registered grey images with values in
[0, 1], either single images (H, W) or batches (N, H, W) of equal shape. It returns the fused image(s)
as float32 of the same shape, clipped to [0, 1]. Any size works, odd ones included. Arithmetic is done
in float64 so that rules with tiny regularisers (the guided filter's eps = 1e-6) do not drown in
float32 cancellation.

All rules return the input unchanged (to float rounding) when both sources are the same image: this is
the sanity property the tests check.

References (each function's docstring names its own):
    * Burt & Adelson, "The Laplacian pyramid as a compact image code", IEEE Trans. Commun. 31(4), 1983,
      doi:10.1109/TCOM.1983.1095851.
    * Li, Manjunath & Mitra, "Multisensor image fusion using the wavelet transform", Graphical Models
      and Image Processing 57(3), 1995, doi:10.1006/gmip.1995.1022.
    * Naidu & Raol, "Pixel-level image fusion using wavelets and principal component analysis",
      Defence Science Journal 58(3), 2008.
    * Li, Kang & Hu, "Image fusion with guided filtering", IEEE TIP 22(7), 2013,
      doi:10.1109/TIP.2013.2244222.
    * He, Sun & Tang, "Guided image filtering", IEEE TPAMI 35(6), 2013, doi:10.1109/TPAMI.2012.213.
"""

from __future__ import annotations

import numpy as np
import pywt
from scipy import ndimage

from ...errors import UserInputError
from ...validation import check_array

__all__ = [
    "fuse_average",
    "fuse_maximum",
    "fuse_pca",
    "pca_weights",
    "fuse_laplacian",
    "laplacian_pyramid",
    "reconstruct_laplacian_pyramid",
    "fuse_dwt",
    "fuse_guided",
    "guided_filter",
    "guided_weight_maps",
    "laplacian_levels",
]

# Burt & Adelson's 5-tap generating kernel with a = 3/8, i.e. the binomial [1 4 6 4 1] / 16.
_BURT_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _as_batch(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate a pair and return it as float64 (N, H, W) plus whether the input was a single image."""
    if np.shape(x1) != np.shape(x2):
        raise UserInputError(f"the two sources must have the same shape, got {np.shape(x1)} and {np.shape(x2)}")
    a, b = (np.asarray(check_array(x, name, ndim=(2, 3), allow_8bit=True, unit_range=False)[0], dtype=np.float64)
            for x, name in ((x1, "x1"), (x2, "x2")))
    single = a.ndim == 2
    if single:
        a, b = a[None], b[None]
    return a, b, single


def _finish(fused: np.ndarray, single: bool) -> np.ndarray:
    out = np.clip(fused, 0.0, 1.0).astype(np.float32)
    return out[0] if single else out


def fuse_average(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Pixel-wise mean ``(x1 + x2) / 2``, the simplest fusion rule."""
    a, b, single = _as_batch(x1, x2)
    return _finish(0.5 * (a + b), single)


def fuse_maximum(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Pixel-wise maximum ``max(x1, x2)``: keeps the brighter source at each pixel."""
    a, b, single = _as_batch(x1, x2)
    return _finish(np.maximum(a, b), single)


def _pca_weights(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    cov = np.cov(np.stack([a.ravel(), b.ravel()]), bias=True)  # the scale does not change the weights
    if not np.all(np.isfinite(cov)) or cov[0, 0] + cov[1, 1] <= 1e-12:
        return 0.5, 0.5  # two constant images: no principal direction, fall back to the mean
    _, vecs = np.linalg.eigh(cov)
    v = np.abs(vecs[:, -1])  # eigh sorts ascending; the sign of an eigenvector is arbitrary
    total = v.sum()
    return float(v[0] / total), float(v[1] / total)


def pca_weights(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Weights (w1, w2) of the PCA rule, one row per image of the batch; each row sums to 1.

    The weights are the components of the principal eigenvector of the 2×2 covariance matrix of the
    two sources' pixel values, divided by their sum (Naidu & Raol, Defence Science Journal 58(3), 2008).
    Returns shape (2,) for a single pair and (N, 2) for a batch.
    """
    a, b, single = _as_batch(x1, x2)
    w = np.array([_pca_weights(ai, bi) for ai, bi in zip(a, b, strict=True)])
    return w[0] if single else w


def fuse_pca(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """PCA-weighted average ``w1·x1 + w2·x2`` with global weights from :func:`pca_weights`.

    The source that carries more of the joint variance gets the larger weight. Two constant images
    (zero covariance) get equal weights. Reference: Naidu & Raol, "Pixel-level image fusion using
    wavelets and principal component analysis", Defence Science Journal 58(3), 2008.
    """
    a, b, single = _as_batch(x1, x2)
    w = np.array([_pca_weights(ai, bi) for ai, bi in zip(a, b, strict=True)])
    fused = w[:, 0, None, None] * a + w[:, 1, None, None] * b
    return _finish(fused, single)


# ----------------------------------------------------------------------------------------------
# Laplacian pyramid


def _blur(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Separable 5-tap Burt–Adelson low-pass along the two image axes of (N, H, W)."""
    k = _BURT_KERNEL * gain
    y = ndimage.correlate1d(x, k, axis=-2, mode="reflect")
    return ndimage.correlate1d(y, k, axis=-1, mode="reflect")


def _reduce(x: np.ndarray) -> np.ndarray:
    return _blur(x)[:, ::2, ::2]


def _expand(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Upsample to ``shape`` (H, W) by zero insertion and low-pass with gain 2 per axis (4 in 2-D)."""
    up = np.zeros((x.shape[0], *shape), dtype=x.dtype)
    up[:, ::2, ::2] = x
    return _blur(up, gain=2.0)


def _max_levels(shape: tuple[int, int], min_size: int) -> int:
    levels, h, w = 0, shape[0], shape[1]
    while min(h, w) >= 2 * min_size:
        h, w = (h + 1) // 2, (w + 1) // 2
        levels += 1
    return levels


def laplacian_levels(shape: tuple[int, int], levels: int = 4) -> int:
    """The number of detail bands :func:`fuse_laplacian` uses for images of ``shape`` (H, W): ``levels``,
    lowered so that the base keeps at least 4 pixels on its short side."""
    return min(levels, _max_levels(shape, min_size=4))


def laplacian_pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of a batch (N, H, W): ``levels`` detail bands, finest first, then the base.

    Band k is ``G_k - expand(G_{k+1})`` with ``G_{k+1} = reduce(G_k)`` (Burt & Adelson 1983,
    doi:10.1109/TCOM.1983.1095851). Odd sizes are handled by expanding to the finer level's exact size,
    so :func:`reconstruct_laplacian_pyramid` inverts this exactly for any size.
    """
    bands = []
    g = np.asarray(x, dtype=np.float64)
    for _ in range(levels):
        smaller = _reduce(g)
        bands.append(g - _expand(smaller, g.shape[-2:]))
        g = smaller
    bands.append(g)
    return bands


def reconstruct_laplacian_pyramid(bands: list[np.ndarray]) -> np.ndarray:
    """Invert :func:`laplacian_pyramid`: expand the base and add the detail bands, coarse to fine."""
    g = bands[-1]
    for detail in reversed(bands[:-1]):
        g = detail + _expand(g, detail.shape[-2:])
    return g


def fuse_laplacian(x1: np.ndarray, x2: np.ndarray, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion: max-abs selection on the detail bands, average of the base.

    Each source is decomposed into ``levels`` detail bands (default 4: 240 → 120 → 60 → 30 → 15) and a
    low-pass base; at every detail coefficient the source with the larger magnitude wins (the sharper
    edge), the bases are averaged (no source dominates the overall brightness), and the fused pyramid
    is collapsed. Levels are reduced automatically so that the base is at least 4 pixels on its short
    side. Burt & Adelson 1983 (doi:10.1109/TCOM.1983.1095851); the selection rule follows Burt &
    Kolczynski, "Enhanced image capture through fusion", ICCV 1993.
    """
    if levels < 0:
        raise UserInputError(f"levels must be >= 0, got {levels}")
    a, b, single = _as_batch(x1, x2)
    n = laplacian_levels(a.shape[-2:], levels)
    pa, pb = laplacian_pyramid(a, n), laplacian_pyramid(b, n)
    fused = [np.where(np.abs(da) >= np.abs(db), da, db) for da, db in zip(pa[:-1], pb[:-1], strict=True)]
    fused.append(0.5 * (pa[-1] + pb[-1]))
    return _finish(reconstruct_laplacian_pyramid(fused), single)


# ----------------------------------------------------------------------------------------------
# Discrete wavelet transform


def fuse_dwt(x1: np.ndarray, x2: np.ndarray, wavelet: str = "db2", level: int = 3) -> np.ndarray:
    """Wavelet fusion: max-abs selection on detail coefficients, average of the approximation.

    Both sources go through a ``level``-level 2-D DWT (PyWavelets ``wavedec2``, symmetric extension);
    each detail coefficient is taken from the source with the larger magnitude, the coarsest
    approximation is averaged, and ``waverec2`` gives the fused image (cropped back to the input size,
    since the symmetric extension may add a row or column for odd sizes). The level is lowered to what
    the image size allows. Li, Manjunath & Mitra, Graphical Models and Image Processing 57(3), 1995,
    doi:10.1006/gmip.1995.1022.
    """
    if level < 0:
        raise UserInputError(f"level must be >= 0, got {level}")
    try:
        wav = pywt.Wavelet(wavelet)
    except ValueError:
        raise UserInputError(f"unknown wavelet {wavelet!r} (see pywt.wavelist())") from None
    a, b, single = _as_batch(x1, x2)
    h, w = a.shape[-2:]
    n = min(level, pywt.dwt_max_level(min(h, w), wav.dec_len))
    if n == 0:
        return _finish(0.5 * (a + b), single)
    ca = pywt.wavedec2(a, wav, mode="symmetric", level=n, axes=(-2, -1))
    cb = pywt.wavedec2(b, wav, mode="symmetric", level=n, axes=(-2, -1))
    fused: list = [0.5 * (ca[0] + cb[0])]
    for da, db in zip(ca[1:], cb[1:], strict=True):
        fused.append(tuple(np.where(np.abs(u) >= np.abs(v), u, v) for u, v in zip(da, db, strict=True)))
    out = pywt.waverec2(fused, wav, mode="symmetric", axes=(-2, -1))[:, :h, :w]
    return _finish(out, single)


# ----------------------------------------------------------------------------------------------
# Guided-filter fusion (GFF)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)×(2r+1) window on the image axes of (N, H, W), mirrored at the borders."""
    size = 2 * radius + 1
    return ndimage.uniform_filter(x, size=(1, size, size), mode="reflect")


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-scale guided filter of ``src`` steered by ``guide``, both (N, H, W) float64.

    Local linear model q = a·I + b in each window, a = cov(I, p) / (var(I) + eps), b = mean(p) − a·mean(I),
    with a and b averaged over all windows that cover a pixel (He, Sun & Tang, TPAMI 35(6), 2013,
    doi:10.1109/TPAMI.2012.213). Box means are computed with ``scipy.ndimage.uniform_filter``.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src, radius) - mean_i * mean_p
    var_i = np.maximum(_box(guide * guide, radius) - mean_i * mean_i, 0.0)
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


def guided_weight_maps(
    a: np.ndarray, b: np.ndarray, r1: int = 45, eps1: float = 0.3, r2: int = 7, eps2: float = 1e-6
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Steps 2-4 of :func:`fuse_guided` for float64 (N, H, W) sources: the refined, normalised base and
    detail weight maps ``([W_B1, W_B2], [W_D1, W_D2])``, each pair summing to one at every pixel."""
    sources = (a, b)
    lap = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None]
    sal = [
        ndimage.gaussian_filter(
            np.abs(ndimage.correlate(s, lap, mode="reflect")), sigma=(0, 5, 5), truncate=1.0
        )
        for s in sources
    ]
    p1 = np.where(sal[0] > sal[1], 1.0, np.where(sal[0] == sal[1], 0.5, 0.0))
    masks = (p1, 1.0 - p1)

    def normalised(weights: list[np.ndarray]) -> list[np.ndarray]:
        w = [np.maximum(wi, 0.0) for wi in weights]
        total = w[0] + w[1]
        ok = total > 1e-12
        # where both weights vanish (guided filter undershoot), fall back to equal weights
        return [np.where(ok, wi / np.where(ok, total, 1.0), 0.5) for wi in w]

    wb = normalised([guided_filter(s, p, r1, eps1) for s, p in zip(sources, masks, strict=True)])
    wd = normalised([guided_filter(s, p, r2, eps2) for s, p in zip(sources, masks, strict=True)])
    return wb, wd


def fuse_guided(
    x1: np.ndarray,
    x2: np.ndarray,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> np.ndarray:
    """Guided-filter fusion (GFF) of Li, Kang & Hu, IEEE TIP 22(7), 2013, doi:10.1109/TIP.2013.2244222.

    1. Two-scale split: base B = I * 31×31 mean filter, detail D = I − B.
    2. Saliency S = |I * 3×3 Laplacian| smoothed by an 11×11 Gaussian (σ = 5).
    3. Binary weight maps P: 1 where a source has the larger saliency (ties give 0.5 to each, so the
       rule is symmetric and two equal sources fuse to themselves).
    4. Weights refined by guided filtering with the source as guide: W_B = GF(P, I; r1, eps1) for the
       base, W_D = GF(P, I; r2, eps2) for the detail, made non-negative and normalised to sum to one.
    5. Fused = Σ W_B·B + Σ W_D·D.

    The default r1 = 45, eps1 = 0.3, r2 = 7, eps2 = 1e-6 are the paper's.
    """
    a, b, single = _as_batch(x1, x2)
    sources = (a, b)
    bases = [ndimage.uniform_filter(s, size=(1, 31, 31), mode="reflect") for s in sources]
    details = [s - base for s, base in zip(sources, bases, strict=True)]
    wb, wd = guided_weight_maps(a, b, r1, eps1, r2, eps2)
    fused = wb[0] * bases[0] + wb[1] * bases[1] + wd[0] * details[0] + wd[1] * details[1]
    return _finish(fused, single)
