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
import torch

from ._checks import MIN_SIDE, check_protocol, triplet

__all__ = ["q_fmi"]


_LN2 = float(np.log(2.0))
_CHUNK = 2048


def _windows(img: np.ndarray, w: int) -> torch.Tensor:
    """All valid w x w windows as rows of w*w values in MATLAB's column-major order."""
    v = torch.from_numpy(img).unfold(0, w, 1).unfold(1, w, 1)  # (rows, cols, dr, dc)
    return v.transpose(2, 3).reshape(-1, w * w)


def _span(win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window minimum and range (max - min)."""
    lo = win.amin(dim=1, keepdim=True)
    return lo, win.amax(dim=1, keepdim=True) - lo


def _pdf(win: torch.Tensor, lo: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
    """fmi.m's distribution of non-constant windows: min-max to [0, 1], divided by the sum."""
    x = (win - lo) / span
    return x / x.sum(dim=1, keepdim=True)


def _neg_xlog2x(x: torch.Tensor) -> torch.Tensor:
    """-x log2|x| with 0 at 0 (MATLAB's real(-x*log2(x)) also for the negative masses phi > 1 makes)."""
    return -x * torch.log2(x.abs().clamp_(min=1e-300))


def _merge(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort the concatenated non-negative rows; return sorted values and "came from ``first``" flags.

    The origin travels in the lowest mantissa bit of the float64 sort key (0 = first, so ties put
    ``first`` first); values come back with that bit cleared, i.e. within one ulp.
    """
    keys = torch.cat([first, second], dim=1).clamp_(min=0.0).numpy().view(np.int64)
    keys &= ~np.int64(1)
    keys[:, first.shape[1] :] |= 1
    keys.sort(axis=1)
    from_first = torch.from_numpy((keys & 1) == 0)
    keys &= ~np.int64(1)
    return torch.from_numpy(keys.view(np.float64)), from_first


def _nfmi_terms(p: torch.Tensor, q: torch.Tensor, h_p: torch.Tensor, h_q: torch.Tensor) -> torch.Tensor:
    """Normalised MI 2 I / (H_p + H_q) of the Nelsen joint of each row pair (p source, q fused)."""
    n = p.shape[1]
    # Pearson correlation of the two probability vectors.
    tp = p - p.mean(dim=1, keepdim=True)
    tq = q - q.mean(dim=1, keepdim=True)
    num = (tp * tq).sum(dim=1)
    den = ((tp * tp).sum(dim=1) * (tq * tq).sum(dim=1)).sqrt()
    c = num / den.clamp(min=1e-300) * (num != 0)
    # Population standard deviations of the bin index 1..n under p and q.
    idx = torch.arange(1, n + 1, dtype=p.dtype)
    sds = (p @ (idx * idx) - (p @ idx) ** 2).clamp_(min=0.0).sqrt_() * (
        q @ (idx * idx) - (q @ idx) ** 2
    ).clamp_(min=0.0).sqrt_()

    cdf_q = torch.cumsum(q, dim=1)  # "F" (fused)
    cdf_p = torch.cumsum(p, dim=1)  # "A" (source)
    up = (c >= 0)[:, None]
    # Merge the breakpoints of the two cumulative sums; for the lower bound the source's run backwards.
    s, from_q = _merge(cdf_q, torch.where(up, cdf_p, 1.0 - cdf_p))
    d = torch.diff(s, dim=1, prepend=torch.zeros_like(s[:, :1]))  # length of (s[k-1], s[k]]
    n_q = torch.cumsum(from_q, dim=1) - from_q.long()  # q-breakpoints before position k
    n_o = torch.arange(2 * n) - n_q  # other breakpoints before position k
    jj = torch.where(up, n_o, n - n_o)  # source bin of the interval; n - n_q counts F_i > t
    # sum_ij U(F_i, A_j) = integral of #{F_i > t} * #{A_j > t} (upper) or #{A_j > 1 - t} (lower) dt,
    # and #{A_j > t} = n - n_o = n - jj, #{A_j > 1 - t} = n_o = n - jj: one expression for both bounds.
    cov = (d * ((n - jj) * (n - n_q))).sum(dim=1) - cdf_q.sum(dim=1) * cdf_p.sum(dim=1)
    corr = cov / sds.clamp(min=1e-300)
    ok = (sds > 0) & (corr != 0) & (c != 0)
    phi = c / torch.where(ok, corr, 1.0) * ok

    # Cell (i, j) of each merged interval: i indexes q's bins, j the source's.
    on = (d > 0) & (n_q < n) & (jj >= 0) & (jj < n)
    qi = torch.gather(q, 1, n_q.clamp(max=n - 1))
    pj = torch.gather(p, 1, jj.clamp(0, n - 1))
    k = 1.0 - phi
    base = k[:, None] * qi * pj
    exact = phi[:, None] * d + base
    correction = ((_neg_xlog2x(exact) - _neg_xlog2x(base)) * on).sum(dim=1)
    # Entropy of the independent part k q_i p_j over all cells, in closed form.
    s_p, s_q = p.sum(dim=1), q.sum(dim=1)
    h_indep = _neg_xlog2x(k) * s_p * s_q + k * (s_p * h_q + s_q * h_p)
    mi = h_p + h_q - (h_indep + correction)
    h_sum = h_p + h_q
    return 2.0 * mi / h_sum.clamp(min=1e-300) * ((mi != 0) & (h_sum > 0))


def _source_terms(
    src: torch.Tensor,
    fus_cmp: torch.Tensor,
    fus: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    constant_windows: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window term for one source against the fused windows.

    ``fus_cmp`` is what the equality shortcut compares with; ``fus`` = (pdf, constant flags, entropy) of
    the fused windows. Also returns the equality flags.
    """
    q_all, fus_const, hq_all = fus
    term = torch.zeros(src.shape[0], dtype=torch.float64)
    equal = (src == fus_cmp).all(dim=1)
    term[equal] = 1.0
    lo, span = _span(src)
    src_const = span[:, 0] == 0
    # Two different constant windows: both distributions uniform, their covariance is 0 exactly and only
    # round-off decides; summed left to right (Octave) the term is ~1, exactly it is 0.
    if constant_windows == "roundoff":
        term[~equal & src_const & fus_const] = 1.0
    # One constant window against a varying one: correlation 0 (up to ~1e-16 round-off), term 0.
    todo = ~equal & ~src_const & ~fus_const
    if bool(todo.any()):
        p = _pdf(src[todo], lo[todo], span[todo])
        h_p = _neg_xlog2x(p.clone()).sum(dim=1)
        q, h_q = q_all[todo], hq_all[todo]
        # Chunks small enough for the temporaries to stay in cache (about 2x faster than one pass).
        term[todo] = torch.cat(
            [
                _nfmi_terms(p[i : i + _CHUNK], q[i : i + _CHUNK], h_p[i : i + _CHUNK], h_q[i : i + _CHUNK])
                for i in range(0, len(p), _CHUNK)
            ]
        )
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
    wa, wb, wf = _windows(qa, window), _windows(qb, window), _windows(qf, window)
    lo, span = _span(wf)
    fus_const = span[:, 0] == 0
    # Constant fused windows become all ones in fmi.m; their pdf is never used (no "todo" row).
    q = _pdf(wf, lo, torch.where(fus_const[:, None], 1.0, span))
    fused_info = (q, fus_const, _neg_xlog2x(q.clone()).sum(dim=1))
    term_a, equal_a = _source_terms(wa, wf, fused_info, constant_windows)
    if reference:
        # fmi.m overwrites its fused window by the rescaled one (constant -> ones) unless the first
        # source's equality shortcut fired, and the second source is compared with that.
        rescaled = torch.where(fus_const[:, None], 1.0, (wf - lo) / torch.where(fus_const[:, None], 1.0, span))
        wf_cmp = torch.where(equal_a[:, None], wf, rescaled)
    else:
        wf_cmp = wf
    term_b, _ = _source_terms(wb, wf_cmp, fused_info, constant_windows)
    return float(((term_a + term_b) / 2.0).mean())
