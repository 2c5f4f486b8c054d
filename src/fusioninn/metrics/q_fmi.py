"""Q_FMI: feature mutual information, the sliding-window ("fast") form with the pixel feature.

M. B. A. Haghighat, A. Aghagolzadeh and H. Seyedarabi, "A non-reference image fusion metric based on
mutual information of image features", Computers & Electrical Engineering 37(5):744-756, 2011,
doi:10.1016/j.compeleceng.2011.07.012; the windowed form is M. Haghighat and M. A. Razian, "Fast-FMI:
non-reference image fusion metric", Proc. 8th IEEE AICT, 2014, doi:10.1109/ICAICT.2014.7036000.

For every w x w window (valid positions), and for each source S in (A, B): if the source and fused
windows are equal the term is 1. Otherwise each window is min-max rescaled to [0, 1] (a constant window
becomes all ones) and divided by its sum, giving two w^2-bin distributions p (source) and q (fused), read
in column-major order. Their joint distribution follows Nelsen's method: with the Pearson correlation c
of the two probability vectors,

    P_ij = phi U_ij + (1 - phi) q_i p_j,    phi = c / corr(U),

where U is the upper Frechet bound min(F_i, A_j) (c >= 0) or the lower bound max(F_i + A_j - 1, 0)
(c < 0) turned into cell masses, F and A the cumulative sums of q and p, and corr(U) the "correlation"
sum_ij (U(F_i, A_j) - F_i A_j) / (sd_q sd_p) with sd the standard deviation of the bin index. The term is
the normalised mutual information 2 I / (H(p) + H(q)) in bits. Q_FMI is the mean over windows of the
mean of the two terms.

Implementation: both Frechet bounds are comonotone (or countermonotone) couplings, so U has at most
2 w^2 - 1 non-zero cells, found by merging the two sorted cumulative sums. The joint entropy is the
closed-form entropy of the independent part plus a correction on those cells only, and all windows are
processed at once (no Python loop over windows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import MIN_SIDE, check_protocol, triplet
from ._matlab import memo_arrays

__all__ = ["q_fmi"]


_LN2 = float(np.log(2.0))
_CHUNK = 2048


def _shifted(img: np.ndarray, w: int) -> np.ndarray:
    """The w*w pixels of every valid w x w window, (w*w, H-w+1, W-w+1), in MATLAB's column-major order."""
    h, wd = img.shape[0] - w + 1, img.shape[1] - w + 1
    return np.stack([img[dr : dr + h, dc : dc + wd] for dc in range(w) for dr in range(w)])


def _pdf_rows(x: np.ndarray, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    """fmi.m's distributions of selected non-constant windows as rows (M, w*w): min-max, then / sum."""
    x = (x - lo) / span
    x /= x.sum(axis=0)
    return np.ascontiguousarray(x.T)


def _neg_xlog2x_np(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = -x log2|x|`` (0 at 0) without temporaries."""
    np.abs(x, out=out)
    np.maximum(out, 1e-300, out=out)
    np.log2(out, out=out)
    out *= x
    return np.negative(out, out=out)


def _nfmi_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Normalised MI 2 I / (H_p + H_q) of the Nelsen joint of each row pair (p source, q fused).

    ``p``, ``q``: (M, n) probability rows, M small enough for the temporaries to stay in cache (see
    ``_CHUNK``). Everything is written with contiguous element-wise operations and small matrix
    products: numpy's reductions along short rows, cumsum, np.where with broadcasting and mixed int/float
    broadcasting are 10-50x slower on these arrays.
    """
    m, n = p.shape
    ones, ones2 = np.ones(n), np.ones(2 * n)
    h_p = _neg_xlog2x_np(p, np.empty_like(p)) @ ones
    h_q = _neg_xlog2x_np(q, np.empty_like(q)) @ ones
    # Pearson correlation of the two probability vectors.
    tp = p - (p @ (ones / n))[:, None]
    tq = q - (q @ (ones / n))[:, None]
    num = (tp * tq) @ ones
    den = np.sqrt(((tp * tp) @ ones) * ((tq * tq) @ ones))
    c = np.divide(num, den, out=np.zeros(m), where=(num != 0) & (den > 0))
    # Population standard deviations of the bin index 1..n under p and q (their product).
    idx = np.arange(1.0, n + 1)
    sds = np.sqrt(np.maximum(p @ (idx * idx) - (p @ idx) ** 2, 0.0))
    sds *= np.sqrt(np.maximum(q @ (idx * idx) - (q @ idx) ** 2, 0.0))
    tri = np.triu(np.ones((n, n)))
    cdf_q = q @ tri  # "F" (fused)
    cdf_p = p @ tri  # "A" (source)
    cross = (cdf_q @ ones) * (cdf_p @ ones)
    lower = (c < 0).astype(np.float64)[:, None]
    # Merge the breakpoints of the two cumulative sums; for the lower bound the source's run backwards
    # (1 - A). The origin travels in the lowest mantissa bit of the float64 sort key (0 = fused, so ties
    # put the fused breakpoint first); values are read back with that bit cleared, i.e. within one ulp.
    keys = np.empty((m, 2 * n))
    keys[:, :n] = cdf_q
    keys[:, n:] = cdf_p + lower * (1.0 - 2.0 * cdf_p)
    np.maximum(keys, 0.0, out=keys)
    keys = keys.view(np.int64)
    keys &= ~np.int64(1)
    keys[:, n:] |= 1
    keys.sort(axis=1)
    s = (keys & ~np.int64(1)).view(np.float64)
    d = np.empty_like(s)  # length of the interval (s[k-1], s[k]]
    np.subtract(s.reshape(-1)[1:], s.reshape(-1)[:-1], out=d.reshape(-1)[1:])
    d[:, 0] = s[:, 0]
    n_q = ((keys & 1) == 0).astype(np.float64) @ np.triu(np.ones((2 * n, 2 * n)), 1)  # fused before k
    n_o = np.arange(2 * n, dtype=np.float64) - n_q  # source breakpoints before position k
    jj = n_o + lower * (n - 2.0 * n_o)  # source bin: n_o (upper bound), n - n_o (lower bound)
    # sum_ij U(F_i, A_j) = integral of #{F_i > t} #{A_j > t} (upper) or #{A_j > 1 - t} (lower) dt;
    # both counts of A equal n - jj, and #{F_i > t} = n - n_q.
    cov = (d * ((n - jj) * (n - n_q))) @ ones2 - cross
    corr = cov / np.maximum(sds, 1e-300)
    phi = np.divide(c, corr, out=np.zeros(m), where=(sds > 0) & (corr != 0) & (c != 0))
    # Cell masses on the staircase. Intervals whose bin index runs past n - 1 exist only through
    # round-off (length ~1e-16); clamping them changes the entropy by ~1e-15.
    rows = np.arange(0, m * n, n, dtype=np.float64)[:, None]
    np.minimum(n_q, n - 1, out=n_q)
    np.minimum(jj, n - 1, out=jj)
    n_q += rows
    jj += rows
    k = 1.0 - phi
    base = np.take(q.reshape(-1), n_q.astype(np.intp))
    base *= np.take(p.reshape(-1), jj.astype(np.intp))
    base *= k[:, None]
    exact = d
    exact *= phi[:, None]
    exact += base
    h_joint = _neg_xlog2x_np(exact, n_q)
    h_joint -= _neg_xlog2x_np(base, jj)
    # ... plus the entropy of the independent part k q_i p_j over all n x n cells, in closed form.
    s_p, s_q = p @ ones, q @ ones
    h_joint = h_joint @ ones2 + _neg_xlog2x_np(k, np.empty(m)) * s_p * s_q + k * (s_p * h_q + s_q * h_p)
    mi = h_p + h_q - h_joint
    h_sum = h_p + h_q
    return np.divide(2.0 * mi, h_sum, out=np.zeros(m), where=(mi != 0) & (h_sum > 0))


@memo_arrays(maxsize=8)
def _window_pair(src: np.ndarray, fus: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """What every FMI variant shares for one (source, fused) pair of 8-bit images.

    Returns, on the valid window grid: the normalised-MI term of each window pair that differs and is
    non-constant on both sides (NaN elsewhere), the raw-equality flags, and the constant-window flags of
    source and fused. ``q_fmi``'s protocols, ``fmi@fusioninn``, ``fmi@haghighat2014`` (and the edge-map
    pair of ``fmi@mefb`` / ``fmi_edge@haghighat2014``) only differ in how they read these, so within one
    ``compute`` call the costly terms are computed once per pair.
    """
    s, f = _shifted(src, window), _shifted(fus, window)
    lo, hi = s.min(axis=0), s.max(axis=0)
    f_lo, f_hi = f.min(axis=0), f.max(axis=0)
    equal = (s == f).all(axis=0)
    src_const, fus_const = hi == lo, f_hi == f_lo
    todo = ~equal & ~src_const & ~fus_const
    terms = np.full(equal.shape, np.nan)
    if todo.any():
        terms[todo] = _nfmi_windows(s[:, todo], f[:, todo], lo[todo], hi[todo], f_lo[todo], f_hi[todo])
    for array in (terms, equal, src_const, fus_const):
        array.setflags(write=False)
    return terms, equal, src_const, fus_const


def _nfmi_windows(s: np.ndarray, f: np.ndarray, lo, hi, f_lo, f_hi) -> np.ndarray:
    """Terms of selected (w*w, M) source and fused window columns, non-constant on both sides."""
    p = _pdf_rows(s, lo, hi - lo)
    q = _pdf_rows(f, f_lo, f_hi - f_lo)
    # Chunks small enough for the temporaries to stay in cache (about 2x faster than one pass).
    return np.concatenate([_nfmi_terms(p[i : i + _CHUNK], q[i : i + _CHUNK]) for i in range(0, len(p), _CHUNK)])


def _source_terms(
    src: np.ndarray, fus: np.ndarray, window: int, constant_windows: str, equal: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window terms for one source (window grid shape) and the equality-shortcut flags.

    ``src``, ``fus``: the 8-bit source and fused images. ``equal``: the equality shortcut's flags when
    they are not the raw windows' (``fmi.m``'s second source); windows it leaves to compute that the
    shared terms skipped (raw-equal windows) are computed here.
    """
    shared, raw_equal, src_const, fus_const = _window_pair(src, fus, window)
    if equal is None:
        equal = raw_equal
    term = np.zeros(raw_equal.shape)
    term[equal] = 1.0
    # Two different constant windows: both distributions uniform, their covariance is 0 exactly and only
    # round-off decides; summed left to right (Octave) the term is ~1, exactly it is 0.
    if constant_windows == "roundoff":
        term[~equal & src_const & fus_const] = 1.0
    # One constant window against a varying one: correlation 0 (up to ~1e-16 round-off), term 0.
    todo = ~equal & ~src_const & ~fus_const
    term[todo] = shared[todo]
    missing = todo & raw_equal
    if missing.any():
        s, f = _shifted(src, window)[:, missing], _shifted(fus, window)[:, missing]
        term[missing] = _nfmi_windows(s, f, s.min(axis=0), s.max(axis=0), f.min(axis=0), f.max(axis=0))
    return term, equal


def q_fmi(
    a: Any,
    b: Any,
    fused: Any,
    protocol: str = "full",
    window: int = 3,
    constant_windows: str | None = None,
) -> float:
    """Feature mutual information (pixel feature, ``window`` x ``window`` windows) of a fusion.

    Images are 8-bit (floats quantised to 0..255), as the reference evaluation read them; only the
    equality test between windows depends on that, the rest is scale-free.

    Args:
        a, b, fused: 2-D images of one shape, uint8 or float in [0, 1] (NumPy or torch).
        protocol: ``"reference"`` reproduces ``fmi.m`` (feature 'none', w = 3) including its slip of
            testing "fused window equals second source window" against the already rescaled fused
            window; ``"full"`` tests the raw windows for both sources.
        window: odd window side (the published evaluation used 3).
        constant_windows: the value of a term whose source and fused windows are both constant but
            different - ``"roundoff"`` (1.0, what the code returns when sums run left to right, as in
            Octave; the default for ``reference``) or ``"zero"`` (0.0, the code's value in exact
            arithmetic, where the covariance of two uniform distributions is 0; the default for ``full``).

    Returns:
        A float in [0, 1]; 1 when ``fused == a == b``.
    """
    reference = check_protocol(protocol) == "reference"
    if constant_windows is None:
        constant_windows = "roundoff" if reference else "zero"
    if constant_windows not in ("roundoff", "zero"):
        raise ValueError(f"constant_windows must be 'roundoff' or 'zero', got {constant_windows!r}")
    if not isinstance(window, int) or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window!r}")
    qa, qb, qf = triplet(a, b, fused, "8bit", min_side=max(MIN_SIDE, window))
    term_a, equal_a = _source_terms(qa, qf, window, constant_windows)
    equal_b = None
    if reference:
        # fmi.m overwrites its fused window by the rescaled one (constant -> ones) unless the first
        # source's equality shortcut fired, and the second source is compared with that.
        sf = _shifted(qf, window)
        f_lo, f_span = sf.min(axis=0), np.ptp(sf, axis=0)
        rescaled = np.divide(sf - f_lo, f_span, out=np.ones_like(sf), where=f_span != 0)
        equal_b = (_shifted(qb, window) == np.where(equal_a, sf, rescaled)).all(axis=0)
    term_b, _ = _source_terms(qb, qf, window, constant_windows, equal_b)
    return float(((term_a + term_b) / 2.0).mean())
